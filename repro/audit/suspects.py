"""Root causes that arithmetic can decide, from the claims that fail on the printed tables.

- A suspect cell: one printed cell that, replaced by the value the paper's other numbers imply (or by its
  measured value), makes several failing claims hold and breaks none. Each replacement is what the paper
  would have printed: rounded to the cell's printed digits and read as the interval that rounds to it.
- Swapped numbers: two claims of the text whose stated numbers are each other's values in the tables.
- A truncation: a stated number that is what the tables give with its last digits cut off, or a relation
  that holds once one of its cells is read as the truncation of the value the others imply.
- Key cells: the cells that decide a claim's value (the arg-max of a max() over thirty cells, not all thirty).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import ExpressionError
from .claims import ClaimResult, check
from .expr import Interval
from .numbers import Printed
from .papers import CellKey, Claim, Paper

MIN_EXPLAINED = 2  # "several": a replacement that explains one failure is that failure restated


@dataclass(frozen=True)
class Suspect:
    """A printed cell whose `replacement` makes the `explained` claims hold and breaks none."""

    cell: CellKey
    replacement: float
    basis: str  # "implied" (by the paper's other numbers) or "measured"
    explained: tuple[str, ...]


@dataclass(frozen=True)
class Swap:
    """Two claims whose stated numbers are each other's values in the tables."""

    claims: tuple[str, str]


def _holds(claim: Claim, lookup: Mapping[CellKey, Interval]) -> bool | None:
    try:
        return check(claim, lookup).consistent
    except ExpressionError:
        return None


def suspect_interval(paper: Paper, suspect: Suspect) -> Interval:
    """The suspect cell as the paper would have printed its replacement."""
    return _as_printed(paper, suspect.cell, suspect.replacement)


def _as_printed(paper: Paper, key: CellKey, value: float) -> Interval:
    """`value` as the cell would print it: rounded to its printed digits, standing for ± half the last one."""
    cell = paper.cell(*key)
    decimals = cell.printed_number().decimals
    rounded = round(value, decimals)
    return Interval.around(rounded, cell.half_unit)


def implied_value(claim: Claim, key: CellKey, lookup: Mapping[CellKey, Interval]) -> float | None:
    """The value of cell `key` that makes the claim's two sides meet at their point values (secant method;
    exact for the linear relations papers print). None for inequalities, or when no such value is found."""
    if claim.op not in ("eq", "approx") or claim.expr is None:
        return None
    trial = dict(lookup)

    def gap(x: float) -> float:
        trial[key] = Interval.exact(x)
        stated = claim.stated.value if isinstance(claim.stated, Printed) else claim.stated.evaluate(trial).mid
        return claim.expr.evaluate(trial).mid - stated

    x0 = lookup[key].mid
    x1 = x0 + max(abs(x0), 1.0) * 0.01
    try:
        g0, g1 = gap(x0), gap(x1)
        for _ in range(30):
            if g1 == g0:
                return None
            x0, x1, g0 = x1, x1 - g1 * (x1 - x0) / (g1 - g0), g1
            g1 = gap(x1)
            if abs(g1) <= 1e-9 * max(1.0, abs(x1)):
                return x1 if math.isfinite(x1) else None
    except (ExpressionError, ZeroDivisionError, OverflowError, ValueError):
        return None
    return None


def suspect_cells(paper: Paper, failing: Iterable[Claim], passing: Iterable[Claim],
                  lookup: Mapping[CellKey, Interval], measured: Mapping[CellKey, float]) -> list[Suspect]:
    """Greedy: the replacement that explains the most failures (and breaks none) first, then the next
    among the failures that remain, until none explains `MIN_EXPLAINED`."""
    failing, passing, lookup = list(failing), list(passing), dict(lookup)
    found: list[Suspect] = []
    while True:
        best: tuple[tuple, Suspect, Interval] | None = None
        for key in dict.fromkeys(k for claim in failing for k in claim.refs):
            if paper.cell(*key).kind == "count":
                continue  # clips and frames are chosen, not computed: never the misprint
            for basis, value in _candidates(paper, key, failing, lookup, measured):
                replaced = _as_printed(paper, key, value)
                trial = {**lookup, key: replaced}
                explained = [c for c in failing if key in c.refs and _holds(c, trial)]
                if len(explained) < MIN_EXPLAINED:
                    continue
                if any(_holds(c, trial) is False for c in passing if key in c.refs):
                    continue
                rank = (len(explained), basis == "measured")
                if best is None or rank > best[0]:
                    best = (rank, Suspect(key, replaced.mid, basis, tuple(c.id for c in explained)), replaced)
        if best is None:
            return found
        _, suspect, replaced = best
        found.append(suspect)
        lookup[suspect.cell] = replaced
        passing += [c for c in failing if c.id in suspect.explained]
        failing = [c for c in failing if c.id not in suspect.explained]


def _candidates(paper: Paper, key: CellKey, failing: list[Claim], lookup: Mapping[CellKey, Interval],
                measured: Mapping[CellKey, float]) -> list[tuple[str, float]]:
    found = [("measured", measured[key])] if key in measured else []
    for claim in failing:
        if key in claim.refs:
            value = implied_value(claim, key, lookup)
            if value is not None:
                found.append(("implied", value))
    printed = paper.cell(*key).value
    unique: dict[float, tuple[str, float]] = {}
    for basis, value in found:
        rounded = round(value, paper.cell(*key).printed_number().decimals)
        if rounded != printed:
            unique.setdefault(rounded, (basis, value))
    return list(unique.values())


def swapped_claims(results: Iterable[ClaimResult]) -> list[Swap]:
    """Pairs of failing `eq` claims whose stated numbers are each other's computed values."""
    candidates = [r for r in results if r.consistent is False and r.claim.kind == "claim" and r.claim.op == "eq"
                  and r.computed is not None]
    swaps, used = [], set()
    for i, a in enumerate(candidates):
        for b in candidates[i + 1:]:
            if a.claim.id in used or b.claim.id in used:
                continue
            if a.stated.distance(b.computed) == 0 and b.stated.distance(a.computed) == 0:
                swaps.append(Swap((a.claim.id, b.claim.id)))
                used |= {a.claim.id, b.claim.id}
    return swaps


def _truncates(printed: float, decimals: int, lo: float, hi: float) -> bool:
    """Whether some value in [lo, hi], cut to `decimals` digits (toward zero), prints as `printed`."""
    unit = 10.0 ** -decimals
    eps = 1e-9 * max(1.0, abs(printed))
    if printed == 0:  # both (−unit, 0] and [0, unit) cut to 0
        return lo < unit - eps and hi > -unit + eps
    if printed > 0:
        return lo < printed + unit - eps and hi >= printed - eps
    return hi > printed - unit + eps and lo <= printed + eps


def truncated_cell(paper: Paper, claim: Claim, lookup: Mapping[CellKey, Interval]) -> CellKey | None:
    """A cell of the claim that prints the truncation of the value the rest of the claim implies."""
    for key in claim.refs:
        cell = paper.cell(*key)
        if cell.kind == "count":
            continue
        value = implied_value(claim, key, lookup)
        if value is not None and _truncates(cell.value, cell.printed_number().decimals, value, value):
            return key
    return None


def stated_is_truncated(result: ClaimResult) -> bool:
    """A claim whose stated number is what the tables give, truncated."""
    claim = result.claim
    if result.computed is None or claim.op != "eq" or not isinstance(claim.stated, Printed):
        return False
    return _truncates(claim.stated.value, claim.stated.decimals, result.computed.lo, result.computed.hi)


def key_cells(claim: Claim, lookup: Mapping[CellKey, Interval]) -> tuple[CellKey, ...]:
    """The cells whose value moves the claim's computed value: the rest are outvoted (a max over thirty
    cells is decided by one)."""
    refs = claim.refs
    if len(refs) <= 3 or claim.expr is None:
        return refs
    try:
        base = claim.expr.evaluate(lookup).mid
    except ExpressionError:
        return refs
    moving = []
    for key in refs:
        value = lookup[key].mid
        nudged = {**lookup, key: Interval.exact(value + max(abs(value), 1.0) * 1e-3)}
        try:
            if claim.expr.evaluate(nudged).mid != base or (
                    not isinstance(claim.stated, Printed) and claim.stated.evaluate(nudged).mid
                    != claim.stated.evaluate(lookup).mid):
                moving.append(key)
        except ExpressionError:
            moving.append(key)
    return tuple(moving) or refs
