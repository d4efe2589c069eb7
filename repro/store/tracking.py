"""MLflow as the one record of measured values.

Each command that measures something opens one MLflow run per paper. The run's metrics are the
measured cells (one metric per cell, keyed by `metric_key`), and its tags hold the provenance: git
commit, command, machine, device, library versions and time. The report reads them back with
`load_all`; nothing else keeps measured values.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import re
import subprocess
import sys
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from ..audit.papers import Cell, CellKey, Paper
from ..audit.verdicts import Measurement
from .backend import EXPERIMENT, Record, open_store, retry_locked, tracking_uri
from .pending import log_or_keep

__all__ = ["EXPERIMENT", "load_all", "load_measurements", "log_measurements", "metric_key", "provenance",
           "store_client", "tracking_uri"]

_LIBRARIES = ("torch", "fvcore", "ptflops", "mlflow", "numpy", "decord", "librosa")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")


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
        "repro.time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds"),  # orders runs: "latest wins"
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
    """Record measured cell values of one paper as one MLflow run; returns the run id, or raises
    pending.Kept naming the file that keeps them when the store does not take them.

    `second_opinions` are a second counter's values for some of the cells, `alternatives` the values of the
    alternatives costs.yaml declares for them; `extras` are measured quantities the paper does not print,
    by id.
    """
    second_opinions, alternatives = second_opinions or {}, alternatives or {}
    for key in [*values, *second_opinions, *alternatives]:
        paper.cell(*key)  # fails loudly on a cell the paper does not declare
    metrics = {metric_key(key): float(v) for key, v in values.items()}
    metrics.update({metric_key(key, "second"): float(v) for key, v in second_opinions.items()})
    metrics.update({metric_key(key, "alternative"): float(v) for key, v in alternatives.items()})
    metrics.update({extra_key(name): float(v) for name, v in (extras or {}).items()})
    tags = {**provenance(command, device), "repro.paper": paper.id, "repro.kind": kind,
            "repro.run.proxy": str(proxy).lower()}
    record = Record(key=f"{kind}/{paper.id}/{uuid.uuid4().hex}", run_name=f"{paper.id}-{kind}", tags=tags,
                    metrics=metrics, artifacts={"details.json": dict(details)} if details else {})
    return log_or_keep(record, uri)


def finished_runs(client, experiment_id: str, query: str, max_results: int = 5000) -> list:
    """The runs that match `query` and finished, newest first (an orphan of a killed push never counts)."""
    return retry_locked(lambda: client.search_runs(
        [experiment_id], f"{query} and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"], max_results=max_results))


def _runs(client, experiment_id: str, paper_id: str) -> list:
    return finished_runs(client, experiment_id, f"tags.`repro.paper` = '{paper_id}'")


def store_client(uri: str | None):
    """(client, experiment id) of an existing store, or (None, None) when it holds no repro experiment."""
    return open_store(tracking_uri(uri), create=False)


def _origin(run) -> dict[str, str]:
    origin = {k.removeprefix("repro."): v for k, v in run.data.tags.items() if k.startswith("repro.")}
    origin["mlflow_run"] = run.info.run_id
    return origin


Measurements = dict[tuple[str, CellKey], Measurement]
Extras = dict[tuple[str, str], Measurement]


def load_all(papers: Iterable[Paper], uri: str | None = None) -> tuple[Measurements, Extras]:
    """In one pass over each paper's runs, newest first: the latest measurement of every cell, keyed by
    (paper id, cell key), and of every quantity the paper does not print, keyed by (paper id, extra id)."""
    client, experiment_id = store_client(uri)
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
            proxy = run.data.tags.get("repro.run.proxy") == "true"
            for name, value in metrics.items():
                key = by_metric.get(name)
                if key is not None and (paper.id, key) not in cells:
                    cells[(paper.id, key)] = Measurement(value, _origin(run), proxy=proxy,
                                                         second_opinion=metrics.get(second_name[key]),
                                                         alternative=metrics.get(alternative_name[key]),
                                                         videos=_videos(metrics))
                elif name.startswith("extra/") and (paper.id, name[6:]) not in extras:
                    extras[(paper.id, name[6:])] = Measurement(value, _origin(run), proxy=proxy)
    return cells, extras


def _videos(metrics: Mapping[str, float]) -> tuple[int, int] | None:
    """(videos evaluated, videos in the test split) of a training run's result."""
    if "final_videos" in metrics and "final_videos_total" in metrics:
        return int(metrics["final_videos"]), int(metrics["final_videos_total"])
    return None


def load_measurements(papers: Iterable[Paper], uri: str | None = None) -> Measurements:
    """The latest measurement of every cell that MLflow holds, keyed by (paper id, cell key)."""
    return load_all(papers, uri)[0]

