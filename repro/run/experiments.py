"""Experiments as data: `papers/<id>/experiments.yaml` maps every accuracy cell to a runnable
experiment (dataset, split, protocols, model, schedule, pipeline), or to a reason it is not run.

The format is documented in papers/SCHEMA.md ("experiments.yaml"). Loading validates every field and
that each accuracy cell of the paper is covered exactly once, naming file, line and field otherwise.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ..engine.config import TrainConfig
from ..errors import DataError
from ..audit.papers import CellKey, DataReader, Paper
from ..audit.verdicts import CITATION, CITED, NOT_MEASURABLE
from ..yamlsrc import LocDict, LocList, load_yaml

METRICS = ("top1", "top5", "mean_class")
ALL = "all"


@dataclass(frozen=True)
class Stage:
    """How clips are read for training or testing: a protocol of repro.data.protocols and its sizes."""

    protocol: str
    options: dict[str, Any] = field(default_factory=dict)  # clip_len, num_clips, size, short_side, ...


@dataclass(frozen=True)
class Experiment:
    paper: str
    id: str
    title: str
    fills: tuple[CellKey, ...]
    layout: str
    split: int
    train_subset: str
    test_subset: str
    model: str
    model_args: dict[str, Any]
    pipeline: str
    train: Stage
    test: Stage
    config: TrainConfig
    metric: str
    proxy: dict[str, Any]
    pipeline_args: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    source: str = ""
    splits: tuple[int, ...] = ()  # dataset.splits: run each and report the mean (UCF101 / HMDB51 splits 1-3)

    @property
    def name(self) -> str:
        return f"{self.paper}/{self.id}"

    def checkpoints(self) -> dict[str, str]:
        """The pretrained weights the experiment needs (`--weights NAME=PATH`), by name: the pipeline_args
        `pretrained*` and `*_weights` entries, nested ones included, with what each says it is."""
        found: dict[str, str] = {}

        def walk(args: dict) -> None:
            for key, value in args.items():
                if isinstance(value, dict):
                    walk(value)
                elif isinstance(value, str) and (key.startswith("pretrained") or key.endswith("_weights")) \
                        and not key.endswith(("_into", "_source")):
                    found[key.removesuffix("_weights")] = value  # second_weights describes --weights second=

        walk(self.pipeline_args)
        return found


@dataclass(frozen=True)
class NotRun:
    """Cells no experiment fills: why (`reason`), and the cause the report counts them under (`cause`: cited
    from another paper, or not measurable here)."""

    cells: tuple[CellKey, ...]
    reason: str
    source: str
    cause: str = CITED


@dataclass
class ExperimentSet:
    paper: Paper
    experiments: list[Experiment] = field(default_factory=list)
    not_run: list[NotRun] = field(default_factory=list)

    def reason_for(self, key: CellKey) -> str | None:
        group = self.not_run_for(key)
        return group.reason if group else None

    def not_run_for(self, key: CellKey) -> NotRun | None:
        return next((group for group in self.not_run if key in group.cells), None)


def accuracy_cells(paper: Paper) -> list[CellKey]:
    return [cell.key for cell in paper.cells() if cell.kind == "accuracy"]


class _ExperimentReader(DataReader):
    """DataReader with the paper whose cells an experiment names."""

    def __init__(self, path: Path, paper: Paper):
        super().__init__(path)
        self.paper = paper

    def cells(self, node: Any, line: int, name: str) -> tuple[CellKey, ...]:
        """`{table, row | rows, column | columns}` or a list of them; rows/columns may be `all`."""
        items = node if isinstance(node, LocList) else [node]
        keys: list[CellKey] = []
        for index, item in enumerate(items):
            where = f"{name}[{index}]" if isinstance(node, LocList) else name
            item = self.mapping(item, node.line_of(index) if isinstance(node, LocList) else line, where)
            table_id = self.text(item, "table", where)
            if table_id not in self.paper.tables:
                raise self.fail(item.line, f"{where}.table", f"a table of {self.paper.id}: {sorted(self.paper.tables)}")
            table = self.paper.tables[table_id]
            rows = self._labels(item, "row", "rows", table.rows, where)
            columns = self._labels(item, "column", "columns", [c.label for c in table.columns], where)
            for row in rows:
                for column in columns:
                    cell = table.cells.get((row, column))
                    if cell is not None and not cell.absent and cell.kind == "accuracy":
                        keys.append(cell.key)
            if not any(k[0] == table_id for k in keys):
                raise self.fail(item.line, where, f"at least one accuracy cell of table {table_id}")
        return tuple(dict.fromkeys(keys))

    def _labels(self, item: LocDict, one: str, many: str, known: list[str], where: str) -> list[str]:
        if one in item:
            values = [str(item[one])]
        elif many in item:
            values = known if item[many] == ALL else [str(v) for v in item[many]]
        else:
            raise self.fail(item.line, where, f"{one}: <label> or {many}: [<labels>] or {many}: all")
        for value in values:
            if value not in known:
                raise self.fail(item.line_of(one if one in item else many), f"{where}.{one}",
                                f"one of {known}, got {value!r}")
        return values


def _experiment(reader: _ExperimentReader, node: LocDict, name: str) -> Experiment:
    from ..data.layouts import LAYOUTS
    from ..data.protocols import PROTOCOLS

    paper = reader.paper
    data = reader.mapping(node.get("dataset"), node.line_of("dataset"), f"{name}.dataset")
    layout = reader.text(data, "layout", f"{name}.dataset")
    if layout not in LAYOUTS:
        raise reader.fail(data.line_of("layout"), f"{name}.dataset.layout", f"one of {', '.join(LAYOUTS)}")
    stages = {}
    for stage in ("train", "test"):
        part = reader.mapping(node.get(stage), node.line_of(stage), f"{name}.{stage}")
        protocol = reader.text(part, "protocol", f"{name}.{stage}")
        if protocol not in PROTOCOLS:
            raise reader.fail(part.line_of("protocol"), f"{name}.{stage}.protocol", f"one of {', '.join(PROTOCOLS)}")
        stages[stage] = Stage(protocol, {k: v for k, v in part.items() if k not in ("protocol", "config")})
    train = reader.mapping(node["train"], node.line_of("train"), f"{name}.train")
    settings = reader.mapping(train.get("config") or LocDict(), train.line_of("config"), f"{name}.train.config")
    config = TrainConfig.from_mapping(settings, f"{reader.path}: {name}.train.config")
    model = reader.mapping(node.get("model"), node.line_of("model"), f"{name}.model")
    metric = reader.text(node, "metric", name, required=False) or "top1"
    if metric not in METRICS:
        raise reader.fail(node.line_of("metric"), f"{name}.metric", f"one of {', '.join(METRICS)}")
    splits = data.get("splits", [])
    if not isinstance(splits, list) or not all(isinstance(k, int) and not isinstance(k, bool) for k in splits):
        raise reader.fail(data.line_of("splits"), f"{name}.dataset.splits", "a list of split numbers, e.g. [1, 2, 3]")
    if splits and "split" in data and data["split"] not in splits:
        raise reader.fail(data.line_of("split"), f"{name}.dataset.split",
                          f"one of dataset.splits {splits}, or left out")
    proxy = node.get("proxy") or {}
    if not isinstance(proxy, dict):
        raise reader.fail(node.line_of("proxy"), f"{name}.proxy", "a mapping of proxy overrides")
    split = data.get("split", splits[0] if splits else 1)
    if isinstance(split, bool) or not isinstance(split, int) or split < 1:
        raise reader.fail(data.line_of("split"), f"{name}.dataset.split", f"a split number >= 1, got {split!r}")
    for holder, key, where in ((model, "args", f"{name}.model.args"), (node, "pipeline_args", f"{name}.pipeline_args")):
        if not isinstance(holder.get(key) or {}, dict):
            raise reader.fail(holder.line_of(key), where, f"a mapping of keyword arguments, got {holder[key]!r}")
    for key in ("train", "test"):
        if key in data and not isinstance(data[key], str):
            raise reader.fail(data.line_of(key), f"{name}.dataset.{key}", f"a subset name, got {data[key]!r}")
    return Experiment(
        paper=paper.id, id=reader.text(node, "id", name), title=reader.text(node, "title", name),
        fills=reader.cells(node.get("fills"), node.line_of("fills"), f"{name}.fills"), layout=layout,
        split=split, splits=tuple(splits),
        train_subset=str(data.get("train", "train")),
        test_subset=str(data.get("test", "test")), model=reader.text(model, "name", f"{name}.model"),
        model_args=dict(model.get("args") or {}),
        pipeline=reader.text(node, "pipeline", name, required=False) or "classify",
        train=stages["train"], test=stages["test"], config=config, metric=metric, proxy=dict(proxy),
        pipeline_args=dict(node.get("pipeline_args") or {}), notes=str(node.get("notes") or ""),
        source=f"{reader.path}:{node.line}")


def load_experiments(paper: Paper) -> ExperimentSet:
    """papers/<id>/experiments.yaml, validated; an empty set when the paper has none yet."""
    path = paper.root / "experiments.yaml"
    found = ExperimentSet(paper)
    if not path.is_file():
        return found
    reader = _ExperimentReader(path, paper)
    top = reader.mapping(load_yaml(path), 1, "experiments.yaml")
    seen_ids: dict[str, int] = {}
    covered: dict[CellKey, str] = {}
    for index, node in enumerate(top.get("experiments") or []):
        name = f"experiments[{index}]"
        experiment = _experiment(reader, reader.mapping(node, top["experiments"].line_of(index), name), name)
        if experiment.id in seen_ids:
            raise reader.fail(node.line, f"{name}.id", f"an id not used before (line {seen_ids[experiment.id]})")
        seen_ids[experiment.id] = node.line
        found.experiments.append(experiment)
        _cover(reader, covered, experiment.fills, f"{name} ({experiment.id})", node.line)
    for index, node in enumerate(top.get("not_run") or []):
        name = f"not_run[{index}]"
        node = reader.mapping(node, top["not_run"].line_of(index), name)
        cells = reader.cells(node.get("cells"), node.line_of("cells"), f"{name}.cells")
        cited = all(CITATION.search(row) for _, row, _ in cells)
        cause = reader.text(node, "cause", name, required=False) or (CITED if cited else NOT_MEASURABLE)
        if cause not in (CITED, NOT_MEASURABLE):
            raise reader.fail(node.line, f"{name}.cause", f"{CITED!r} or {NOT_MEASURABLE!r}, got {cause!r}")
        found.not_run.append(NotRun(cells, reader.text(node, "reason", name), f"{path}:{node.line}", cause))
        _cover(reader, covered, cells, name, node.line)
    try:
        ordered(found.experiments)  # a dependency cycle fails at load, not when `reproduce` reaches it
    except DependencyCycle as exc:
        line = int(exc.experiment.source.rsplit(":", 1)[1])
        found_cycle = " -> ".join(exc.cycle)
        raise DataError(path, line, f"{exc.experiment.id}.pipeline_args",
                        f"experiments that do not depend on each other in a cycle; found {found_cycle}") from None
    return found


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


class DependencyCycle(ValueError):
    """Experiments whose pipeline_args name each other in a cycle."""

    def __init__(self, experiment: Experiment, cycle: list[str]):
        self.experiment, self.cycle = experiment, cycle
        super().__init__(f"{experiment.source}: experiments depend on each other in a cycle: {' -> '.join(cycle)}")


def dependencies(experiment: Experiment, ids: set[str]) -> list[str]:
    """The other experiments of the paper that `experiment`'s pipeline_args name, in the order named."""
    found = [s for s in _strings(experiment.pipeline_args) if s in ids and s != experiment.id]
    return list(dict.fromkeys(found))


def ordered(experiments: Sequence[Experiment]) -> list[Experiment]:
    """Dependencies first; otherwise the order of experiments.yaml. A cycle is an error naming it."""
    by_id = {e.id: e for e in experiments}
    done: dict[str, Experiment] = {}
    visiting: list[str] = []

    def visit(experiment: Experiment) -> None:
        if experiment.id in done:
            return
        if experiment.id in visiting:
            cycle = visiting[visiting.index(experiment.id):] + [experiment.id]
            raise DependencyCycle(experiment, cycle)
        visiting.append(experiment.id)
        for name in dependencies(experiment, set(by_id)):
            visit(by_id[name])
        visiting.pop()
        done[experiment.id] = experiment

    for experiment in experiments:
        visit(experiment)
    return list(done.values())


def siblings_of(experiment: Experiment) -> dict[str, Experiment]:
    """The experiments of `experiment`'s paper by id (read once per version of its experiments.yaml)."""
    path = Path(experiment.source.rsplit(":", 1)[0])
    return _siblings(path, path.stat().st_mtime_ns, experiment.paper)


@cache
def _siblings(path: Path, _mtime: int, paper_id: str) -> dict[str, Experiment]:
    from ..audit.papers import load_paper

    return {e.id: e for e in load_experiments(load_paper(path.parent)).experiments}


def _cover(reader: _ExperimentReader, covered: dict, cells, owner: str, line: int) -> None:
    for key in cells:
        if key in covered:
            raise reader.fail(line, owner, f"cells not covered elsewhere; {'|'.join(key)} is already in {covered[key]}")
        covered[key] = owner


def uncovered(found: ExperimentSet) -> list[CellKey]:
    """Accuracy cells neither filled by an experiment nor given a reason."""
    done = {k for e in found.experiments for k in e.fills} | {k for n in found.not_run for k in n.cells}
    return [key for key in accuracy_cells(found.paper) if key not in done]


def find(name: str, papers: list[Paper]) -> Experiment:
    """An experiment by `paper/id` (or a unique `id`), with close matches on a miss."""
    import difflib

    everything = [e for p in papers for e in load_experiments(p).experiments]
    for experiment in everything:
        if name in (experiment.name, experiment.id):
            return experiment
    close = difflib.get_close_matches(name, [e.name for e in everything], 3, 0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"no experiment {name!r}{hint} (repro experiments lists them)")
