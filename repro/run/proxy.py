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


HELD, NOT_HELD, INCONCLUSIVE = "held", "did not hold", "inconclusive"
SIGNIFICANCE = 0.05  # a difference counts when McNemar's exact test gives p below this


@dataclass
class ProxyOutcome:
    """A check's outcome: HELD where the claimed model is better on the same test videos beyond chance,
    NOT_HELD where the other is, INCONCLUSIVE where the test videos cannot tell them apart."""

    verdict: str
    values: dict[str, float]
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def held(self) -> bool:
        return self.verdict == HELD


@dataclass(frozen=True)
class Paired:
    """Two models' top-1 compared video by video on the same test videos: the videos only A gets right, only
    B gets right, and McNemar's exact two-sided p-value (repro.engine.metrics.exact_mcnemar)."""

    a_only: int
    b_only: int
    videos: int
    p_value: float | None  # None: a run recorded no per-video results (run before they were kept)

    @property
    def verdict(self) -> str:
        if self.p_value is None or self.p_value >= SIGNIFICANCE or self.a_only == self.b_only:
            return INCONCLUSIVE
        return HELD if self.a_only > self.b_only else NOT_HELD

    def words(self, a: str, b: str) -> str:
        """"GCF-Net right on 9 test videos D-Clips misses, D-Clips on 2 GCF-Net misses (McNemar p = 0.065)"."""
        if self.p_value is None:
            return "no per-video results recorded, so no paired test (runs from an older version: rerun them)"
        return (f"{a} right on {self.a_only} test video{'' if self.a_only == 1 else 's'} {b} misses, {b} on "
                f"{self.b_only} {a} misses (McNemar p = {self.p_value:.2g})")

    def values(self, prefix: str) -> dict[str, float]:
        if self.p_value is None:
            return {}
        return {f"{prefix}.a_only": float(self.a_only), f"{prefix}.b_only": float(self.b_only),
                f"{prefix}.p_value": self.p_value}


def paired(a: dict, b: dict) -> Paired:
    """Compare two evaluations (repro.engine.loop.evaluate) video by video. Raises ValueError when they were
    not on the same test videos."""
    from ..engine.metrics import exact_mcnemar

    if "per_video" not in a or "per_video" not in b:
        return Paired(0, 0, int(a.get("videos", 0)), None)
    right_a, right_b = dict(map(tuple, a["per_video"])), dict(map(tuple, b["per_video"]))
    if right_a.keys() != right_b.keys():
        raise ValueError(f"a paired comparison needs the same test videos; got {len(right_a)} and {len(right_b)} "
                         f"({len(right_a.keys() ^ right_b.keys())} differ)")
    a_only = sum(1 for i in right_a if right_a[i] and not right_b[i])
    b_only = sum(1 for i in right_a if right_b[i] and not right_a[i])
    return Paired(a_only, b_only, len(right_a), exact_mcnemar(a_only, b_only))


def all_of(*verdicts: str) -> str:
    """A claim made of several comparisons: held when each holds, not held when any does not."""
    if NOT_HELD in verdicts:
        return NOT_HELD
    return HELD if all(v == HELD for v in verdicts) else INCONCLUSIVE


def without_confusion(runs: dict[str, dict]) -> dict[str, dict]:
    """Each run's final metrics without its confusion matrix and per-video results: the outcome's details keep
    those apart."""
    from ..engine.metrics import PER_VIDEO

    return {name: {k: v for k, v in result.items() if k not in PER_VIDEO} for name, result in runs.items()}


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
            "repro.proxy_check": check.id, "repro.outcome": outcome.verdict, "repro.held": str(outcome.held).lower(),
            "repro.summary": outcome.summary[:4000]}
    metrics = {**{f"proxy/{k}": float(v) for k, v in outcome.values.items()}, "proxy/seconds": seconds}
    details = {"claim": check.claim, "source": check.source, "verdict": outcome.verdict, "held": outcome.held,
               "summary": outcome.summary,
               "values": outcome.values, "details": outcome.details}
    record = Record(key=f"proxy-check/{paper.id}/{check.id}/{uuid.uuid4().hex}",
                    run_name=f"{paper.id}-proxy-{check.id}", tags=tags, metrics=metrics,
                    artifacts={"proxy_check.json": json.loads(json.dumps(details, default=str))})
    return log_or_keep(record, uri)


@dataclass(frozen=True)
class LoggedOutcome:
    check_id: str
    verdict: str
    summary: str
    values: dict[str, float]
    seconds: float | None
    provenance: dict[str, str]
    paired_test: bool = True  # False: logged before paired tests, the verdict compares top-1 alone

    @property
    def held(self) -> bool:
        return self.verdict == HELD


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
        # a run logged before paired tests has only repro.held, a comparison of top-1 alone
        verdict = run.data.tags.get("repro.outcome") or (HELD if run.data.tags.get("repro.held") == "true"
                                                          else NOT_HELD)
        found[check_id] = LoggedOutcome(check_id, verdict,
                                        run.data.tags.get("repro.summary", ""), values,
                                        run.data.metrics.get("proxy/seconds"), _origin(run),
                                        paired_test="repro.outcome" in run.data.tags)
    return found


def outcome_json(check: ProxyCheck, outcome: ProxyOutcome, seconds: float) -> str:
    return json.dumps({"check": check.id, "verdict": outcome.verdict, "held": outcome.held, "summary": outcome.summary,
                       "values": outcome.values, "seconds": round(seconds, 1)})
