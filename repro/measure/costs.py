"""Cost cells: the parameters and FLOPs a paper prints for its own models, measured.

`papers/<id>/costs.yaml` (see papers/SCHEMA.md) declares probes, each a registered model built with
keyword arguments and run on an input shape, and a formula per cost cell over the probes, such as
`16 * flops(r2plus1d_50_l16) + flops(fast_gru_n16_l16)`. A derived cell (a total over clips, a
schedule) is therefore computed from measured parts, never typed in. The same file lists costs the
paper does not print (its modules' own size) so the report can show them.

Each probe is counted twice: fvcore on a real CPU forward (the primary counter, with the handles of
`repro.measure.flops`) and ptflops' aten backend on meta tensors (the second opinion; meta tensors carry
shapes only, so it costs almost nothing). Probes are cached by model, arguments, input and call.
"""
from __future__ import annotations

import ast
import hashlib
import inspect
import json
import math
import re
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable

import torch
from torch import nn

from .. import models
from ..errors import DataError
from .flops import count as fvcore_count
from .flops import count_params
from ..audit.papers import Cell, Paper
from ..audit.verdicts import CITATION
from ..yamlsrc import LocDict, LocList, load_yaml

UNIT_SCALE = {"%": 0.01, "M": 1e6, "K": 1e3, "G": 1e9, "GFLOPs": 1e9, "MFLOPs": 1e6, "GMACs": 1e9, "MMACs": 1e6}
# A paper's "FLOP": macs counts a multiply-add once (what fvcore and ptflops report), flops twice.
# "unknown" compares MACs and the report says the convention is unknown.
CONVENTION_FACTOR = {"macs": 1.0, "flops": 2.0, "unknown": 1.0}
DISAGREEMENT = 0.01  # the report flags counters that differ by more than this, relatively
CALLS = ("forward", "features")
FUNCTIONS = ("params", "macs", "flops", "thop")


@dataclass(frozen=True)
class Probe:
    """A registered model, built with `args`, run on `inputs` (one shape per tensor) through `call`."""

    name: str
    model: str
    args: tuple[tuple[str, Any], ...]
    inputs: tuple[tuple[int, ...], ...]
    call: str = "forward"
    source: str = ""

    @property
    def cache_key(self) -> tuple:
        return (self.model, self.args, self.inputs, self.call)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args)
        shapes = ", ".join("x".join(map(str, s)) for s in self.inputs)
        method = "" if self.call == "forward" else f".{self.call}"
        return f"{self.model}({args}){method} on {shapes}"


@dataclass(frozen=True)
class Formula:
    """Arithmetic over `params(probe)`, `macs(probe)`, `flops(probe)` and `thop(probe)`, in raw units.

    `thop` is the replica of Efficient-3DCNNs' counter (repro.measure.thop_replica), used to explain printed
    numbers, never as the measured cost of a cell."""

    text: str
    tree: ast.Expression
    probes: tuple[str, ...]

    def evaluate(self, lookup: Callable[[str, str], float]) -> float:
        return _evaluate(self.tree.body, lookup)

    def counts_macs(self, probe: str) -> bool:
        """Whether the formula reads `probe`'s MACs (macs() or flops()), not only its parameters."""
        return self._uses(probe, ("macs", "flops"))

    def uses_thop(self, probe: str) -> bool:
        return self._uses(probe, ("thop",))

    def _uses(self, probe: str, functions: tuple[str, ...]) -> bool:
        return any(isinstance(n, ast.Call) and n.func.id in functions and n.args[0].id == probe
                   for n in ast.walk(self.tree))


ALTERNATIVE_KINDS = ("convention", "configuration")


@dataclass(frozen=True)
class Alternative:
    """What else a cell's number may be: the same model counted the way the paper's source counts
    (kind "convention", e.g. a model zoo's own FLOP counter), or another configuration of it (kind
    "configuration", e.g. 400 classes where the paper says 600). Its formula may use thop()."""

    kind: str
    label: str
    formula: Formula


@dataclass(frozen=True)
class CostCell:
    cell: Cell
    formula: Formula
    explain: str | None  # what is known when the cell does not reproduce
    source: str
    alternative: Alternative | None = None


@dataclass(frozen=True)
class ExtraCost:
    """A cost the paper does not print, measured so the report can show it."""

    id: str
    label: str
    unit: str
    formula: Formula
    note: str | None
    source: str


@dataclass
class CostSpec:
    paper: Paper
    probes: dict[str, Probe]
    cells: list[CostCell]
    extras: list[ExtraCost]
    not_built: dict[tuple[str, str, str], str] = field(default_factory=dict)  # cell -> why its model is not built


# --- loading -------------------------------------------------------------------------------------


def costs_path(paper: Paper) -> Path:
    return paper.root / "costs.yaml"


def load_costs(paper: Paper) -> CostSpec | None:
    """The paper's cost declarations, validated; None when it declares none."""
    path = costs_path(paper)
    if not path.is_file():
        return None
    top = load_yaml(path)
    if not isinstance(top, LocDict):
        raise DataError(path, 1, "costs.yaml", "a mapping with probes, cells and extras")
    probes = {name: _probe(path, name, node, top["probes"].line_of(name))
              for name, node in _mapping(path, top, "probes").items()}
    spec = CostSpec(paper, probes, [], [])
    for index, node in enumerate(_list(path, top, "cells")):
        where = f"cells[{index}]"
        node = _require_mapping(path, node, top["cells"].line_of(index), where)
        ref = _text(path, node, "cell", where)
        try:
            cell = paper.cell(*_split_ref(path, node, ref, where))
        except KeyError as exc:
            raise DataError(path, node.line_of("cell"), f"{where}.cell", f"a declared cell: {exc.args[0]}") from None
        if cell.kind not in ("params", "flops"):
            raise DataError(path, node.line_of("cell"), f"{where}.cell",
                            f"a params or flops cell, got kind {cell.kind}")
        _unit_scale(path, node.line_of("cell"), f"{where}.cell", cell.unit)
        if any(c.cell.key == cell.key for c in spec.cells):
            raise DataError(path, node.line_of("cell"), f"{where}.cell", f"one entry per cell; {ref} is declared twice")
        formula = _formula(path, node, "value", where, probes)
        if any(formula.uses_thop(name) for name in formula.probes):
            raise DataError(path, node.line_of("value"), f"{where}.value",
                            "params(), macs() or flops(): thop() explains a printed number in an extra, "
                            "it is never a cell's measured value")
        spec.cells.append(CostCell(cell, formula, _text(path, node, "explain", where, required=False),
                                   f"{path}:{node.line}", _alternative(path, node, where, probes)))
    for index, node in enumerate(_list(path, top, "not_built")):
        where = f"not_built[{index}]"
        node = _require_mapping(path, node, top["not_built"].line_of(index), where)
        reason = _text(path, node, "reason", where)
        cells = node.get("cells")
        if not isinstance(cells, LocList) or not cells:
            raise DataError(path, node.line_of("cells") if "cells" in node else node.line, f"{where}.cells",
                            "a list of cells as {table|row|column}")
        for c_index, ref in enumerate(cells):
            try:
                cell = paper.cell(*_split_ref(path, node, str(ref), where))
            except KeyError as exc:
                raise DataError(path, cells.line_of(c_index), f"{where}.cells[{c_index}]",
                                f"a declared cell: {exc.args[0]}") from None
            if cell.kind not in ("params", "flops") or cell.absent or any(c.cell.key == cell.key for c in spec.cells):
                raise DataError(path, cells.line_of(c_index), f"{where}.cells[{c_index}]",
                                "a params or flops cell with a printed value and no entry under cells")
            spec.not_built[cell.key] = reason
    for index, node in enumerate(_list(path, top, "extras")):
        where = f"extras[{index}]"
        node = _require_mapping(path, node, top["extras"].line_of(index), where)
        unit = _text(path, node, "unit", where)
        _unit_scale(path, node.line_of("unit"), f"{where}.unit", unit)
        extra_id = _text(path, node, "id", where)
        if not re.fullmatch(r"[a-z0-9_]+", extra_id) or any(e.id == extra_id for e in spec.extras):
            raise DataError(path, node.line_of("id"), f"{where}.id",
                            f"a unique slug of a-z, 0-9 and _; got {extra_id!r}")
        spec.extras.append(ExtraCost(extra_id, _text(path, node, "label", where), unit,
                                     _formula(path, node, "value", where, probes),
                                     _text(path, node, "note", where, required=False), f"{path}:{node.line}"))
    return spec


def _alternative(path: Path, node: LocDict, where: str, probes: dict[str, Probe]) -> Alternative | None:
    """`alternative: {kind, label, value}`: what else the cell's number may be (see Alternative)."""
    if node.get("alternative") is None:
        return None
    name = f"{where}.alternative"
    found = _require_mapping(path, node["alternative"], node.line_of("alternative"), name)
    unknown = set(found) - {"kind", "label", "value"}
    if unknown:
        raise DataError(path, found.line, name, f"kind, label and value only, got {sorted(unknown)}")
    kind = _text(path, found, "kind", name)
    if kind not in ALTERNATIVE_KINDS:
        raise DataError(path, found.line_of("kind"), f"{name}.kind",
                        f"one of {', '.join(ALTERNATIVE_KINDS)}, got {kind!r}")
    return Alternative(kind, _text(path, found, "label", name), _formula(path, found, "value", name, probes))


def _mapping(path: Path, top: LocDict, key: str) -> LocDict:
    node = top.get(key)
    if not isinstance(node, LocDict):
        raise DataError(path, top.line_of(key) if key in top else 1, key, "a mapping of name: {model, input, ...}")
    return node


def _list(path: Path, top: LocDict, key: str) -> LocList:
    node = top.get(key, LocList())
    if node is None:
        return LocList()
    if not isinstance(node, LocList):
        raise DataError(path, top.line_of(key), key, "a list of entries")
    return node


def _require_mapping(path: Path, node: Any, line: int, where: str) -> LocDict:
    if not isinstance(node, LocDict):
        raise DataError(path, line, where, "a mapping")
    return node


def _text(path: Path, node: LocDict, key: str, where: str, required: bool = True) -> str | None:
    value = node.get(key)
    if value is None or isinstance(value, (LocDict, LocList)):
        if required or value is not None:
            raise DataError(path, node.line_of(key) if key in node else node.line, f"{where}.{key}", "a text value")
        return None
    return str(value).strip()


def _split_ref(path: Path, node: LocDict, ref: str, where: str) -> tuple[str, str, str]:
    parts = ref.strip().removeprefix("{").removesuffix("}").split("|")
    if len(parts) != 3:
        raise DataError(path, node.line_of("cell"), f"{where}.cell", f"a reference {{table|row|column}}, got {ref!r}")
    return tuple(p.strip() for p in parts)  # type: ignore[return-value]


def _unit_scale(path: Path, line: int, where: str, unit: str) -> float:
    if unit not in UNIT_SCALE:
        raise DataError(path, line, where, f"a cost unit, one of {', '.join(UNIT_SCALE)}; got {unit!r}")
    return UNIT_SCALE[unit]


PROBE_INPUT_BYTES = 2 * 2**30
MIN_SIDE = 32


def _probe(path: Path, name: str, node: Any, line: int) -> Probe:
    where = f"probes.{name}"
    node = _require_mapping(path, node, line, where)
    unknown = set(node) - {"model", "args", "input", "call", "note"}
    if unknown:
        raise DataError(path, line, where, f"keys model, args, input, call, note; unknown {sorted(unknown)}")
    model = _text(path, node, "model", where)
    try:
        models.builder(model)
    except KeyError as exc:
        raise DataError(path, node.line_of("model"), f"{where}.model", f"a registered model: {exc.args[0]}") from None
    args = node.get("args") or {}
    if not isinstance(args, dict):
        raise DataError(path, node.line_of("args"), f"{where}.args", "a mapping of builder keyword arguments")
    allowed = inspect.signature(models.builder(model)).parameters
    for key in args:
        if key not in allowed:
            raise DataError(path, node.line_of("args"), f"{where}.args",
                            f"keyword arguments of {model} ({', '.join(allowed)}); got {key!r}")
    shapes = node.get("input")
    if isinstance(shapes, list) and shapes and all(isinstance(s, int) for s in shapes):
        shapes = [shapes]
    if not (isinstance(shapes, list) and shapes
            and all(isinstance(s, list) and s and all(isinstance(d, int) and d > 0 for d in s) for s in shapes)):
        raise DataError(path, node.line_of("input") if "input" in node else line, f"{where}.input",
                        "an input shape like [1, 3, 16, 224, 224], or a list of shapes for several inputs")
    for shape in shapes:  # (N, C, T, H, W) clips and (N, C, H, W) images
        if (len(shape) == 5 or (len(shape) == 4 and shape[1] in (1, 2, 3))) and min(shape[-2:]) < MIN_SIDE:
            raise DataError(path, node.line_of("input"), f"{where}.input",
                            f"frames of at least {MIN_SIDE}x{MIN_SIDE} pixels (no paper here counts costs on "
                            f"smaller ones), got {'x'.join(map(str, shape))}")
    needed = sum(4 * math.prod(s) for s in shapes)  # float32 inputs, allocated before the model runs
    if needed > PROBE_INPUT_BYTES:
        raise DataError(path, node.line_of("input"), f"{where}.input",
                        f"inputs within {PROBE_INPUT_BYTES / 2**30:g} GiB (batch 1 is all a count needs); "
                        f"{' + '.join('x'.join(map(str, s)) for s in shapes)} needs {needed / 2**30:.1f} GiB")
    call = str(node.get("call", "forward"))
    if call not in CALLS:
        raise DataError(path, node.line_of("call"), f"{where}.call", f"one of {', '.join(CALLS)}, got {call!r}")
    return Probe(name, model, tuple(sorted((str(k), _plain(v)) for k, v in args.items())),
                 tuple(tuple(s) for s in shapes), call, f"{path}:{line}")


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _tuple(value: Any) -> Any:
    """JSON lists back to the nested tuples of a cache key."""
    return tuple(_tuple(v) for v in value) if isinstance(value, list) else value


def _formula(path: Path, node: LocDict, key: str, where: str, probes: dict[str, Probe],
             functions: tuple[str, ...] = FUNCTIONS) -> Formula:
    """`functions` are the calls allowed over probes; runtime.yaml's formulas allow time() only."""
    text = _text(path, node, key, where)
    line = node.line_of(key)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise DataError(path, line, f"{where}.{key}", f"an arithmetic formula ({exc.msg})") from None
    used: list[str] = []

    def fail(expected: str) -> DataError:
        return DataError(path, line, f"{where}.{key}", f"{expected}, in {text!r}")

    def visit(sub: ast.AST) -> None:
        """Only what `_evaluate` computes: numbers, + - * / (and unary minus), probe calls."""
        if isinstance(sub, ast.Constant):
            if isinstance(sub.value, bool) or not isinstance(sub.value, (int, float)):
                raise fail("numbers, + - * / and probe calls only")
        elif isinstance(sub, ast.UnaryOp) and isinstance(sub.op, ast.USub):
            visit(sub.operand)
        elif isinstance(sub, ast.BinOp) and type(sub.op) in _BINARY:
            visit(sub.left)
            visit(sub.right)
        elif isinstance(sub, ast.Call):
            if not (isinstance(sub.func, ast.Name) and sub.func.id in functions and len(sub.args) == 1
                    and isinstance(sub.args[0], ast.Name) and not sub.keywords):
                raise fail(f"calls like {', '.join(f + '(probe)' for f in functions)} only")
            if sub.args[0].id not in probes:
                raise fail(f"a declared probe; {sub.args[0].id!r} is not one of {', '.join(sorted(probes))}")
            used.append(sub.args[0].id)
        else:
            raise fail("numbers, + - * / and probe calls only")

    visit(tree.body)
    if not used:
        raise fail("a formula that uses at least one probe")
    return Formula(text, tree, tuple(dict.fromkeys(used)))


_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b}


def _evaluate(node: ast.AST, lookup: Callable[[str, str], float]) -> float:
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, lookup)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return _BINARY[type(node.op)](_evaluate(node.left, lookup), _evaluate(node.right, lookup))
    if isinstance(node, ast.Call):
        return lookup(node.func.id, node.args[0].id)
    raise ValueError(f"unsupported formula node {ast.dump(node)}")


# --- measuring -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    macs: float
    params: int
    second_opinion: float | None  # ptflops (aten backend) MACs; None when it could not run
    unsupported: dict[str, int] = field(default_factory=dict)
    other_ops: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    note: str | None = None
    thop: float | None = None  # Efficient-3DCNNs' counter, replicated; only when a formula asks


class _Call(nn.Module):
    """Runs `model.features` (or another one-tensor method) as forward, so the counters see that call."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model, self.method = model, method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self.model, self.method)(x)


def _build(probe: Probe, device: str) -> nn.Module:
    """Build the probe's model; "zeros" builds on meta and allocates zeroed CPU storage, skipping the
    weight initialisation, which costs as much as a forward pass for the larger backbones."""
    with torch.device("meta" if device == "zeros" else device):
        model = models.build(probe.model, **dict(probe.args))
    if device == "zeros":
        model = model.to_empty(device="cpu")
        with torch.no_grad():
            for tensor in (*model.parameters(), *model.buffers()):
                tensor.zero_()
    model = model.eval()
    return model if probe.call == "forward" else _Call(model, probe.call)


def _ptflops_meta(probe: Probe) -> tuple[float | None, str | None]:
    """ptflops' aten backend on a meta-device copy: shapes only, no arithmetic."""
    from ptflops import get_model_complexity_info

    try:
        model = _build(probe, "meta")
        names = list(inspect.signature(model.forward).parameters)

        def construct(_: tuple) -> dict[str, torch.Tensor]:
            return {name: torch.zeros(shape, device="meta") for name, shape in zip(names, probe.inputs, strict=False)}

        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            macs, _ = get_model_complexity_info(model, tuple(probe.inputs[0][1:]), input_constructor=construct,
                                                as_strings=False, backend="aten",
                                                print_per_layer_stat=False, verbose=False)
        return (None if macs is None else float(macs)), None
    except Exception as exc:  # a second opinion must never stop the primary count
        return None, f"ptflops (aten, meta) failed: {type(exc).__name__}: {str(exc)[:160]}"


def code_fingerprint() -> str:
    """A hash of everything a count depends on: the model code, the counters and library versions."""
    import baselines
    import papers

    digest = hashlib.sha1()
    roots = [Path(baselines.__file__).parent, Path(papers.__file__).parent]
    files = sorted(f for root in roots for f in root.rglob("*.py"))
    files += [Path(__file__).parent / name for name in ("flops.py", "costs.py", "thop_replica.py")]
    for path in files:
        digest.update(path.read_bytes())
    for name in ("torch", "fvcore", "ptflops"):
        digest.update(f"{name}={metadata.version(name)}".encode())
    return digest.hexdigest()[:16]


class Meter:
    """Counts probes, once per (model, arguments, input, call). A probe whose MACs no formula uses is
    only built, to count its parameters.

    With `cache_dir`, results persist in `costs-<fingerprint>.json` there, written after every probe, so
    a later process (or an interrupted run, resumed) reuses them until the model code or a counter changes.
    """

    def __init__(self, second_opinion: bool = True, cache_dir: Path | None = None):
        self.second_opinion = second_opinion
        self._cache: dict[tuple, ProbeResult] = {}
        self._file = Path(cache_dir) / f"costs-{code_fingerprint()}.json" if cache_dir else None
        if self._file is not None:
            from ..atomic import remove_stale_temps

            remove_stale_temps(self._file.parent)  # the half-written cache of a killed count
        if self._file is not None and self._file.is_file():
            try:
                for entry in json.loads(self._file.read_text()):
                    self._cache[_tuple(entry["key"])] = ProbeResult(**entry["result"])
            except (ValueError, KeyError, TypeError):
                self._cache.clear()  # a damaged cache is only a cache: count again

    def _save(self) -> None:
        if self._file is None:
            return
        from ..atomic import write_text_atomic

        entries = [{"key": list(k), "result": asdict(r)} for k, r in self._cache.items()]
        write_text_atomic(self._file, json.dumps(entries))

    def measure(self, probe: Probe, macs: bool = True, thop: bool = False) -> ProbeResult:
        key, result = self._measure(probe, macs)
        if thop and result.thop is None:
            from dataclasses import replace

            from .thop_replica import count as thop_count

            inputs = tuple(torch.zeros(s) for s in probe.inputs)
            try:
                counted = thop_count(_build(probe, "zeros"), inputs)
            except (RuntimeError, NotImplementedError):
                counted = thop_count(_build(probe, "cpu"), inputs)
            result = self._cache[key] = replace(result, thop=counted)
            self._save()
        return result

    def _measure(self, probe: Probe, macs: bool) -> tuple[tuple, ProbeResult]:
        """The cache key the result lives under, and the result; a full count serves a params-only ask."""
        full_key = (*probe.cache_key, True, self.second_opinion)
        if full_key in self._cache:
            return full_key, self._cache[full_key]
        key = (*probe.cache_key, macs, self.second_opinion)
        if key not in self._cache:
            start = time.perf_counter()
            if not macs:
                model = _build(probe, "meta")
                self._cache[key] = ProbeResult(float("nan"), count_params(model), None,
                                               seconds=time.perf_counter() - start, note="parameters only")
                self._save()
                return key, self._cache[key]
            try:
                model = _build(probe, "zeros")
                counted = fvcore_count(model, tuple(torch.zeros(s) for s in probe.inputs), second_opinion=False)
            except (RuntimeError, NotImplementedError):  # a module that keeps tensors outside its state
                torch.manual_seed(0)
                model = _build(probe, "cpu")
                try:
                    counted = fvcore_count(model, tuple(torch.zeros(s) for s in probe.inputs), second_opinion=False)
                except (RuntimeError, ValueError, TypeError) as exc:
                    path, _, line = probe.source.rpartition(":")
                    raise DataError(path, int(line), f"{probe.name}.input", f"an input {probe.model} can run on; "
                                    f"it fails with {type(exc).__name__}: {str(exc).splitlines()[0][:200]}") from None
            second, note = _ptflops_meta(probe) if self.second_opinion else (None, None)
            self._cache[key] = ProbeResult(counted.macs, counted.params, second, counted.unsupported,
                                           counted.other_ops, time.perf_counter() - start, note)
            self._save()
        return key, self._cache[key]


# --- evaluating cells ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CostValue:
    """A formula's value in the cell's unit, by the primary counter and by the second opinion, and for a cell
    that declares an alternative (costs.yaml), the alternative's value."""

    value: float
    second_opinion: float | None
    alternative: float | None = None

    @property
    def disagreement(self) -> float | None:
        if self.second_opinion is None or not self.value:
            return None
        return (self.second_opinion - self.value) / self.value

    @property
    def counters_disagree(self) -> bool:
        return self.disagreement is not None and abs(self.disagreement) > DISAGREEMENT


def value_of(formula: Formula, unit: str, results: dict[str, ProbeResult], convention: str) -> CostValue:
    factor = CONVENTION_FACTOR[convention]
    scale = UNIT_SCALE[unit]

    def primary(function: str, probe: str) -> float:
        result = results[probe]
        return {"params": float(result.params), "macs": result.macs, "flops": factor * result.macs,
                "thop": result.thop}[function]

    def second(function: str, probe: str) -> float:
        result = results[probe]
        if function in ("params", "thop"):
            return float(result.params) if function == "params" else result.thop
        if result.second_opinion is None:
            raise LookupError(probe)
        return result.second_opinion * (factor if function == "flops" else 1.0)

    try:
        other = formula.evaluate(second) / scale
    except LookupError:
        other = None
    return CostValue(formula.evaluate(primary) / scale, other)


@dataclass
class PaperCosts:
    spec: CostSpec
    probes: dict[str, ProbeResult]
    cells: dict[tuple[str, str, str], CostValue]
    extras: dict[str, CostValue]


def measure_paper(spec: CostSpec, meter: Meter, progress: Callable[[Probe], None] | None = None) -> PaperCosts:
    results: dict[str, ProbeResult] = {}
    formulas = [c.formula for c in spec.cells] + [e.formula for e in spec.extras] \
        + [c.alternative.formula for c in spec.cells if c.alternative]
    for probe in spec.probes.values():
        if progress:
            progress(probe)
        results[probe.name] = meter.measure(probe, macs=any(f.counts_macs(probe.name) for f in formulas),
                                            thop=any(f.uses_thop(probe.name) for f in formulas))
    convention = spec.paper.flops_convention
    cells = {}
    for c in spec.cells:
        value = value_of(c.formula, c.cell.unit, results, convention)
        if c.alternative is not None:
            value = replace(value, alternative=value_of(c.alternative.formula, c.cell.unit, results, convention).value)
        cells[c.cell.key] = value
    extras = {e.id: value_of(e.formula, e.unit, results, convention) for e in spec.extras}
    return PaperCosts(spec, results, cells, extras)


def specs(papers: Iterable[Paper]) -> list[CostSpec]:
    return [spec for spec in (load_costs(p) for p in papers) if spec is not None]


def rows(costs: PaperCosts) -> list[dict[str, Any]]:
    """One JSON-ready row per cost cell: published, measured, both counters, delta and verdict."""
    from ..audit.verdicts import Measurement, judge

    out = []
    for entry in costs.spec.cells:
        cell, value = entry.cell, costs.cells[entry.cell.key]
        verdict = judge(cell, Measurement(value.value, second_opinion=value.second_opinion,
                                          alternative=value.alternative), alternative=entry.alternative)
        out.append({
            "paper": cell.paper, "table": cell.table, "row": cell.row, "column": cell.column, "unit": cell.unit,
            "published": cell.value, "printed": cell.printed, "measured": value.value,
            "second_opinion": value.second_opinion, "counters_disagree": value.counters_disagree,
            "delta": verdict.delta, "relative": verdict.relative, "verdict": verdict.status,
            "formula": entry.formula.text, "explain": entry.explain,
            "cited": bool(CITATION.search(cell.row)), "alternative_value": value.alternative,
            "alternative": None if entry.alternative is None else {"kind": entry.alternative.kind,
                                                                   "label": entry.alternative.label},
            "convention": costs.spec.paper.flops_convention,
        })
    return out


def not_built_rows(costs: PaperCosts) -> list[dict[str, Any]]:
    """The cost cells whose model is not built, with the reason."""
    paper = costs.spec.paper
    return [{"paper": paper.id, "table": key[0], "row": key[1], "column": key[2], "printed": paper.cell(*key).printed,
             "unit": paper.cell(*key).unit, "cited": bool(CITATION.search(key[1])), "verdict": "not measured",
             "reason": reason} for key, reason in costs.spec.not_built.items()]


def extra_rows(costs: PaperCosts) -> list[dict[str, Any]]:
    return [{"paper": costs.spec.paper.id, "id": e.id, "label": e.label, "unit": e.unit,
             "measured": costs.extras[e.id].value, "second_opinion": costs.extras[e.id].second_opinion,
             "formula": e.formula.text, "note": e.note} for e in costs.spec.extras]


def probe_rows(costs: PaperCosts) -> list[dict[str, Any]]:
    return [{"probe": name, "measures": costs.spec.probes[name].describe(), "macs": r.macs, "params": r.params,
             "ptflops_macs": r.second_opinion, "unsupported_ops": r.unsupported, "seconds": round(r.seconds, 3),
             "note": r.note} for name, r in costs.probes.items()]


def log(costs: PaperCosts, uri: str | None = None, command: str | None = None) -> str:
    """One MLflow run (kind "costs") with every cell, the second counter's values and the extras."""
    from ..store.tracking import log_measurements

    cells = costs.cells
    return log_measurements(
        costs.spec.paper, {k: v.value for k, v in cells.items()}, kind="costs", command=command,
        second_opinions={k: v.second_opinion for k, v in cells.items() if v.second_opinion is not None},
        alternatives={k: v.alternative for k, v in cells.items() if v.alternative is not None},
        extras={k: v.value for k, v in costs.extras.items()},
        details={"counters": {"primary": "fvcore (CPU forward, repro.measure.flops handles)",
                              "second_opinion": "ptflops 'aten' backend on meta tensors"},
                 "probes": probe_rows(costs), "cells": rows(costs), "extras": extra_rows(costs)},
        uri=uri)
