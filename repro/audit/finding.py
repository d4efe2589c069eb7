"""A finding: one root cause, with its severity, its size in the paper's units and the evidence it explains
(repro.audit.findings computes them)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .claims import Recheck
from .numbers import decimals_for, show, with_unit
from .papers import CellKey
from .severity import CANNOT_CHECK, QUOTED, SEVERITIES


@dataclass(frozen=True)
class Size:
    """How far a printed number is from what it should be: expected minus printed, as point values."""

    printed: float
    expected: float
    unit: str
    decimals: int
    proportional: bool = False  # a cost: shown with its relative gap, and as a factor when far off

    @property
    def difference(self) -> float:
        return self.expected - self.printed

    @property
    def ratio(self) -> float | None:
        return self.expected / self.printed if self.printed and self.expected / self.printed > 0 else None

    @property
    def far(self) -> bool:
        """A cost off by a factor of 1.5 or more either way, shown as that factor."""
        return self.proportional and self.ratio is not None and (self.ratio >= 1.5 or self.ratio <= 1 / 1.5)

    def text(self) -> str:
        """The difference in the paper's units, "+0.4 GFLOPs", "−0.2 pp" (a difference of percentages is in
        points), "+0.15" (of a ratio printed as "1.3×": a difference of ratios is a plain number), a cost with
        its relative gap, "+2,940 MFLOPs (+43%)", "+0.411 M (+0.8%)", or for a cost far from its printed value
        the factor, "×8.0"."""
        if self.far:
            return f"×{show(self.ratio, decimals_for(self.ratio, 2))}"
        text = show(self.difference, self.decimals, signed=True)
        if "." in text:  # "+1.60" reads as "+1.6": the digits shown are the difference's, not a printed number's
            text = text.rstrip("0").rstrip(".")
        unit = "pp" if self.unit == "%" and not self.proportional else ("" if self.unit == "x" else self.unit)
        percent = 100 * self.difference / self.printed if self.printed else 0.0
        # one decimal under 10%: a 0.85% gap against a 0.5% tolerance must not read "+1%"
        relative = f" ({show(percent, 1 if abs(percent) < 10 else 0, signed=True)}%)" \
            if self.proportional and self.printed else ""
        return with_unit(text, unit) + relative

    def as_json(self) -> dict[str, Any]:
        return {"printed": self.printed, "expected": self.expected, "difference": round(self.difference, 10),
                "unit": self.unit, "text": self.text()}


ONE_READING = "holds under one reading"  # the cause of a sentence that fails as first read, holds as another


@dataclass(frozen=True)
class Finding:
    """One root cause. `claims` fail on the printed tables, `deviating` cells deviate from their measured
    values, `measured_claims` fail on the measured values; `cells` are the cells it is about and `inputs`
    the cells its failing claims read."""

    id: str
    severity: str
    cause: str
    title: str
    size: Size | None = None
    claims: tuple[str, ...] = ()
    measured_claims: tuple[str, ...] = ()
    deviating: tuple[CellKey, ...] = ()
    cells: tuple[CellKey, ...] = ()
    inputs: tuple[CellKey, ...] = ()
    detail: str = ""
    source: str = "computed"
    rechecks: tuple[Recheck, ...] = ()  # the claims reading `rechecked_cells`, checked again with other numbers
    rechecked_with: str = ""  # whose numbers those are: "the text's", "the source's"
    rechecked_cells: tuple[CellKey, ...] = ()

    @property
    def symptoms(self) -> int:
        """What fails and this finding explains (an unchecked sentence fails nothing)."""
        unchecked_claims = len(self.claims) if self.cause == CANNOT_CHECK else 0
        return len(self.claims) - unchecked_claims + len(self.measured_claims) + len(self.deviating)

    @property
    def severity_words(self) -> str:
        return SEVERITIES[self.severity]

    @property
    def size_label(self) -> str:
        """The words before the size, so it never reads as part of the sentence before it ("69.01 −0.06 pp")."""
        if self.size is None:
            return ""
        if self.severity == QUOTED:  # nothing shows the quotation wrong: the gap is what our build measures
            return "measured"
        if self.size.far:
            return "should be"
        return "first reading off by" if self.cause == ONE_READING else "off by"

    @property
    def size_words(self) -> str:
        """"off by +0.4 GFLOPs", "should be ×8.0"; "" without a size."""
        return f"{self.size_label} {self.size.text()}" if self.size else ""

    @property
    def size_meaning(self) -> str:
        """What the size shown beside the finding measures, for a reader who hovers over it."""
        if self.size is None:
            return ""
        if self.severity == QUOTED:
            return "what our build of the cited model measures minus what the paper quoted, in its units"
        if self.size.far:
            return "what the number should be, as a multiple of what the paper printed"
        if self.cause == ONE_READING:
            return "how far the first reading misses: what it gives minus what the paper printed, in its units"
        return ("what the number should be (what the paper's other numbers imply, or the measurement) minus what "
                "the paper printed, in its units")

    @property
    def recheck_lines(self) -> tuple[str, ...]:
        """One line per claim read again, shown under the finding."""
        return tuple(r.line("the tables' numbers", self.rechecked_with) for r in self.rechecks)

    @property
    def recheck_summary(self) -> str:
        """The claims read again, in one line (repro findings)."""
        return "".join(text for text, _ in self.recheck_parts())

    def recheck_parts(self) -> list[tuple[str, str | None]]:
        """The claims read again, as (text, claim id or None) pieces that a page can link: "with the source's
        number, beats-a no longer holds; the other 2 keep their verdicts", or where nothing changes "with the
        text's number, the 3 claims that read it keep their verdicts: a, b, c"; [] when nothing was read again."""
        if not self.rechecks:
            return []
        changed = [r for r in self.rechecks if r.changed]
        kept = [r for r in self.rechecks if not r.changed]
        several = len(self.rechecked_cells) > 1
        parts: list[tuple[str, str | None]] = [
            (f"with {self.rechecked_with} number{'s' if several else ''}, ", None)]
        for i, r in enumerate(changed):
            parts += [("; " if i else "", None), (r.claim.id, r.claim.id), (f" {r.change}", None)]
        if changed:
            if kept:
                parts.append((f"; the other {len(kept)} {'keeps its verdict' if len(kept) == 1 else 'keep theirs'}",
                              None))
            return parts
        kinds = " and ".join(k + "s" for k in sorted({r.claim.kind for r in kept}))
        parts.append((f"the one {kept[0].claim.kind} that reads {'them' if several else 'it'} keeps its verdict: "
                      if len(kept) == 1 else
                      f"the {len(kept)} {kinds} that read {'them' if several else 'it'} keep their verdicts: ", None))
        for i, r in enumerate(kept):
            parts += [(", " if i else "", None), (r.claim.id, r.claim.id)]
        return parts

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "severity_words": self.severity_words,
                "cause": self.cause, "title": self.title, "size": self.size.as_json() if self.size else None,
                "size_meaning": self.size_meaning,
                "claims": list(self.claims), "measured_claims": list(self.measured_claims),
                "deviating_cells": [list(k) for k in self.deviating], "cells": [list(k) for k in self.cells],
                "inputs": [list(k) for k in self.inputs], "detail": self.detail, "source": self.source,
                "rechecked_with": self.rechecked_with,
                "rechecked_cells": [list(k) for k in self.rechecked_cells],
                "rechecks": [{"claim": r.claim.id, "before": r.before, "after": r.after} for r in self.rechecks]}


def slug(*parts: str) -> str:
    text = "-".join(parts).lower()
    out = "".join(ch if ch.isalnum() else "-" for ch in text)
    return "-".join(filter(None, out.split("-")))[:80]
