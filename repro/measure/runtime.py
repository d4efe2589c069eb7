"""What is benchmarked, at which size, and the papers' runtime claims as ratios of measured latencies.

`papers/<id>/runtime.yaml` (papers/SCHEMA.md) names the probes benchmarked as the paper's models, at
the paper's input size (probes of costs.yaml, or more in the same format), and its runtime checks: a
formula over `time(probe)`, the median batch-1 latency of a probe, that gives a ratio or a share. The
same formula over the probes' MACs gives the FLOP ratio it is set beside, and the paper's own value (an
expression over its table cells, or the number its text states) the published one. Every comparison is
between quantities measured in one run on one device, so no absolute second crosses machines.

A registered model that no paper benchmarks is benchmarked at the `reference_input` registered with it
(repro.models.register); `uncovered_models` lists any model that has neither.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import models
from .costs import Formula, Probe, _formula, _probe, load_costs
from ..errors import DataError, ExpressionError
from ..audit.expr import Expression, parse
from ..audit.papers import Paper, Tolerance, DataReader
from ..audit.verdicts import default_tolerances
from ..yamlsrc import LocDict, LocList, load_yaml

UNITS = ("x", "%")  # the formula is written in the unit: a "%" check multiplies by 100 itself
TARGETS = ("flops", "paper")
COMPARE_OPS = ("approx", "le", "ge")
HOLDS, FAILS, NOT_MEASURED = "holds", "does not hold", "not measured"
FULL, BATCH1 = ("1", "fill"), ("1",)


@dataclass(frozen=True)
class Comparison:
    """The measured time value against `to` (the same formula over MACs, or the paper's value)."""

    to: str
    op: str
    tolerance: Tolerance

    def describe(self) -> str:
        tol = self.tolerance
        slack = f"{tol.rel:.0%}" if tol.rel else f"{tol.abs:g}" if tol.abs else ""
        what = {"flops": "the FLOP ratio", "paper": "the paper's value"}[self.to]
        return {"approx": f"within {slack} of {what}", "le": f"at most {what}" + (f" + {slack}" if slack else ""),
                "ge": f"at least {what}" + (f" - {slack}" if slack else "")}[self.op]


@dataclass(frozen=True)
class RuntimeCheck:
    id: str
    label: str
    unit: str
    time: Formula
    paper: Expression | None
    paper_note: str | None
    claim: str | None
    compare: tuple[Comparison, ...]
    source: str


@dataclass
class RuntimeSpec:
    paper: Paper
    probes: dict[str, Probe]  # costs.yaml's and runtime.yaml's
    benchmarks: list[str]
    checks: list[RuntimeCheck]


def runtime_path(paper: Paper) -> Path:
    return paper.root / "runtime.yaml"


def load_runtime(paper: Paper) -> RuntimeSpec | None:
    """The paper's benchmarks and runtime checks, validated; None when it declares none."""
    path = runtime_path(paper)
    if not path.is_file():
        return None
    reader = DataReader(path)
    top = load_yaml(path)
    if not isinstance(top, LocDict):
        raise DataError(path, 1, "runtime.yaml", "a mapping with probes, benchmarks and checks")
    unknown = set(top) - {"probes", "benchmarks", "checks"}
    if unknown:
        raise DataError(path, top.line_of(sorted(unknown)[0]), sorted(unknown)[0],
                        "one of probes, benchmarks, checks")
    costs = load_costs(paper)
    probes = dict(costs.probes) if costs else {}
    own = top.get("probes") or LocDict()
    if not isinstance(own, LocDict):
        raise DataError(path, top.line_of("probes"), "probes", "a mapping of name: {model, input, ...}")
    for name, node in own.items():
        if name in probes:
            raise DataError(path, own.line_of(name), f"probes.{name}", "a new name: costs.yaml declares this probe")
        probes[name] = _probe(path, name, node, own.line_of(name))
    spec = RuntimeSpec(paper, probes, [], [])
    listed = top.get("benchmarks") or LocList()
    if not isinstance(listed, LocList):
        raise DataError(path, top.line_of("benchmarks"), "benchmarks", "a list of probe names")
    for index, name in enumerate(listed):
        if name not in probes or name in spec.benchmarks:
            raise DataError(path, listed.line_of(index), f"benchmarks[{index}]",
                            f"a probe of costs.yaml or runtime.yaml, listed once; got {name!r}")
        spec.benchmarks.append(name)
    checks = top.get("checks") or LocList()
    if not isinstance(checks, LocList):
        raise DataError(path, top.line_of("checks"), "checks", "a list of checks")
    for index, node in enumerate(checks):
        check = _check(reader, paper, probes, node, checks.line_of(index), f"checks[{index}]")
        if any(c.id == check.id for c in spec.checks):
            raise DataError(path, node.line_of("id"), f"checks[{index}].id", f"a unique id; {check.id!r} repeats")
        spec.checks.append(check)
    return spec


def _check(reader: DataReader, paper: Paper, probes: dict[str, Probe], node: object, line: int,
           where: str) -> RuntimeCheck:
    path = reader.path
    node = reader.mapping(node, line, where)
    unknown = set(node) - {"id", "label", "unit", "time", "paper", "paper_note", "claim", "compare"}
    if unknown:
        raise DataError(path, node.line, where,
                        f"keys id, label, unit, time, paper, paper_note, claim, compare; unknown {sorted(unknown)}")
    check_id = reader.text(node, "id", where)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", check_id):
        raise DataError(path, node.line_of("id"), f"{where}.id", f"a slug of a-z, 0-9, - and _; got {check_id!r}")
    unit = reader.choice(node, "unit", where, UNITS, "x")
    formula = _formula(path, node, "time", where, probes, functions=("time",))
    expression = None
    written = reader.text(node, "paper", where, required=False)
    if written is not None:
        try:
            expression = parse(written)
            for ref in expression.refs:
                if paper.cell(*ref).absent:
                    raise ExpressionError(f"{{{'|'.join(ref)}}} is printed as absent")
        except (ExpressionError, KeyError) as exc:
            raise DataError(path, node.line_of("paper"), f"{where}.paper",
                            f"a number or an expression over declared cells ({exc.args[0]})") from None
    claim = reader.text(node, "claim", where, required=False)
    if claim is not None and claim not in {c.id for c in paper.claims}:
        raise DataError(path, node.line_of("claim"), f"{where}.claim", f"a claim id of claims.yaml; got {claim!r}")
    compare = reader.seq(node.get("compare"), node.line_of("compare"), f"{where}.compare") \
        if "compare" in node else LocList()
    comparisons = []
    for index, item in enumerate(compare):
        name = f"{where}.compare[{index}]"
        item = reader.mapping(item, compare.line_of(index), name)
        to = reader.choice(item, "to", name, TARGETS, "")
        if to == "paper" and expression is None:
            raise DataError(path, item.line, f"{name}.to", "a `paper:` value to compare with")
        op = reader.choice(item, "op", name, COMPARE_OPS, "approx")
        comparisons.append(Comparison(to, op, reader.tolerance(item, name) or
                                      (default_tolerances()["ratio"] if op == "approx" else Tolerance())))
    return RuntimeCheck(check_id, reader.text(node, "label", where), unit, formula, expression,
                        reader.text(node, "paper_note", where, required=False), claim, tuple(comparisons),
                        f"{path}:{node.line}")


# --- what is benchmarked -------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchCase:
    """One probe to benchmark: `batches` ("1", "fill") for a model's benchmark, ("1",) for a probe that
    only a runtime check needs."""

    id: str  # "<paper>/<probe>", or the model's name for a registered reference input
    paper: str | None
    probe: Probe
    batches: tuple[str, ...]
    origin: str


def bench_cases(papers: Iterable[Paper]) -> list[BenchCase]:
    cases: list[BenchCase] = []
    for paper in papers:
        spec = load_runtime(paper)
        if spec is None:
            continue
        for name in spec.benchmarks:
            cases.append(BenchCase(f"{paper.id}/{name}", paper.id, spec.probes[name], FULL,
                                   f"papers/{paper.id}/runtime.yaml benchmarks"))
        needed = dict.fromkeys(p for check in spec.checks for p in check.time.probes)
        for name in needed:
            if name not in spec.benchmarks:
                cases.append(BenchCase(f"{paper.id}/{name}", paper.id, spec.probes[name], BATCH1,
                                       f"papers/{paper.id}/runtime.yaml checks"))
    covered = {c.probe.model for c in cases if c.batches == FULL}
    for name in models.available():
        shapes = models.reference_input(name)
        if name not in covered and shapes is not None:
            probe = Probe(name.split("/", 1)[1], name, (), shapes, "forward", "registered reference_input")
            cases.append(BenchCase(name, None, probe, FULL, "registered reference_input (no paper benchmarks it)"))
    return cases


def uncovered_models(cases: Iterable[BenchCase]) -> list[str]:
    """Registered models with no benchmark at batch 1 and at a full batch."""
    covered = {c.probe.model for c in cases if c.batches == FULL}
    return [name for name in models.available() if name not in covered]


# --- evaluating the checks -----------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    comparison: Comparison
    reference: float | None
    status: str


@dataclass(frozen=True)
class CheckResult:
    check: RuntimeCheck
    device: str
    measured: float | None  # the formula over batch-1 latencies
    flops: float | None  # the same formula over MACs
    paper: float | None
    paper_range: tuple[float, float] | None  # the interval the printed cells round from
    outcomes: tuple[Outcome, ...]
    missing: tuple[str, ...]  # probes without a measured latency
    timing: str = ""  # how the latencies were taken, e.g. "interleaved, 5 rounds"


def published(check: RuntimeCheck, paper: Paper) -> tuple[float, tuple[float, float]] | None:
    if check.paper is None:
        return None
    from ..audit.claims import published_lookup

    value = check.paper.evaluate(published_lookup(paper))
    return value.mid, (value.lo, value.hi)


def evaluate(check: RuntimeCheck, paper: Paper, latency: Mapping[str, float], macs: Mapping[str, float],
             device: str, timing: str = "") -> CheckResult:
    """The check on one device's batch-1 latencies and MACs, both keyed by probe name."""
    stated = published(check, paper)
    paper_value, paper_range = stated if stated else (None, None)
    missing = tuple(p for p in check.time.probes if p not in latency or p not in macs)
    if missing:
        return CheckResult(check, device, None, None, paper_value, paper_range,
                           tuple(Outcome(c, None, NOT_MEASURED) for c in check.compare), missing, timing)
    measured = check.time.evaluate(lambda _function, probe: latency[probe])
    flops = check.time.evaluate(lambda _function, probe: macs[probe])
    outcomes = []
    for comparison in check.compare:
        reference = flops if comparison.to == "flops" else paper_value
        allowed = comparison.tolerance.allowed(reference)
        holds = {"approx": abs(measured - reference) <= allowed + 1e-12,
                 "le": measured <= reference + allowed, "ge": measured >= reference - allowed}[comparison.op]
        outcomes.append(Outcome(comparison, reference, HOLDS if holds else FAILS))
    return CheckResult(check, device, measured, flops, paper_value, paper_range, tuple(outcomes), (), timing)


def paper_ratio_text(check: RuntimeCheck) -> str:
    """The paper expression with each cell reference shortened to its row name ("Model A / Model B")
    when all references share a table and column; the expression as written when they do not; "" for a
    value stated in the text (no cell), where the check's label says more."""
    expression = check.paper
    if expression is None or not expression.refs:
        return ""
    if len({(table, column) for table, _row, column in expression.refs}) > 1:
        return expression.text
    rows = iter(row for _table, row, _column in expression.refs)
    return re.sub(r"\{[^{}]*\}", lambda _match: next(rows), expression.text)


def by_cell(results: Iterable[CheckResult]) -> dict[tuple[str, str, str], list[CheckResult]]:
    """The measured checks that read each paper cell, so the cell can show its measured ratio."""
    found: dict[tuple[str, str, str], list[CheckResult]] = {}
    for result in results:
        if result.measured is not None and result.check.paper is not None:
            for ref in dict.fromkeys(result.check.paper.refs):
                found.setdefault(ref, []).append(result)
    return found


def by_claim(results: Iterable[CheckResult]) -> dict[str, list[CheckResult]]:
    """The measured checks that test each claim of claims.yaml."""
    found: dict[str, list[CheckResult]] = {}
    for result in results:
        if result.measured is not None and result.check.claim:
            found.setdefault(result.check.claim, []).append(result)
    return found


def time_cells(spec: RuntimeSpec) -> dict[tuple[str, str, str], str]:
    """The paper's cells that its runtime checks read, with why the report gives them no measured seconds."""
    reasons = {}
    for check in spec.checks:
        for ref in check.paper.refs if check.paper else ():
            reasons.setdefault(ref, "seconds on the authors' machine: this suite compares them only as ratios "
                                    "measured on one device (shown in the cell and in the Performance section)")
    return reasons
