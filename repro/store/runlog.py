"""A training run's record: kept on disk first, then pushed to MLflow.

Everything a run produces lands in its run folder as it happens: `run.json` (experiment, config,
tags, status), `metrics.jsonl` (one line per epoch), `final.json` (the evaluation, the confusion
matrix and the values of the cells it fills) and the checkpoint. At the end the record is pushed to
MLflow as one run. When the tracking server cannot be reached nothing is lost: the folder is marked
`pushed: false` and `repro push RUN_DIR` sends it later; pushing a folder again never duplicates its run.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic import remove_stale_temps, write_text_atomic
from ..audit.papers import CellKey
from .backend import Record, log_record, tracking_uri
from .tracking import metric_key, provenance


RUN_FILES = ("run.json", "metrics.jsonl", "final.json", "checkpoint.pt")  # what one run writes in its folder


@dataclass
class RunLog:
    run_dir: Path

    def start(self, info: dict[str, Any], fresh: bool = False) -> None:
        """Mark the run started. `fresh` (a run not resumed) first clears an earlier run's record from the
        folder, so that no file of it is taken for this run's (an evaluation-only run writes no epochs)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.run_dir)  # leftovers of a killed run's writes
        if fresh:
            for name in RUN_FILES:
                (self.run_dir / name).unlink(missing_ok=True)
        previous = self.read("run.json") or {}
        record = {**previous, **info, "status": "running", "pushed": False}
        record["provenance"] = provenance(info.get("command"), info.get("device", "cpu"))  # this machine, now
        write_text_atomic(self.run_dir / "run.json", json.dumps(record, indent=1, default=str) + "\n")

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """Append one epoch's metrics (a resumed run rewrites the epochs it repeats)."""
        lines = [x for x in self.lines("metrics.jsonl") if x["epoch"] < epoch] + [{"epoch": epoch, **metrics}]
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

    def lines(self, name: str) -> list[dict[str, Any]]:
        return [json.loads(x) for x in self._text(name).splitlines() if x.strip()]

    def _text(self, name: str) -> str:
        path = self.run_dir / name
        return path.read_text() if path.is_file() else ""


_VOLATILE = ("status", "pushed", "mlflow_run", "tracking_uri", "command", "provenance")  # not part of what was measured


def run_key(record: dict[str, Any], run_dir: Path) -> str:
    """The stable key of a run folder's MLflow run: paper, experiment, settings and the folder itself."""
    settings = json.dumps({k: record.get(k) for k in ("config", "dataset", "train", "test", "model", "pipeline_args")},
                          sort_keys=True, default=str)
    identity = "|".join([record["paper"], record["experiment"], str(bool(record.get("proxy"))),
                         hashlib.sha1(settings.encode()).hexdigest(), str(Path(run_dir).resolve())])
    return f"run/{record['paper']}/{hashlib.sha1(identity.encode()).hexdigest()[:20]}"


def as_record(run_dir: Path) -> Record:
    """A finished run folder as one MLflow record.

    Params: the experiment and its config. Metrics: every epoch's metrics (step = epoch), the final
    evaluation, and the filled cells under their `metric_key` names (proxy runs log no cell values).
    Artifacts: run.json, final.json (with the confusion matrix) and the checkpoint's path.
    """
    log = RunLog(Path(run_dir))
    record, final = log.read("run.json"), log.read("final.json")
    if record is None or final is None or record.get("status") != "finished":
        raise ValueError(f"{run_dir}: not a finished run (run.json and final.json with status 'finished')")
    proxy = bool(record.get("proxy"))
    measured = record.get("provenance") or provenance(record.get("command"), record.get("device", "cpu"))
    tags = {**measured, **record.get("tags", {}),
            "repro.paper": record["paper"], "repro.kind": "proxy" if proxy else "train",
            "repro.run.proxy": str(proxy).lower(), "repro.experiment": record["experiment"],
            "repro.cells": ";".join("|".join(c["key"]) for c in final.get("cells", []))[:5000],
            "repro.run_dir": str(Path(run_dir).resolve())}
    steps = [(int(line["epoch"]), {k: float(v) for k, v in line.items() if k != "epoch" and _number(v)})
             for line in log.lines("metrics.jsonl")]
    metrics = {f"final_{k}": float(v) for k, v in final.items() if k not in ("cells", "confusion") and _number(v)}
    if not proxy:
        metrics.update({metric_key(tuple(c["key"])): float(c["value"]) for c in final.get("cells", [])})
    return Record(key=run_key(record, run_dir), run_name=record["experiment"], tags=tags, metrics=metrics,
                  params={k: str(v)[:500] for k, v in _flat({**record.get("config", {}),
                                                              **_speed_params(record)}).items()}, steps=steps,
                  artifacts={"run.json": {k: v for k, v in record.items() if k not in _VOLATILE},
                             "final.json": final,
                             "checkpoint_path.txt": str((Path(run_dir) / "checkpoint.pt").resolve())})


def push(run_dir: Path, uri: str | None = None) -> str:
    """Send a finished run folder to MLflow as one run, once (again: skipped, or replaced when the folder's
    results changed); returns the MLflow run id."""
    record = as_record(run_dir)
    uri = tracking_uri(uri)
    run_id = log_record(record, uri)
    RunLog(Path(run_dir)).update(pushed=True, mlflow_run=run_id, tracking_uri=uri)
    return run_id


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _speed_params(record: dict[str, Any]) -> dict[str, Any]:
    """How the run used its device (batch and its rule, the scaled lr, precision, layout, compile), as params."""
    return {"speed": record["speed"]} if isinstance(record.get("speed"), dict) else {}


def _flat(mapping: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


__all__ = ["RunLog", "as_record", "push", "run_key"]
