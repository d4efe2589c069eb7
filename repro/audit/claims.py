"""The paper audit: each claim and relation evaluated against the paper's own tables."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable, Mapping

from .expr import Expression, Interval
from .papers import CellKey, Claim, Paper, Tolerance
from .numbers import Printed

DEFAULT_APPROX = Tolerance(rel=0.10)

# For inequalities the stated number is a bound, not a rounded measurement: "over 10x" means > 10.
_EPS = 1e-9  # float noise: 73.205 - 69.95 is 3.2549999999999955


def _slack(bound: float) -> float:
    return _EPS * max(1.0, abs(bound))


_INEQUALITIES: dict[str, Callable[[Interval, float], bool]] = {
    "gt": lambda c, bound: c.hi > bound + _slack(bound),
    "ge": lambda c, bound: c.hi >= bound - _slack(bound),
    "lt": lambda c, bound: c.lo < bound - _slack(bound),
    "le": lambda c, bound: c.lo <= bound + _slack(bound),
}
OP_WORDS = {"eq": "=", "approx": "≈", "gt": ">", "ge": "≥", "lt": "<", "le": "≤"}


@dataclass(frozen=True)
class Finding:
    """The outcome of checking one claim. `consistent` is None when the claim cannot be checked."""

    claim: Claim
    stated: Interval
    computed: Interval | None
    consistent: bool | None
    explanation: str

    @property
    def status(self) -> str:
        return {True: "consistent", False: "inconsistent", None: "unchecked"}[self.consistent]

    def as_json(self) -> dict[str, Any]:
        c = self.claim
        return {
            "paper": c.paper, "id": c.id, "kind": c.kind, "claim": c.quote, "where": c.where,
            "stated": self.stated.mid, "stated_printed": c.stated_text, "unit": c.unit, "op": c.op,
            "computed": None if self.computed is None else self.computed.mid,
            "computed_range": None if self.computed is None else [self.computed.lo, self.computed.hi],
            "expr": None if c.expr is None else c.expr.text,
            "consistent": self.consistent, "status": self.status, "explanation": self.explanation,
            "reading": c.reading, "note": c.note, "source": c.source,
        }


def published_lookup(paper: Paper) -> dict[CellKey, Interval]:
    """Each printed cell as the interval it rounds from."""
    return {cell.key: _interval(cell.printed_number()) for cell in paper.cells()}


def _interval(printed: Printed) -> Interval:
    lo, hi = printed.bounds()
    return Interval(lo, printed.value, hi)


def _stated_interval(claim: Claim, lookup: Mapping[CellKey, Interval]) -> Interval:
    if isinstance(claim.stated, Printed):
        return _interval(claim.stated)
    assert isinstance(claim.stated, Expression)
    return claim.stated.evaluate(lookup)


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1e4 else f"{x:,.0f}"


def check(claim: Claim, lookup: Mapping[CellKey, Interval]) -> Finding:
    """Evaluate one claim over `lookup` (published cells, or measured ones)."""
    stated = _stated_interval(claim, lookup)
    if claim.expr is None:
        return Finding(claim, stated, None, None, f"unchecked: {claim.unchecked}")
    computed = claim.expr.evaluate(lookup)
    shown = f"computed {_fmt(computed.mid)} (range {_fmt(computed.lo)}…{_fmt(computed.hi)})"
    if claim.op in _INEQUALITIES:
        ok = _INEQUALITIES[claim.op](computed, stated.mid)
        return Finding(claim, stated, computed, ok,
                       f"{shown} {'satisfies' if ok else 'violates'} {OP_WORDS[claim.op]} {_fmt(stated.mid)}")
    if claim.op == "approx":
        # "About 7%" is judged against 7 itself: the tolerance already covers the rounding.
        tol = claim.tolerance or DEFAULT_APPROX
        allowed = tol.allowed(stated.mid)
        gap = computed.distance(Interval.exact(stated.mid))
        ok = gap <= allowed + _slack(allowed)
        return Finding(claim, stated, computed, ok,
                       f"{shown} is {_fmt(gap)} from {claim.stated_text}; 'about' allows {_fmt(allowed)}")
    gap = computed.distance(stated)
    if claim.tolerance is not None:
        allowed = claim.tolerance.allowed(stated.mid)
        ok = gap <= allowed + _slack(allowed)
        return Finding(claim, stated, computed, ok,
                       f"{shown} is {_fmt(gap)} from the stated range; the claim allows {_fmt(allowed)}")
    ok = gap <= _slack(stated.mid)
    rounding = "overlaps" if ok else f"misses by {_fmt(gap)}"
    return Finding(claim, stated, computed, ok,
                   f"{shown} {rounding} the stated {_fmt(stated.lo)}…{_fmt(stated.hi)}")


def audit_paper(paper: Paper) -> list[Finding]:
    lookup = published_lookup(paper)
    return [check(claim, lookup) for claim in paper.claims]


def ordered(findings: list[Finding]) -> list[Finding]:
    """Inconsistencies first, then consistent, then unchecked, then alternative readings."""
    rank = {False: 0, True: 1, None: 2}
    return sorted(findings, key=lambda f: (f.claim.reading == "alternative", rank[f.consistent]))
