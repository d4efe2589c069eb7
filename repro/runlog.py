"""A training run's record: kept on disk first, then pushed to MLflow.

Everything a run produces lands in its run folder as it happens: `run.json` (experiment, config,
tags, status), `metrics.jsonl` (one line per epoch), `final.json` (the evaluation, the confusion
matrix and the values of the cells it fills) and the checkpoint. At the end the record is pushed to
MLflow as one run. When the tracking server cannot be reached nothing is lost: the folder is marked
`pushed: false` and `repro push RUN_DIR` sends it later.
"""
from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .atomic import write_text_atomic
from .audit.papers import CellKey
from .tracking import EXPERIMENT, _ensure_experiment, metric_key, provenance, tracking_uri


def server_reachable(uri: str, timeout: float = 3.0) -> bool:
    """An http(s) tracking server answers its /health endpoint; local stores always count as reachable."""
    if not uri.startswith(("http://", "https://")):
        return True
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class RunLog:
    run_dir: Path

    def start(self, info: dict[str, Any]) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        previous = self.read("run.json") or {}
        record = {**previous, **info, "status": "running", "pushed": False}
        write_text_atomic(self.run_dir / "run.json", json.dumps(record, indent=1, default=str) + "\n")

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Append one epoch's metrics (a resumed run rewrites the epochs it repeats)."""
        lines = [json.loads(x) for x in self._text("metrics.jsonl").splitlines() if x.strip()]
        lines = [x for x in lines if x["epoch"] < epoch] + [{"epoch": epoch, **metrics}]
        write_text_atomic(self.run_dir / "metrics.jsonl", "".join(json.dumps(x) + "\n" for x in lines))

    def finish(self, final: dict[str, Any], cells: dict[CellKey, float]) -> None:
        record = {**final, "cells": [{"key": list(k), "value": v} for k, v in cells.items()]}
        write_text_atomic(self.run_dir / "final.json", json.dumps(record, indent=1) + "\n")
        self.update(status="finished")

    def update(self, **changes: Any) -> None:
        record = {**(self.read("run.json") or {}), **changes}
        write_text_atomic(self.run_dir / "run.json", json.dumps(record, indent=1, default=str) + "\n")

    def read(self, name: str) -> Any:
        text = self._text(name)
        return json.loads(text) if text else None

    def _text(self, name: str) -> str:
        path = self.run_dir / name
        return path.read_text() if path.is_file() else ""


def push(run_dir: Path, uri: str | None = None) -> str:
    """Send a finished run folder to MLflow as one run; returns the MLflow run id.

    Params: the experiment and its config. Metrics: every epoch's metrics (step = epoch), the final
    evaluation, and the filled cells under their `metric_key` names (proxy runs log no cell values).
    Artifacts: run.json, final.json (with the confusion matrix) and the checkpoint's path.
    """
    import mlflow

    from .tracking import quiet_mlflow

    quiet_mlflow()

    log = RunLog(Path(run_dir))
    record, final = log.read("run.json"), log.read("final.json")
    if record is None or final is None or record.get("status") != "finished":
        raise ValueError(f"{run_dir}: not a finished run (run.json and final.json with status 'finished')")
    uri = tracking_uri(uri)
    if not server_reachable(uri):
        raise ConnectionError(f"the tracking server {uri} does not answer; the run stays in {run_dir}")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    mlflow.set_tracking_uri(uri)
    _ensure_experiment(mlflow, uri)
    proxy = bool(record.get("proxy"))
    tags = {**provenance(record.get("command"), record.get("device", "cpu")), **record.get("tags", {}),
            "repro.paper": record["paper"], "repro.kind": "proxy" if proxy else "train",
            "repro.proxy": str(proxy).lower(), "repro.experiment": record["experiment"],
            "repro.cells": ";".join("|".join(c["key"]) for c in final.get("cells", []))[:5000],
            "repro.run_dir": str(Path(run_dir).resolve())}
    with mlflow.start_run(run_name=record["experiment"], tags=tags) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in _flat(record.get("config", {})).items()})
        lines = [json.loads(x) for x in log._text("metrics.jsonl").splitlines() if x.strip()]
        for line in lines:
            mlflow.log_metrics({k: float(v) for k, v in line.items() if k != "epoch" and _number(v)},
                               step=int(line["epoch"]))
        summary = {f"final_{k}": float(v) for k, v in final.items() if k not in ("cells", "confusion") and _number(v)}
        if not proxy:
            summary.update({metric_key(tuple(c["key"])): float(c["value"]) for c in final.get("cells", [])})
        mlflow.log_metrics(summary)
        mlflow.log_dict(record, "run.json")
        mlflow.log_dict(final, "final.json")
        mlflow.log_text(str((Path(run_dir) / "checkpoint.pt").resolve()), "checkpoint_path.txt")
    log.update(pushed=True, mlflow_run=run.info.run_id, tracking_uri=uri)
    return run.info.run_id


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


__all__ = ["EXPERIMENT", "RunLog", "push", "server_reachable"]
