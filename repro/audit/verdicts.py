"""Verdicts: a published cell against a measured value."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .papers import KINDS, Cell, Tolerance

REPRODUCED, DEVIATES, NOT_MEASURED = "reproduced", "deviates", "not measured"
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


@dataclass(frozen=True)
class Measurement:
    """A measured value for one cell, with where it came from (git commit, command, machine,
    device, library versions, time, MLflow run)."""

    value: float
    provenance: dict[str, Any] = field(default_factory=dict)
    proxy: bool = False
    second_opinion: float | None = None  # a second counter's value (costs), shown when it disagrees


@dataclass(frozen=True)
class Verdict:
    status: str
    published: float | None
    measured: float | None = None
    delta: float | None = None
    relative: float | None = None
    allowed: float | None = None
    reason: str | None = None
    measurement: Measurement | None = None

    def label(self) -> str:
        if self.status == DEVIATES:
            rel = f" ({self.relative:+.1%})" if self.relative is not None else ""
            return f"deviates by {self.delta:+.4g}{rel}"
        return self.status


@lru_cache(maxsize=1)
def default_tolerances() -> dict[str, Tolerance]:
    data = yaml.safe_load(resources.files("repro.audit").joinpath("tolerances.yaml").read_text())
    missing = set(KINDS) - set(data)
    if missing:
        raise ValueError(f"repro/audit/tolerances.yaml: every kind needs a tolerance; missing {sorted(missing)}")
    return {kind: Tolerance(**data[kind]) for kind in KINDS}


def tolerance_for(cell: Cell) -> Tolerance:
    return cell.tolerance or default_tolerances()[cell.kind]


def judge(cell: Cell, measured: Measurement | None, reason: str | None = None) -> Verdict:
    """Judge `cell` against `measured`. Without a measurement the verdict says why not.

    A proxy measurement (synthetic data or a shrunken model) never reproduces a published cell.
    """
    if measured is None or measured.proxy:
        why = reason or default_reason(cell)
        if measured is not None:
            why = f"only a proxy run exists ({why})"
        return Verdict(NOT_MEASURED, cell.value, reason=why, measurement=measured)
    if cell.value is None:
        return Verdict(NOT_MEASURED, None, measured.value, reason="the paper printed no value",
                       measurement=measured)
    allowed = max(tolerance_for(cell).allowed(cell.value), cell.half_unit)
    delta = measured.value - cell.value
    relative = delta / cell.value if cell.value else None
    status = REPRODUCED if abs(delta) <= allowed + 1e-12 else DEVIATES
    return Verdict(status, cell.value, measured.value, delta, relative, allowed, measurement=measured)


def default_reason(cell: Cell) -> str:
    """Why a cell has no measurement yet, from what kind of number it is and what it needs."""
    dataset = cell.conditions.get("dataset")
    cited = _CITATION.search(cell.row)
    if cited:
        return (f"reported from another paper ({cited.group(0)}); the suite measures the paper's own "
                f"models and backbones")
    if cell.kind == "accuracy":
        needs = f"needs {dataset}" if dataset else "needs the paper's dataset"
        return f"{needs}, a GPU and training or pretrained weights; no run recorded"
    if cell.kind in ("params", "flops"):
        return "no cost measurement recorded for this cell"
    if cell.kind in ("time", "ratio"):
        return "no runtime measurement recorded for this cell"
    return "not a measurable quantity of a model (e.g. a count the paper chose)"
