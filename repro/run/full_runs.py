"""`repro reproduce --data-root ...`: every experiment of a paper on the real data, in dependency order.

An experiment depends on the experiments of its paper that its `pipeline_args` name (e.g. FASTER's
`expensive_from: r2p1d50-l8`, a stage-1 run whose checkpoint stage 2 loads), so those run first. A run
that fails is reported and the others go on; what depends on it is skipped with the reason. With
`--resume` a finished run is kept as it is and an interrupted one continues from its checkpoint.
"""
from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from ..data.layouts import LAYOUTS
from .experiments import Experiment, dependencies, ordered
from ..store.runlog import RunLog

FINISHED, RAN, FAILED, SKIPPED = "finished before", "ran", "failed", "skipped"


@dataclass
class Outcome:
    experiment: Experiment
    status: str
    detail: str = ""  # the metric for a run, the reason for a failure or a skip


def parse_data_roots(values: Sequence[str]) -> dict[str | None, Path]:
    """`--data-root DIR` (every dataset of the paper under one root) or repeated `--data-root LAYOUT=DIR`."""
    roots: dict[str | None, Path] = {}
    for value in values:
        layout, sep, path = value.partition("=")
        if sep and layout in LAYOUTS:
            roots[layout] = Path(path)
        elif sep and "/" not in layout:
            raise ValueError(f"--data-root {value!r}: unknown layout {layout!r}; expected DIR or LAYOUT=DIR with "
                             f"LAYOUT one of {', '.join(LAYOUTS)}")
        else:
            roots[None] = Path(value)
    for given, root in roots.items():  # before any run starts, not as one traceback per experiment
        if not root.is_dir():
            where = f"{given}={root}" if given else str(root)
            raise ValueError(f"--data-root {where}: {root} is {'a file' if root.exists() else 'not there'}; "
                             f"expected a folder")
    return roots


def root_for(experiment: Experiment, roots: dict[str | None, Path]) -> Path | None:
    return roots.get(experiment.layout, roots.get(None))


def run_all(experiments: Sequence[Experiment], roots: dict[str | None, Path], *, out_dir: Path,
            resume: bool = False, only: set[str] | None = None, report=print, **options: Any) -> list[Outcome]:
    """Run `experiments` in dependency order (run_experiment with `options`: device, uri, weights, ...)."""
    from .runner import run_experiment

    outcomes: dict[str, Outcome] = {}
    all_ids = {e.id for e in experiments}
    for experiment in ordered(experiments):
        if only is not None and experiment.id not in only:
            continue
        blocked = [d for d in dependencies(experiment, all_ids)
                   if d in outcomes and outcomes[d].status in (FAILED, SKIPPED)]
        root = root_for(experiment, roots)
        run_dir = Path(out_dir) / "runs" / experiment.paper / experiment.id
        record = RunLog(run_dir).read("run.json") or {}
        if blocked:
            outcome = Outcome(experiment, SKIPPED, f"needs {', '.join(blocked)}, which did not finish")
        elif root is None:
            outcome = Outcome(experiment, SKIPPED, f"no --data-root for the {experiment.layout} layout")
        elif resume and record.get("status") == "finished":
            final = RunLog(run_dir).read("final.json") or {}
            outcome = Outcome(experiment, FINISHED, f"{experiment.metric} {final.get(experiment.metric)}")
        else:
            report(f"{experiment.name}: running ({experiment.title})")
            try:
                final = run_experiment(experiment, data_root=root, resume=resume, out_dir=out_dir, **options)
                outcome = Outcome(experiment, RAN, f"{experiment.metric} {final.get(experiment.metric)}")
            except DataError as exc:  # the data is not as its layout says: the message says where, no traceback
                outcome = Outcome(experiment, FAILED, str(exc))
            except Exception as exc:  # noqa: BLE001 - one failed run is reported; the others go on
                outcome = Outcome(experiment, FAILED, f"{type(exc).__name__}: {exc}")
                report(f"{experiment.name}: failed\n{traceback.format_exc(limit=3)}")
        outcomes[experiment.id] = outcome
        report(f"{experiment.name}: {outcome.status} {outcome.detail}".rstrip())
    return list(outcomes.values())
