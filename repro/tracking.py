"""MLflow as the one record of measured values.

Each command that measures something opens one MLflow run per paper. The run's metrics are the
measured cells (one metric per cell, keyed by `metric_key`), and its tags hold the provenance: git
commit, command, machine, device, library versions and time. The report reads them back with
`load_all`; nothing else keeps measured values.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from .audit.papers import Cell, CellKey, Paper
from .audit.verdicts import Measurement

EXPERIMENT = "repro"
DEFAULT_URI = "sqlite:///mlflow.db"  # MLflow 3's own default store, in the working directory
_LIBRARIES = ("torch", "fvcore", "ptflops", "mlflow", "numpy", "decord", "librosa")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


def quiet_mlflow() -> None:
    """MLflow and alembic announce a new store's tables at INFO level; a user's terminal needs none of it."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def tracking_uri(explicit: str | None = None) -> str:
    return explicit or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def metric_key(cell: Cell | CellKey, prefix: str = "cell") -> str:
    """A valid MLflow metric name for a cell: readable labels plus a hash that keeps it unique.

    Prefix "cell" holds the measured value, "second" a second counter's value for the same cell, "alternative"
    the value of the cell's declared alternative (costs.yaml).
    """
    key = cell.key if isinstance(cell, Cell) else cell
    exact = "|".join(key)
    readable = _UNSAFE.sub("_", "/".join(key))[:200]
    return f"{prefix}/{readable}.{hashlib.sha1(exact.encode()).hexdigest()[:8]}"


def extra_key(extra_id: str) -> str:
    """The metric name of a measured quantity the paper does not print (e.g. a module's own cost)."""
    return f"extra/{_UNSAFE.sub('_', extra_id)[:200]}"


def git_commit(cwd: Path | None = None) -> str:
    cwd = cwd or Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}{'-dirty' if dirty else ''}"
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(command: str | None = None, device: str = "cpu") -> dict[str, str]:
    """Where a measurement comes from, as MLflow tags."""
    tags = {
        "repro.git_commit": git_commit(),
        "repro.command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "repro.machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'}, "
                         f"{os.cpu_count()} cores)",
        "repro.device": device,
        "repro.time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "repro.python": platform.python_version(),
    }
    tags.update({f"repro.version.{name}": _version(name) for name in _LIBRARIES})
    return tags


def log_measurements(paper: Paper, values: Mapping[CellKey, float], *, kind: str,
                     command: str | None = None, device: str = "cpu", proxy: bool = False,
                     details: Mapping[str, Any] | None = None, uri: str | None = None,
                     second_opinions: Mapping[CellKey, float] | None = None,
                     alternatives: Mapping[CellKey, float] | None = None,
                     extras: Mapping[str, float] | None = None) -> str:
    """Record measured cell values of one paper as one MLflow run; returns the run id.

    `second_opinions` are a second counter's values for some of the cells, `alternatives` the values of the
    alternatives costs.yaml declares for them; `extras` are measured quantities the paper does not print,
    by id.
    """
    import mlflow

    quiet_mlflow()

    second_opinions, alternatives = second_opinions or {}, alternatives or {}
    for key in [*values, *second_opinions, *alternatives]:
        paper.cell(*key)  # fails loudly on a cell the paper does not declare
    uri = tracking_uri(uri)
    mlflow.set_tracking_uri(uri)
    _ensure_experiment(mlflow, uri)
    tags = {**provenance(command, device), "repro.paper": paper.id, "repro.kind": kind,
            "repro.proxy": str(proxy).lower()}
    with mlflow.start_run(run_name=f"{paper.id}-{kind}", tags=tags) as run:
        metrics = {metric_key(key): float(v) for key, v in values.items()}
        metrics.update({metric_key(key, "second"): float(v) for key, v in second_opinions.items()})
        metrics.update({metric_key(key, "alternative"): float(v) for key, v in alternatives.items()})
        metrics.update({extra_key(name): float(v) for name, v in (extras or {}).items()})
        mlflow.log_metrics(metrics)
        if details:
            mlflow.log_dict(dict(details), "details.json")
    return run.info.run_id


def _ensure_experiment(mlflow, uri: str) -> None:
    """Create the experiment with its artifacts beside a sqlite store, not in the working directory."""
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        location = None
        if uri.startswith("sqlite:///"):
            location = (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)


def _store_missing(uri: str) -> bool:
    if uri.startswith("sqlite:///"):
        return not Path(uri[len("sqlite:///"):]).exists()
    return False


def _runs(client, experiment_id: str, paper_id: str) -> list:
    return client.search_runs([experiment_id], f"tags.`repro.paper` = '{paper_id}'",
                              order_by=["attributes.start_time DESC"], max_results=5000)


def _client(uri: str | None):
    uri = tracking_uri(uri)
    if _store_missing(uri):
        return None, None
    from mlflow.tracking import MlflowClient

    quiet_mlflow()

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    return (client, experiment.experiment_id) if experiment is not None else (None, None)


def _origin(run) -> dict[str, str]:
    origin = {k.removeprefix("repro."): v for k, v in run.data.tags.items() if k.startswith("repro.")}
    origin["mlflow_run"] = run.info.run_id
    return origin


Measurements = dict[tuple[str, CellKey], Measurement]
Extras = dict[tuple[str, str], Measurement]


def load_all(papers: Iterable[Paper], uri: str | None = None) -> tuple[Measurements, Extras]:
    """In one pass over each paper's runs, newest first: the latest measurement of every cell, keyed by
    (paper id, cell key), and of every quantity the paper does not print, keyed by (paper id, extra id)."""
    client, experiment_id = _client(uri)
    cells: Measurements = {}
    extras: Extras = {}
    if client is None:
        return cells, extras
    for paper in papers:
        declared = list(paper.cells(include_absent=True))
        by_metric = {metric_key(cell): cell.key for cell in declared}
        second_name = {cell.key: metric_key(cell, "second") for cell in declared}
        alternative_name = {cell.key: metric_key(cell, "alternative") for cell in declared}
        for run in _runs(client, experiment_id, paper.id):
            metrics = run.data.metrics
            proxy = run.data.tags.get("repro.proxy") == "true"
            for name, value in metrics.items():
                key = by_metric.get(name)
                if key is not None and (paper.id, key) not in cells:
                    cells[(paper.id, key)] = Measurement(value, _origin(run), proxy=proxy,
                                                         second_opinion=metrics.get(second_name[key]),
                                                         alternative=metrics.get(alternative_name[key]))
                elif name.startswith("extra/") and (paper.id, name[6:]) not in extras:
                    extras[(paper.id, name[6:])] = Measurement(value, _origin(run), proxy=proxy)
    return cells, extras


def load_measurements(papers: Iterable[Paper], uri: str | None = None) -> Measurements:
    """The latest measurement of every cell that MLflow holds, keyed by (paper id, cell key)."""
    return load_all(papers, uri)[0]

