"""Benchmark results: pytest-benchmark's `--benchmark-json` file read into rows, and what the report shows.

tests/test_benchmarks.py writes one benchmark per (probe, batch) with `extra_info` holding what the
report needs beside pytest-benchmark's own statistics (tests/test_benchmarks.py lists the keys).
`read_run` checks those keys and names the file, benchmark and key when one is missing. The report reads
the JSON as is, not through MLflow: it is the run's whole record (machine, every round) and a file
written on a GPU machine renders anywhere.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..audit.papers import Paper
from ..measure.runtime import CheckResult, RuntimeSpec, evaluate, load_runtime

REQUIRED = ("case", "probe", "model", "input", "batch", "size", "gmacs", "params", "device", "device_name",
            "options", "rounds", "warmup")
DEFAULT_PATH = Path("results") / "benchmarks.json"


@dataclass(frozen=True)
class BenchRow:
    case: str
    paper: str | None
    probe: str
    model: str
    input: str  # the batch-1 shapes, e.g. "1x3x32x224x224"
    batch: int
    batch_rule: str
    size: str  # "paper" (the paper's input size) or "example" (the small registered example, a smoke run)
    median_s: float
    min_s: float  # the fastest round: the runtime checks' statistic (see `latencies`)
    q1_s: float
    q3_s: float
    rounds: int
    warmup: int
    reduced: bool
    gmacs: float  # per forward at this batch
    params: int
    device: str
    device_name: str
    options: str
    threads: int | None = None
    torch: str | None = None
    peak_gflops: float | None = None
    note: str | None = None
    peak_precision: str | None = None  # the matmul precision of the peak: float32, tf32, bfloat16

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s, a multiply-add counted as 2 FLOPs."""
        return 2.0 * self.gmacs / self.median_s

    @property
    def fraction_of_peak(self) -> float | None:
        return self.gflops / self.peak_gflops if self.peak_gflops else None

    @property
    def group(self) -> tuple[str, str]:
        """Rows comparable with each other: one device, one set of options."""
        return self.device_name, self.options

    @property
    def batch_kind(self) -> str:
        return "1" if self.batch == 1 else "full"


@dataclass(frozen=True)
class FastRow:
    """One backbone timed in one run with the default options and with the fast-inference ones
    (tests/test_fast_inference.py): batch 1, the paper's input size."""

    case: str
    paper: str | None
    probe: str
    model: str
    input: str
    gmacs: float
    default_ms: float
    fast_ms: float
    default_gflops: float
    gflops: float
    device_name: str
    default_options: str
    options: str  # the candidate picked: the fastest in this run
    peak_gflops: float | None = None
    peak_precision: str | None = None
    candidates: dict[str, float] | None = None  # every option set tried: its median ms
    bound_by: list | None = None  # [operator, share of the time] where the pick stays under 25% of the peak

    @property
    def speedup(self) -> float:
        return self.default_ms / self.fast_ms

    def of_peak(self, gflops: float) -> float | None:
        return gflops / self.peak_gflops if self.peak_gflops else None


FAST_REQUIRED = ("case", "probe", "model", "input", "gmacs", "default_ms", "fast_ms", "default_gflops", "gflops",
                 "device_name", "default_options", "options", "size")


def _paper_size_info(entry: Mapping[str, Any], kind: str, required: tuple[str, ...], writer: str, where: str,
                     path: Path | str) -> Mapping[str, Any] | None:
    """The entry's extra_info when it is of `kind` and timed at the papers' sizes, its keys checked; None for
    another kind of entry or a smoke run's."""
    info = entry.get("extra_info") or {}
    if info.get("kind") != kind:
        return None
    for key in required:
        if key not in info:
            raise DataError(path, None, f"{where}.extra_info.{key}", f"a value (written by {writer})")
    return info if info["size"] == "paper" else None


def fast_row_from(entry: Mapping[str, Any], where: str, path: Path | str) -> FastRow | None:
    info = _paper_size_info(entry, "fast_inference", FAST_REQUIRED, "tests/test_fast_inference.py", where, path)
    return None if info is None else FastRow(**{k: info.get(k) for k in FastRow.__dataclass_fields__})


@dataclass(frozen=True)
class CheckTiming:
    """A paper's runtime-check probes timed round-robin in one run (tests/test_runtime_checks.py):
    each probe's seconds per round at batch 1, and its MACs."""

    paper: str
    device_name: str
    options: str
    rounds: int
    seconds: dict[str, tuple[float, ...]]
    macs: dict[str, float]

    @property
    def fastest(self) -> dict[str, float]:
        """Each probe's fastest round, the statistic the checks use (see `latencies`)."""
        return {probe: min(values) for probe, values in self.seconds.items()}

    @property
    def description(self) -> str:
        return f"interleaved, {self.rounds} rounds"


@dataclass(frozen=True)
class TrainRow:
    """Training steps of one model through the engine (tests/test_train_bench.py, repro.measure.train_bench),
    beside a plain loop timed in the same run."""

    model: str
    input: str
    batch: int
    batch_rule: str
    device_name: str
    options: str
    clips_per_second: float
    tflops: float
    peak_tflops: float
    peak_precision: str
    fraction_of_peak: float
    peak_memory_mb: float
    plain_clips_per_second: float | None = None
    engine_over_plain: float | None = None
    compile_seconds: float | None = None


TRAIN_REQUIRED = ("model", "input", "batch", "device_name", "options", "clips_per_second", "tflops", "peak_tflops",
                  "peak_precision", "fraction_of_peak", "peak_memory_mb", "size")


def train_row_from(entry: Mapping[str, Any], where: str, path: Path | str) -> TrainRow | None:
    info = _paper_size_info(entry, "train", TRAIN_REQUIRED, "tests/test_train_bench.py", where, path)
    return None if info is None else TrainRow(**{k: info.get(k) for k in TrainRow.__dataclass_fields__})


@dataclass(frozen=True)
class LoaderRow:
    """One loader worker's rate for a training input, against the training benchmark's rate of the same session
    (tests/test_loader_benchmark.py)."""

    input: str
    video: str
    decoder: str
    per_worker: float
    cores: int
    train_rate: float | None = None
    train_device: str | None = None
    workers_needed: int | None = None
    delivered_share: float | None = None


LOADER_REQUIRED = ("input", "video", "decoder", "per_worker", "cores", "size")


def loader_row_from(entry: Mapping[str, Any], where: str, path: Path | str) -> LoaderRow | None:
    info = _paper_size_info(entry, "loader", LOADER_REQUIRED, "tests/test_loader_benchmark.py", where, path)
    return None if info is None else LoaderRow(**{k: info.get(k) for k in LoaderRow.__dataclass_fields__})


CHECK_REQUIRED = ("paper", "device_name", "options", "size", "rounds", "seconds", "macs")


def check_timing_from(entry: Mapping[str, Any], where: str, path: Path | str) -> CheckTiming | None:
    """The interleaved timing of one entry; None for another kind of entry or a smoke run's."""
    info = _paper_size_info(entry, "runtime_checks", CHECK_REQUIRED, "tests/test_runtime_checks.py", where, path)
    if info is None:
        return None
    seconds = {str(probe): tuple(float(s) for s in values) for probe, values in info["seconds"].items()}
    if not seconds or not all(seconds.values()):
        raise DataError(path, None, f"{where}.extra_info.seconds", "timed rounds for every probe")
    return CheckTiming(str(info["paper"]), str(info["device_name"]), str(info["options"]), int(info["rounds"]),
                       seconds, {str(k): float(v) for k, v in info["macs"].items()})


@dataclass
class BenchRun:
    sources: list[str]
    rows: list[BenchRow]
    fast: list[FastRow] = field(default_factory=list)
    check_timings: list[CheckTiming] = field(default_factory=list)
    train: list[TrainRow] = field(default_factory=list)
    loader: list[LoaderRow] = field(default_factory=list)
    datetime: str | None = None
    commit: str | None = None
    smoke_rows: int = 0  # rows timed on the small examples, not shown
    header: dict[str, Any] = field(default_factory=dict)


def row_from(entry: Mapping[str, Any], where: str, path: Path | str) -> BenchRow | None:
    """One benchmark entry of the JSON (or of the live session); None for an entry that is no model benchmark."""
    info = entry.get("extra_info") or {}
    if info.get("kind") != "model":
        return None
    for key in REQUIRED:
        if key not in info:
            raise DataError(path, None, f"{where}.extra_info.{key}", "a value (written by tests/test_benchmarks.py)")
    stats = entry.get("stats") or {}
    if not stats.get("median"):
        raise DataError(path, None, f"{where}.stats.median", "a timed median (was the run --benchmark-disable'd?)")
    return BenchRow(
        case=str(info["case"]), paper=info.get("paper"), probe=str(info["probe"]), model=str(info["model"]),
        input=str(info["input"]), batch=int(info["batch"]), batch_rule=str(info.get("batch_rule", "")),
        size=str(info["size"]), median_s=float(stats["median"]), min_s=float(stats.get("min", stats["median"])),
        q1_s=float(stats.get("q1", stats["median"])),
        q3_s=float(stats.get("q3", stats["median"])), rounds=int(info["rounds"]), warmup=int(info["warmup"]),
        reduced=bool(info.get("reduced_rounds", False)), gmacs=float(info["gmacs"]), params=int(info["params"]),
        device=str(info["device"]), device_name=str(info["device_name"]), options=str(info["options"]),
        threads=info.get("threads"), torch=info.get("torch"), peak_gflops=info.get("peak_gflops"),
        note=info.get("note"), peak_precision=info.get("peak_precision"))


def _read_bench_file(path: Path) -> Any:
    """pytest-benchmark's JSON, or the JSON lines of `--bench-rows` (a header, then one entry a line), whose
    last line, cut off mid-write when a run was killed, is dropped."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(path, None, "file", "a --benchmark-json or --bench-rows file; there is none at this path "
                                            "(`nox -s bench` writes one)") from None
    if path.suffix != ".jsonl":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, exc.lineno, "json", f"valid JSON ({exc.msg})") from None
    lines = text.split("\n")
    lines = lines[:-1]  # after the last newline: empty, or a line the run did not finish writing
    data: dict[str, Any] = {"benchmarks": []}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, number, "json", f"one JSON object a line ({exc.msg})") from None
        if not isinstance(record, dict):
            raise DataError(path, number, "json", "one JSON object a line")
        if number == 1 and "extra_info" not in record:
            data.update(record)
        else:
            data["benchmarks"].append(record)
    return data


def read_run(paths: Iterable[Path | str]) -> BenchRun:
    """Rows of one or more `--benchmark-json` or `--bench-rows` files (e.g. a CPU and a GPU run); a later
    file's row replaces an earlier one for the same device, options, case and batch."""
    run = BenchRun([], [])
    rows: dict[tuple, BenchRow] = {}
    fast: dict[tuple, FastRow] = {}
    timings: dict[tuple, CheckTiming] = {}
    trains: dict[tuple, TrainRow] = {}
    for path in paths:
        data = _read_bench_file(Path(path))
        if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
            raise DataError(path, None, "benchmarks", "pytest-benchmark's JSON: a mapping with a benchmarks list")
        run.sources.append(str(path))
        run.datetime = data.get("datetime", run.datetime)
        run.commit = (data.get("commit_info") or {}).get("id", run.commit)
        run.header.update(data.get("repro") or {})
        for index, entry in enumerate(data["benchmarks"]):
            where = f"benchmarks[{index}] ({entry.get('name', '?')})"
            timing = check_timing_from(entry, where, path)
            if timing is not None:
                timings[(timing.device_name, timing.options, timing.paper)] = timing
            fast_row = fast_row_from(entry, where, path)
            if fast_row is not None:
                fast[(fast_row.device_name, fast_row.case)] = fast_row
            loader_row = loader_row_from(entry, where, path)
            if loader_row is not None:
                run.loader.append(loader_row)
            train_row = train_row_from(entry, where, path)
            if train_row is not None:
                trains[(train_row.device_name, train_row.model, train_row.input, train_row.options)] = train_row
            row = row_from(entry, where, path)
            if row is None:
                continue
            if row.size != "paper":
                run.smoke_rows += 1
                continue
            rows[(row.group, row.case, row.batch)] = row
    run.rows, run.fast, run.check_timings = list(rows.values()), list(fast.values()), list(timings.values())
    run.train = list(trains.values())
    return run


def load_default(paths: list[str] | None) -> BenchRun | None:
    """The runs named on the command line, else results/benchmarks.json when it exists, else None."""
    if paths:
        return read_run(paths)
    return read_run([DEFAULT_PATH]) if DEFAULT_PATH.is_file() else None


# --- what a report page shows --------------------------------------------------------------------


@dataclass
class Performance:
    """One page's performance section: its rows, its runtime checks per device, its plot."""

    rows: list[BenchRow]
    checks: list[CheckResult]
    svg: str
    run: BenchRun | None
    fast: list[FastRow] = field(default_factory=list)
    spec: RuntimeSpec | None = None  # the paper's runtime.yaml

    @property
    def devices(self) -> list[str]:
        return list(dict.fromkeys(r.device_name for r in self.rows))

    @property
    def side_by_side(self) -> list[tuple[BenchRow, dict[str, BenchRow]]]:
        """Each benchmark (probe, batch 1 or full) once, with its row on every device (e.g. a CPU run and a GPU
        run read together): the first device's row labels it."""
        grouped: dict[tuple[str, str], dict[str, BenchRow]] = {}
        for row in self.rows:
            grouped.setdefault((row.case, row.batch_kind), {})[row.device_name] = row
        return [(next(iter(by_device.values())), by_device) for by_device in grouped.values()]

    @property
    def train(self) -> list[TrainRow]:
        return self.run.train if self.run else []


def latencies(rows: Iterable[BenchRow]) -> dict[tuple[str, str], tuple[dict[str, float], dict[str, float]]]:
    """Per (device, options): the batch-1 latency and MACs of each probe.

    The latency is the fastest round, not the median: a round slowed by other work on the machine (a
    second process on a 2-core CPU can triple one) says nothing about the model, and a ratio of two
    probes' fastest rounds is the ratio the hardware gives them. On a quiet machine the two are close."""
    out: dict[tuple[str, str], tuple[dict[str, float], dict[str, float]]] = {}
    for row in rows:
        if row.batch == 1:
            seconds, macs = out.setdefault(row.group, ({}, {}))
            seconds[row.probe], macs[row.probe] = row.min_s, row.gmacs * 1e9
    return out


def paper_performance(paper: Paper, run: BenchRun | None) -> Performance:
    from .latency_plot import latency_plot

    spec = load_runtime(paper)
    declared = spec.checks if spec else []
    rows = [r for r in run.rows if r.paper == paper.id] if run else []
    checks = []
    interleaved = [t for t in run.check_timings if t.paper == paper.id] if run else []
    for timing in interleaved:  # preferred: the checks' probes timed round-robin
        checks += [evaluate(check, paper, timing.fastest, timing.macs, timing.device_name, timing.description)
                   for check in declared]
    done = {(t.device_name, t.options) for t in interleaved}
    for (device, options), (seconds, macs) in latencies(rows).items():
        if (device, options) not in done:  # e.g. a file from before the interleaved checks
            checks += [evaluate(check, paper, seconds, macs, device, "from the separate batch-1 benchmarks")
                       for check in declared]
    if not checks:  # no run yet: the checks are listed, unmeasured
        checks = [evaluate(check, paper, {}, {}, "") for check in declared]
    fast = [r for r in run.fast if r.paper == paper.id] if run else []
    return Performance(rows, checks, latency_plot(rows, colour_by="device") if rows else "", run, fast, spec)


def index_performance(run: BenchRun | None) -> Performance:
    """Every paper's rows in one plot, and the rows of models benchmarked at a registered reference input."""
    from .latency_plot import latency_plot

    rows = run.rows if run else []
    return Performance([r for r in rows if r.paper is None], [],
                       latency_plot(rows, colour_by="paper") if rows else "", run, run.fast if run else [])
