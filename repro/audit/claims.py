"""Claims checked against tables: each claim and relation of claims.yaml evaluated on the printed cells
(the audit) or on measured values.

On printed cells every number stands for the interval it rounds from, carried through the arithmetic. On
measured values every cell stands for its measured value plus or minus the tolerance its verdict uses
(`measured_lookup`), so a relation over measured values holds exactly when the cells it restates reproduce,
and float residue never makes it fail.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from .expr import REF, Expression, Interval
from .numbers import Printed, show
from .papers import CellKey, Claim, Paper, Tolerance
from .verdicts import CONVENTION, Verdict
from .words import short

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
class ClaimResult:
    """The outcome of checking one claim. `consistent` is None when the claim cannot be checked."""

    claim: Claim
    stated: Interval
    computed: Interval | None
    consistent: bool | None
    explanation: str
    decimals: int = 2  # the stated number's printed decimals, for showing the computed one beside it

    @property
    def status(self) -> str:
        return {True: "consistent", False: "inconsistent", None: "unchecked"}[self.consistent]

    @property
    def difference(self) -> float | None:
        """Computed minus stated, as point values: how far what the tables give lies from the paper's number
        (the sign of a cell's Δ, measured minus printed)."""
        if self.computed is None:
            return None
        return self.computed.mid - self.stated.mid

    def as_json(self) -> dict[str, Any]:
        c = self.claim
        return {
            "paper": c.paper, "id": c.id, "kind": c.kind, "claim": c.quote, "where": c.where,
            "stated": self.stated.mid, "stated_printed": c.stated_text, "unit": c.unit, "op": c.op,
            "computed": None if self.computed is None else self.computed.mid,
            "computed_range": None if self.computed is None else [self.computed.lo, self.computed.hi],
            "expr": None if c.expr is None else c.expr.text,
            "consistent": self.consistent, "status": self.status, "explanation": self.explanation,
            "reading": c.reading, "quantity": c.quantity, "note": c.note, "source": c.source,
        }


def restates_one_cell(claim: Claim) -> bool:
    """The claim's number is one cell as it stands ("FASTER32 costs 67.7 GFLOPs"), not computed from cells."""
    expr = claim.expr
    return expr is not None and len(expr.refs) == 1 and bool(REF.fullmatch(expr.text.strip()))


def computed_text(result: ClaimResult, paper: Paper, measured: bool = False) -> str:
    """What the tables give for a claim, as shown beside it: the printed cell itself when the claim restates one
    cell (the measured value, for a result on `measured` values); else the value at one digit more than the
    stated number (so a truncation shows), or at the printed precision of a relation's printed side."""
    if result.computed is None:
        return "—"
    if restates_one_cell(result.claim) and not measured:
        return paper.cell(*result.claim.expr.refs[0]).printed
    return show(result.computed.mid, result.decimals + (1 if result.claim.kind == "claim" else 0))


def published_lookup(paper: Paper) -> dict[CellKey, Interval]:
    """Each printed cell as the interval it rounds from."""
    return {cell.key: interval_of(cell.printed_number()) for cell in paper.cells()}


def measured_lookup(paper: Paper, verdicts: Mapping[CellKey, Verdict]) -> dict[CellKey, Interval]:
    """Printed cells, with every cell that has a full (non-proxy) measurement replaced by that value plus or
    minus the tolerance its verdict allows, so claims over it are judged as the cells are. A cell reproduced
    under the paper's counting convention enters with the value counted that way."""
    lookup = published_lookup(paper)
    lookup.update({key: Interval.around(v.alternative_value if v.status == CONVENTION else v.measured, v.allowed)
                   for key, v in verdicts.items()
                   if v.measured is not None and v.allowed is not None and not v.measurement.proxy})
    return lookup


def interval_of(printed: Printed) -> Interval:
    lo, hi = printed.bounds()
    return Interval(lo, printed.value, hi)


def _stated_interval(claim: Claim, lookup: Mapping[CellKey, Interval]) -> Interval:
    if isinstance(claim.stated, Printed):
        return interval_of(claim.stated)
    assert isinstance(claim.stated, Expression)
    return claim.stated.evaluate(lookup)


def stated_decimals(claim: Claim, paper: Paper | None = None) -> int:
    """The printed precision of the claim's stated side: its number's, or the finest of the cells it names."""
    if isinstance(claim.stated, Printed):
        if claim.stated.value == 0 and claim.op in _INEQUALITIES and paper is not None and claim.expr is not None:
            # an ordering ("A beats B") prints no number: what the tables give is shown at their cells' precision
            finest = max((paper.cell(*ref).printed_number().decimals for ref in claim.expr.refs), default=1)
            return max(finest - 1, 0)
        return claim.stated.decimals
    if paper is None:
        return 2
    return max((paper.cell(*ref).printed_number().decimals for ref in claim.stated.refs), default=0)


def check(claim: Claim, lookup: Mapping[CellKey, Interval], *, point_stated: bool = False,
          decimals: int | None = None) -> ClaimResult:
    """Evaluate one claim over `lookup` (published cells, or measured ones).

    `point_stated` judges against the stated number itself rather than the interval it rounds from: over
    measured values the tolerance already lives in the cells' intervals, so a claim that restates one cell
    agrees with that cell's verdict. A claim that computes its number keeps the rounding the sentence printed
    it with ("5%" is 4.5 to 5.5)."""
    stated = _stated_interval(claim, lookup)
    places = claim.stated.decimals if decimals is None and isinstance(claim.stated, Printed) else (decimals or 0)
    if claim.expr is None:
        return ClaimResult(claim, stated, None, None, f"unchecked: {claim.unchecked}", places)
    computed = claim.expr.evaluate(lookup)
    if point_stated and isinstance(claim.stated, Printed) and restates_one_cell(claim):
        stated = Interval.exact(stated.mid)
    shown = f"the tables give {show(computed.mid, places + 1)}"
    if not (math.isfinite(computed.lo) and math.isfinite(computed.hi)):  # any verdict would be vacuous
        bound = any(not math.isfinite(lookup[k].lo) or not math.isfinite(lookup[k].hi) for k in claim.expr.refs)
        why = "a cell it reads is printed as a bound ('>107.9')" if bound else "a divisor's printed digits reach zero"
        return ClaimResult(claim, stated, computed, None,
                           f"unchecked: {shown}, but {why}, so the printed numbers allow any value", places)
    if claim.op in _INEQUALITIES:
        ok = _INEQUALITIES[claim.op](computed, stated.mid)
        return ClaimResult(claim, stated, computed, ok,
                           f"{shown}, which {'satisfies' if ok else 'violates'} {OP_WORDS[claim.op]} "
                           f"{claim.stated_text}", places)
    if claim.op == "approx":
        # "About 7%" is judged against 7 itself: the tolerance already covers the rounding.
        tol = claim.tolerance or DEFAULT_APPROX
        allowed = tol.allowed(stated.mid)
        gap = computed.distance(Interval.exact(stated.mid))
        ok = gap <= allowed + _slack(allowed)
        return ClaimResult(claim, stated, computed, ok,
                           f"{shown}; 'about {claim.stated_text}' allows {show(allowed, places + 1)} either way",
                           places)
    gap = computed.distance(stated)
    allowed = claim.tolerance.allowed(stated.mid) if claim.tolerance is not None else 0.0
    ok = gap <= allowed + _slack(max(allowed, abs(stated.mid)))
    apart = show(computed.mid - stated.mid, places + 1, signed=True)
    said = claim.stated_text if isinstance(claim.stated, Printed) else f"printed side's {show(stated.mid, places)}"
    if ok:
        verdict = f"which agrees with the stated {said} within the printed precision" if not allowed \
            else f"which agrees with the stated {said} within the claim's tolerance"
    else:
        verdict = f"{apart} from the stated {said}, beyond the printed precision" + (
            f" and the claim's tolerance of {show(allowed, places + 1)}" if allowed else "")
    return ClaimResult(claim, stated, computed, ok, f"{shown}, {verdict}", places)


@dataclass(frozen=True)
class Recheck:
    """A claim checked on the printed cells (`before`) and with some cells read otherwise (`after`)."""

    claim: Claim
    before: bool | None
    after: bool | None

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def change(self) -> str:
        """"still holds", "no longer holds", "holds", "still fails"."""
        return ("still holds" if self.before else "holds") if self.after else (
            "no longer holds" if self.before else "still fails")

    def line(self, printed_words: str, other_words: str) -> str:
        """"Relation r (Sec. 4.3: “…”) holds with the tables' numbers and still holds with the text's."."""
        then = {True: "holds", False: "fails", None: "cannot be checked"}[self.before]
        claim = self.claim
        return (f"{claim.kind.capitalize()} {claim.id} ({claim.where or 'the text'}: “{short(claim.quote, 90)}”) "
                f"{then} with {printed_words} and {self.change} with {other_words}.")


def rechecked(paper: Paper, substitutes: Mapping[CellKey, Interval], printed: Mapping[CellKey, Interval],
            skip: Collection[str] = ()) -> list[Recheck]:
    """Each primary claim and relation that reads a substituted cell (but those in `skip`), checked on the
    printed cells and with `substitutes` in their place; those that cannot be checked with them are left out."""
    lookup = dict(printed) | dict(substitutes)
    out = []
    for claim in paper.claims:
        if claim.reading != "primary" or claim.expr is None or claim.id in skip \
                or not set(substitutes) & set(claim.refs):
            continue
        decimals = stated_decimals(claim, paper)
        after = check(claim, lookup, decimals=decimals).consistent
        if after is not None:
            out.append(Recheck(claim, check(claim, printed, decimals=decimals).consistent, after))
    return out


def harmless(paper: Paper, substitutes: Mapping[CellKey, float], rechecks: list[Recheck] | tuple[Recheck, ...]) -> bool:
    """Whether reading cells as `substitutes` instead of as printed is a minor mismatch: each lies within what a
    measurement of the cell may miss it by (repro/audit/tolerances.yaml), and the claims and relations that
    read the cells, of which there is at least one, keep their verdicts."""
    from .verdicts import allowed_for

    def small(key: CellKey, value: float) -> bool:
        cell = paper.cell(*key)
        return abs(value - cell.value) <= allowed_for(cell) * (1 + 1e-9) + 1e-12  # 77.53 - 76.53 is 1.0000000000000142

    return bool(rechecks) and all(small(k, v) for k, v in substitutes.items()) and not any(r.changed for r in rechecks)


def audit_paper(paper: Paper) -> list[ClaimResult]:
    lookup = published_lookup(paper)
    return [check(claim, lookup, decimals=stated_decimals(claim, paper)) for claim in paper.claims]


def ordered(results: list[ClaimResult]) -> list[ClaimResult]:
    """Inconsistencies first, then consistent, then unchecked, then alternative readings."""
    rank = {False: 0, True: 1, None: 2}
    return sorted(results, key=lambda r: (r.claim.reading == "alternative", rank[r.consistent]))
