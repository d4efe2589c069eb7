"""Shared fixtures: small paper folders written by the tests themselves."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

PAPER_YAML = """\
id: {id}
title: A Toy Paper
authors: [A. Author]
venue: Nowhere
year: 2020
flops_convention: macs
"""

TABLES_YAML = """\
tables:
  - table: "1"
    caption: Toy results.
    conditions: {dataset: Kinetics-400}
    columns:
      - {label: Top-1, unit: "%", kind: accuracy}
      - {label: GFLOPs, unit: GFLOPs, kind: flops}
    rows:
      - label: Base
        values: [70.0, 30.0]
      - label: Ours
        values: [73.20, 15.0]
      - label: "1:1"
        values: ["-", "1,024"]
"""

CLAIMS_YAML = """\
claims:
  - id: gain
    quote: "Ours beats Base by 3.2%."
    stated: 3.2
    unit: pp
    expr: "{1|Ours|Top-1} - {1|Base|Top-1}"
  - id: half
    quote: "Ours needs only half the FLOPs."
    stated: 0.5
    op: approx
    expr: "{1|Ours|GFLOPs} / {1|Base|GFLOPs}"
  - id: figure-only
    quote: "As Fig. 3 shows, 67.1%."
    stated: 67.1
    expr: null
    unchecked: "only in a figure"
relations:
  - id: wrong
    text: "Base costs twice what 1:1 does"
    stated: "{1|Base|GFLOPs}"
    expr: "2 * {1|1:1|GFLOPs}"
"""


def write_paper(root: Path, paper_id: str = "toy", *, paper: str | None = None,
                tables: str | None = None, claims: str | None = None) -> Path:
    """Write a paper folder under `root`; each file defaults to the valid toy above."""
    folder = root / paper_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("paper.yaml", paper or PAPER_YAML.format(id=paper_id)),
                       ("tables.yaml", tables or TABLES_YAML), ("claims.yaml", claims or CLAIMS_YAML)):
        (folder / name).write_text(textwrap.dedent(text))
    return folder


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    write_paper(tmp_path / "papers")
    return tmp_path / "papers"


@pytest.fixture
def toy_paper(toy_root: Path):
    from repro.audit.papers import load_paper

    return load_paper(toy_root / "toy")


@pytest.fixture(scope="session")
def ucf101_tree(tmp_path_factory) -> Path:
    """A small synthetic UCF101 tree (repro.data.synth: 24 frames of 64x48 per video), made once per session
    for the tests that run experiments end to end."""
    from repro.data.synth import synthesize

    root = tmp_path_factory.mktemp("ucf")
    synthesize(root, layout="ucf101", frames=24, width=64, height=48)
    return root


@pytest.fixture(scope="session")
def measured_costs(tmp_path_factory):
    """Every paper's cost cells and extras, measured once per session as `repro costs` measures them (no
    MLflow): (cells, extras) keyed as repro.tracking.load_all keys them, for rendering real pages."""
    from repro.audit.papers import load_papers
    from repro.audit.verdicts import Measurement
    from repro.measure.costs import Meter, measure_paper, specs

    run = {"mlflow_run": "test-session", "command": "pytest (measured_costs fixture)"}
    meter = Meter(cache_dir=tmp_path_factory.mktemp("cost-cache"))
    cells, extras = {}, {}
    for spec in specs(load_papers()):
        costs = measure_paper(spec, meter)
        pid = spec.paper.id
        cells.update({(pid, key): Measurement(v.value, run, second_opinion=v.second_opinion, alternative=v.alternative)
                      for key, v in costs.cells.items()})
        extras.update({(pid, name): Measurement(v.value, run) for name, v in costs.extras.items()})
    return cells, extras


@pytest.fixture(autouse=True)
def _private_cost_cache(tmp_path, monkeypatch):
    """`repro costs` caches counts in $REPRO_CACHE_DIR; tests must neither read nor fill the user's."""
    monkeypatch.setenv("REPRO_CACHE_DIR", str(tmp_path / "cost-cache"))


# --- benchmarks (tests/test_benchmarks.py) -------------------------------------------------------

BENCH_ROWS = pytest.StashKey[list]()  # each timed benchmark, shaped as an entry of --benchmark-json


def pytest_addoption(parser):
    group = parser.getgroup("repro benchmarks")
    group.addoption("--bench-device", default=None, help="device for tests/test_benchmarks.py (default: cuda if "
                                                         "available, else cpu)")
    group.addoption("--bench-compile", action="store_true",
                    help="tests/test_fast_inference.py: torch.compile the model in the fast options too")
    group.addoption("--bench-rows", default=None, metavar="FILE",
                    help="also write each benchmark's row to FILE (JSON lines) as soon as it is measured, so that "
                         "a run cut short keeps what it measured; `repro report --benchmarks FILE` reads it")
    group.addoption("--bench-size", choices=("paper", "example"), default=None,
                    help="time the papers' input sizes or the small registered examples (default: paper under "
                         "--benchmark-only, else example)")


def pytest_configure(config):
    config.stash[BENCH_ROWS] = []
    if config.getoption("bench_rows"):
        import datetime
        import json

        rows = Path(config.getoption("bench_rows")).resolve()  # a test that changes directory writes here too
        if rows.suffix != ".jsonl":
            raise pytest.UsageError(f"--bench-rows {rows}: a .jsonl file (JSON lines; repro report reads it by "
                                    f"that suffix)")
        config.option.bench_rows = str(rows)
        header = {"datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(), "repro": _header(config),
                  "commit_info": {"id": _commit()}}
        rows.write_text(json.dumps(header) + "\n")


def record_row(config, row: dict) -> None:
    """Keep one benchmark's row for the runtime-check summary and, with --bench-rows, append it to that file."""
    config.stash[BENCH_ROWS].append(row)
    if config.getoption("bench_rows"):
        import json

        with open(config.getoption("bench_rows"), "a") as rows:
            rows.write(json.dumps(row, default=str) + "\n")


def pytest_collection_modifyitems(config, items):
    """The training benchmark runs before the loader's, which sets its rate against the training rate."""
    items.sort(key=lambda item: 0 if item.path.name == "test_train_bench.py" else 1)


def _bench_settings(config) -> tuple[str, str]:
    from repro.measure import bench

    device = config.getoption("bench_device") or bench.default_device()
    size = config.getoption("bench_size") or ("paper" if config.getoption("benchmark_only", False) else "example")
    return device, size


def pytest_report_header(config):
    from repro.measure import bench

    device, size = _bench_settings(config)
    if size == "example":
        return ["repro benchmarks: small registered examples, 1 round each (a smoke run; "
                "`pytest --benchmark-only` times the papers' input sizes)"]
    return [f"repro benchmarks: the papers' input sizes on {bench.device_name(device)}",
            f"repro benchmarks: {bench.rounds_policy(device)}"]


def pytest_terminal_summary(terminalreporter, config):
    """The papers' runtime checks, computed from this run's batch-1 latencies."""
    rows = config.stash.get(BENCH_ROWS, [])
    if not rows or _bench_settings(config)[1] != "paper":
        return
    from repro.report.performance import BenchRun, check_timing_from, paper_performance, row_from
    from repro.audit.papers import load_papers

    run = BenchRun(["this session"], [r for i, e in enumerate(rows) if (r := row_from(e, f"row {i}", "session"))],
                   check_timings=[t for i, e in enumerate(rows) if (t := check_timing_from(e, f"row {i}", "session"))])
    terminalreporter.section("repro runtime checks (ratios measured in this run)")
    for paper in load_papers():
        for result in paper_performance(paper, run).checks:
            if result.measured is None:
                continue
            verdicts = "; ".join(f"{o.status} ({o.comparison.describe()})" for o in result.outcomes)
            paper_value = "" if result.paper is None else f", paper {result.paper:.3g}"
            unit = result.check.unit
            terminalreporter.write_line(f"{paper.id}/{result.check.id} ({result.timing}): time {result.measured:.3g}"
                                        f"{unit}, FLOPs {result.flops:.3g}{unit}{paper_value}: {verdicts}")
    device, _ = _bench_settings(config)
    from repro.measure import bench

    terminalreporter.write_line(f"rounds: {bench.rounds_policy(device)}")


def _header(config) -> dict:
    from repro.measure import bench

    device, size = _bench_settings(config)
    return {"size": size, "device": device, "device_name": bench.device_name(device),
            "rounds_policy": bench.rounds_policy(device)}


def _commit() -> str | None:
    """The commit measured: $REPRO_COMMIT where the tree travelled without its git folder (a GPU machine)."""
    import subprocess

    if os.environ.get("REPRO_COMMIT"):
        return os.environ["REPRO_COMMIT"]
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    except OSError:  # no git
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def pytest_benchmark_update_json(config, benchmarks, output_json):
    output_json["repro"] = _header(config)
    if not (output_json.get("commit_info") or {}).get("id"):
        output_json["commit_info"] = {**(output_json.get("commit_info") or {}), "id": _commit()}


def paired_verdict(values: dict, prefix: str) -> str:
    """What a proxy check's paired comparison under `prefix` (repro.run.proxy.Paired.values) should conclude."""
    from repro.engine.metrics import exact_mcnemar

    a, b, p = values[f"{prefix}.a_only"], values[f"{prefix}.b_only"], values[f"{prefix}.p_value"]
    assert p == pytest.approx(exact_mcnemar(int(a), int(b)))
    return "held" if a > b and p < 0.05 else "did not hold" if b > a and p < 0.05 else "inconclusive"


def paired_keys(prefix: str) -> set[str]:
    return {f"{prefix}.{k}" for k in ("a_only", "b_only", "p_value")}
