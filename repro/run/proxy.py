"""Proxy checks: each paper's qualitative claim, tested with its own (shrunk) models on synthetic data.

A check lives in `papers/<id>/proxy.py` as `CHECKS = [ProxyCheck(...)]`. It trains what it compares,
usually through `repro run <experiment> --proxy` (`run_proxy` below), and returns a `ProxyOutcome`:
whether the claim held on proxy data, the numbers, and one sentence. Outcomes are logged to MLflow as
proxy runs and shown in their own report section. They are never a reproduction of a published number,
and a claim that does not hold is reported as such.
"""
from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..audit.papers import Paper


@dataclass
class ProxyOutcome:
    held: bool
    values: dict[str, float]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def without_confusion(runs: dict[str, dict]) -> dict[str, dict]:
    """Each run's final metrics without its confusion matrix: the outcome's details keep those apart."""
    return {name: {k: v for k, v in result.items() if k != "confusion"} for name, result in runs.items()}


@dataclass(frozen=True)
class ProxyCheck:
    id: str
    claim: str     # the paper's claim, as a sentence
    source: str    # where the paper makes it (table, section)
    run: Callable[[ProxyContext], ProxyOutcome]


@dataclass
class ProxyContext:
    paper: Paper
    out_dir: Path
    uri: str | None = None
    show_progress: bool = False

    def run_proxy(self, experiment_id: str, **overrides: Any) -> dict:
        """`repro run <paper>/<experiment_id> --proxy`: returns the final evaluation (top1, loss, ...)."""
        from .experiments import find
        from .runner import run_experiment

        experiment = find(f"{self.paper.id}/{experiment_id}", [self.paper])
        return run_experiment(experiment, proxy=True, out_dir=self.out_dir, uri=self.uri,
                              show_progress=self.show_progress, **overrides)


def checks(paper: Paper) -> list[ProxyCheck]:
    try:
        module = importlib.import_module(f"papers.{paper.id}.proxy")
    except ModuleNotFoundError as exc:
        if exc.name in ("papers", f"papers.{paper.id}", f"papers.{paper.id}.proxy"):
            return []  # a paper without proxy checks (or declared outside the installed papers package)
        raise
    return list(module.CHECKS)


def run_checks(paper: Paper, out_dir: Path, uri: str | None = None, only: str | None = None,
               show_progress: bool = False, kept: list | None = None) -> list[tuple[ProxyCheck, ProxyOutcome, float]]:
    """Run the paper's proxy checks and log each outcome; returns (check, outcome, seconds). With a `kept`
    list, an outcome the store did not take is appended there (pending.Kept) and the next check runs."""
    return list(each_check(paper, out_dir, uri, only, show_progress, kept))


def each_check(paper: Paper, out_dir: Path, uri: str | None = None, only: str | None = None,
               show_progress: bool = False, kept: list | None = None,
               starting: Callable[[ProxyCheck], None] | None = None,
               ) -> Iterator[tuple[ProxyCheck, ProxyOutcome, float]]:
    """As run_checks, yielding each outcome as soon as it is logged; `starting` hears of each check first."""
    from ..store.pending import Kept

    for check in checks(paper):
        if only and check.id != only:
            continue
        if starting is not None:
            starting(check)
        began = time.perf_counter()
        outcome = check.run(ProxyContext(paper, Path(out_dir), uri, show_progress))
        seconds = time.perf_counter() - began
        try:
            log_outcome(paper, check, outcome, seconds, uri)
        except Kept as exc:
            if kept is None:
                raise
            kept.append(exc)
        yield check, outcome, seconds


def log_outcome(paper: Paper, check: ProxyCheck, outcome: ProxyOutcome, seconds: float,
                uri: str | None = None) -> str:
    """One MLflow run per check outcome; raises pending.Kept (the file keeping it) when the store does not
    take it."""
    import uuid

    from ..store.pending import log_or_keep
    from ..store.backend import Record
    from ..store.tracking import provenance

    tags = {**provenance(), "repro.paper": paper.id, "repro.kind": "proxy-check", "repro.run.proxy": "true",
            "repro.proxy_check": check.id, "repro.held": str(outcome.held).lower(),
            "repro.summary": outcome.summary[:4000]}
    metrics = {**{f"proxy/{k}": float(v) for k, v in outcome.values.items()}, "proxy/seconds": seconds}
    details = {"claim": check.claim, "source": check.source, "held": outcome.held, "summary": outcome.summary,
               "values": outcome.values, "details": outcome.details}
    record = Record(key=f"proxy-check/{paper.id}/{check.id}/{uuid.uuid4().hex}",
                    run_name=f"{paper.id}-proxy-{check.id}", tags=tags, metrics=metrics,
                    artifacts={"proxy_check.json": json.loads(json.dumps(details, default=str))})
    return log_or_keep(record, uri)


@dataclass(frozen=True)
class LoggedOutcome:
    check_id: str
    held: bool
    summary: str
    values: dict[str, float]
    seconds: float | None
    provenance: dict[str, str]


def load_outcomes(paper: Paper, uri: str | None = None) -> dict[str, LoggedOutcome]:
    """The latest logged outcome of each of the paper's proxy checks."""
    from ..store.tracking import _origin, finished_runs, store_client

    client, experiment_id = store_client(uri)
    if client is None:
        return {}
    runs = finished_runs(client, experiment_id, f"tags.`repro.paper` = '{paper.id}' and "
                                                f"tags.`repro.kind` = 'proxy-check'", max_results=500)
    found: dict[str, LoggedOutcome] = {}
    for run in runs:
        check_id = run.data.tags.get("repro.proxy_check", "?")
        if check_id in found:
            continue
        values = {k[6:]: v for k, v in run.data.metrics.items() if k.startswith("proxy/") and k != "proxy/seconds"}
        found[check_id] = LoggedOutcome(check_id, run.data.tags.get("repro.held") == "true",
                                        run.data.tags.get("repro.summary", ""), values,
                                        run.data.metrics.get("proxy/seconds"), _origin(run))
    return found


def outcome_json(check: ProxyCheck, outcome: ProxyOutcome, seconds: float) -> str:
    return json.dumps({"check": check.id, "held": outcome.held, "summary": outcome.summary,
                       "values": outcome.values, "seconds": round(seconds, 1)})
