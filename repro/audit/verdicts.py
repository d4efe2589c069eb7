"""Verdicts: a published cell against a measured value.

A cell is reproduced, deviates, is reproduced only under the paper's counting convention (the measured
value deviates, but the same model counted the way the paper's source counts matches), or is not measured,
and then the verdict says why, by cause: cited from another paper, needs the dataset and a GPU, or not
measurable here. A deviating cell may also match another configuration of the model (`matches`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

from .papers import KINDS, Cell, Tolerance

REPRODUCED, DEVIATES, NOT_MEASURED = "reproduced", "deviates", "not measured"
CONVENTION = "reproduced under the paper's counting convention"
VERDICT_SHORT = {REPRODUCED: "reproduced", DEVIATES: "deviates", NOT_MEASURED: "not measured",
                 CONVENTION: "convention"}  # for a narrow column or a CSS class
# Why a cell is not measured.
CITED, NEEDS_DATA, PENDING, NOT_MEASURABLE = "cited", "needs data", "pending", "not measurable"
CAUSE_WORDS = {CITED: "cited from another paper", NEEDS_DATA: "needs the dataset and a GPU",
               PENDING: "not measured yet", NOT_MEASURABLE: "not measurable here"}
CAUSE_BADGE = {CITED: "cited", NEEDS_DATA: "needs data", PENDING: "not yet measured", NOT_MEASURABLE: "not measurable"}
CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")


@dataclass(frozen=True)
class Measurement:
    """A measured value for one cell, with where it came from (git commit, command, machine,
    device, library versions, time, MLflow run)."""

    value: float
    provenance: dict[str, Any] = field(default_factory=dict)
    proxy: bool = False
    second_opinion: float | None = None  # a second counter's value (costs), shown when it disagrees
    alternative: float | None = None  # the value of the cell's declared alternative (costs.yaml)
    videos: tuple[int, int] | None = None  # a trained result: (test videos it covers, test videos in the split)


@dataclass(frozen=True)
class Reason:
    """Why a cell has no measurement: a cause (CITED, NEEDS_DATA, PENDING: measurable here but not yet run,
    NOT_MEASURABLE) and the sentence."""

    cause: str
    text: str


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
    cause: str | None = None  # for NOT_MEASURED: CITED, NEEDS_DATA, PENDING or NOT_MEASURABLE
    matches: str | None = None  # the label of the declared alternative whose value reproduces the cell
    matches_kind: str | None = None  # "convention" (then status is CONVENTION) or "configuration"

    @property
    def alternative_value(self) -> float | None:
        return self.measurement.alternative if self.measurement else None

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


def allowed_for(cell: Cell) -> float:
    """How far a measured value may lie from the printed one and still reproduce it."""
    return max(tolerance_for(cell).allowed(cell.value), cell.half_unit)


def judge(cell: Cell, measured: Measurement | None, reason: Reason | None = None,
          alternative: Any = None) -> Verdict:
    """Judge `cell` against `measured`. Without a measurement the verdict says why, by cause.

    A proxy measurement (synthetic data or a shrunken model) never reproduces a published cell. When the
    measured value deviates but `measured.alternative`, the value of the cell's declared `alternative`
    (repro.measure.costs.Alternative: kind and label), reproduces it, the verdict says so: CONVENTION for the same
    model counted the paper's way, DEVIATES with `matches` for another configuration. Both numbers stay.
    """
    if measured is None or measured.proxy:
        why = reason or default_reason(cell)
        text = why.text if measured is None else f"only a proxy run exists ({why.text})"
        return Verdict(NOT_MEASURED, cell.value, reason=text, measurement=measured, cause=why.cause)
    if cell.value is None:
        return Verdict(NOT_MEASURED, None, measured.value, reason="the paper printed no value",
                       measurement=measured, cause=NOT_MEASURABLE)
    allowed = allowed_for(cell)
    delta = measured.value - cell.value
    relative = delta / cell.value if cell.value else None
    common = dict(published=cell.value, measured=measured.value, delta=delta, relative=relative, allowed=allowed,
                  measurement=measured)
    if _within(cell, measured.value, allowed):
        return Verdict(REPRODUCED, **common)
    if alternative is not None and measured.alternative is not None \
            and _within(cell, measured.alternative, allowed):
        status = CONVENTION if alternative.kind == "convention" else DEVIATES
        return Verdict(status, matches=alternative.label, matches_kind=alternative.kind, **common)
    return Verdict(DEVIATES, **common)


def _within(cell: Cell, value: float, allowed: float) -> bool:
    """Whether `value` reproduces the cell: within `allowed` of it, or on the right side of a printed bound
    (">107.9" holds for anything above 107.9 less the tolerance)."""
    if cell.qualifier in (">", "≥"):
        return value >= cell.value - allowed - 1e-12
    if cell.qualifier in ("<", "≤"):
        return value <= cell.value + allowed + 1e-12
    return abs(value - cell.value) <= allowed + 1e-12


def default_reason(cell: Cell) -> Reason:
    """Why a cell has no measurement yet, from what kind of number it is and what it needs."""
    dataset = cell.conditions.get("dataset")
    cited = CITATION.search(cell.row)
    if cited:
        return Reason(CITED, f"reported from another paper ({cited.group(0)}); the suite measures the paper's own "
                             f"models and backbones")
    if cell.kind == "accuracy":
        needs = f"needs {dataset}" if dataset else "needs the paper's dataset"
        return Reason(NEEDS_DATA, f"{needs}, a GPU and training or pretrained weights; no run recorded")
    if cell.kind in ("params", "flops"):
        return Reason(NOT_MEASURABLE, "no cost measurement recorded for this cell")
    if cell.kind in ("time", "ratio"):
        return Reason(NOT_MEASURABLE, "no runtime measurement recorded for this cell")
    return Reason(NOT_MEASURABLE, "not a measurable quantity of a model (e.g. a count the paper chose)")
