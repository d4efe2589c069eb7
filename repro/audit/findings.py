"""Findings: each root cause of what does not hold in a paper, with the evidence it explains.

A symptom is one thing that fails: a claim or relation that the printed tables contradict, a cell whose
measured value deviates, a claim that the measured values contradict. A finding is one cause behind one or
more symptoms, so a paper's page counts findings, not symptoms: one misprinted cell that breaks five
relations is one finding. In order:

1. declared findings (papers/<id>/findings.yaml, re-checked every run: repro.audit.declared);
2. two numbers swapped between the text and the tables (repro.audit.suspects);
3. suspect cells: a printed cell that, replaced by what the other numbers or the measurement imply, makes
   several failing claims hold and breaks none;
4. claims that hold only under another reading of the sentence (claims.yaml `reading: alternative`);
5. truncations: a stated number that is the computed one with its last digits cut off;
6. what is left, one finding per failing claim or relation;
7. measured deviations: cells reproduced only under the paper's counting convention (one finding per
   convention and table), and cells that deviate for a reason the costs declare or none;
8. claims that the measured values contradict, under the finding of a deviating cell they read if any;
9. claims the tables cannot check, one finding each, with the reason.

Every finding has a severity and a size in the paper's own units (printed minus expected, as point values).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .claims import OP_WORDS, ClaimResult, check, computed_text, published_lookup
from .declared import DeclaredFinding, load_declared, measured_deviation, recheck
from .expr import REF, Interval, split_ref
from .numbers import Printed, show, with_unit
from .papers import CellKey, Claim, Paper
from .suspects import (implied_value, key_cells, refs_of, stated_is_truncated, suspect_cells, suspect_interval,
                       swapped_claims, truncated_cell)
from .verdicts import CONVENTION, DEVIATES, Verdict

ERROR, SLIP, READING, UNCHECKED = "error", "slip", "reading", "unchecked"
SEVERITIES = {ERROR: "error", SLIP: "truncation or rounding slip", READING: "depends on reading",
              UNCHECKED: "cannot be checked"}
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Size:
    """How far a printed number is from what it should be, as the difference of the point values."""

    printed: float
    expected: float
    unit: str
    decimals: int
    proportional: bool = False  # a cost: shown as a factor when the two are far apart

    @property
    def difference(self) -> float:
        return self.printed - self.expected

    @property
    def ratio(self) -> float | None:
        return self.printed / self.expected if self.expected and self.printed / self.expected > 0 else None

    def text(self) -> str:
        """"+0.4 GFLOPs", "−0.2 pp", or for a cost far from its expected value, "×0.12"."""
        if self.proportional and self.ratio is not None and (self.ratio >= 1.5 or self.ratio <= 1 / 1.5):
            return f"×{show(self.ratio, 2 if self.ratio < 0.95 else 1)}"
        text = show(self.difference, self.decimals, signed=True)
        if "." in text:  # "+1.60" reads as "+1.6": the digits shown are the difference's, not a printed number's
            text = text.rstrip("0").rstrip(".")
        unit = "pp" if self.unit == "%" and not self.proportional else self.unit
        relative = f" ({show(100 * self.difference / self.expected, 0, signed=True)}%)" \
            if self.proportional and self.expected else ""
        return with_unit(text, unit) + relative

    def as_json(self) -> dict[str, Any]:
        return {"printed": self.printed, "expected": self.expected, "difference": self.difference,
                "unit": self.unit, "text": self.text()}


@dataclass(frozen=True)
class Finding:
    """One root cause. `claims` fail on the printed tables, `deviating` cells deviate from their measured
    values, `measured_claims` fail on the measured values; `cells` are the cells it is about."""

    id: str
    severity: str
    cause: str
    title: str
    size: Size | None = None
    claims: tuple[str, ...] = ()
    measured_claims: tuple[str, ...] = ()
    deviating: tuple[CellKey, ...] = ()
    cells: tuple[CellKey, ...] = ()
    detail: str = ""
    source: str = "computed"

    @property
    def symptoms(self) -> int:
        return len(self.claims) + len(self.measured_claims) + len(self.deviating)

    @property
    def severity_words(self) -> str:
        return SEVERITIES[self.severity]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity, "severity_words": self.severity_words,
                "cause": self.cause, "title": self.title, "size": self.size.as_json() if self.size else None,
                "claims": list(self.claims), "measured_claims": list(self.measured_claims),
                "deviating_cells": [list(k) for k in self.deviating], "cells": [list(k) for k in self.cells],
                "detail": self.detail, "source": self.source}


@dataclass
class Inputs:
    """What the findings are computed from: the audit on printed values, and where measurements exist, the
    cells' verdicts and the claims evaluated on measured values."""

    paper: Paper
    results: list[ClaimResult]
    verdicts: Mapping[CellKey, Verdict] = field(default_factory=dict)
    measured_results: list[ClaimResult] = field(default_factory=list)
    explanations: Mapping[CellKey, str] = field(default_factory=dict)  # what is known about a deviating cell


def cell_words(key: CellKey) -> str:
    """A cell in words: "Table 2 · R2D-26 / 16-frames · GFLOPs×Clips / GFLOPs"."""
    return f"Table {key[0]} · {key[1]} · {key[2]}"


def slug(*parts: str) -> str:
    text = "-".join(parts).lower()
    out = "".join(ch if ch.isalnum() else "-" for ch in text)
    return "-".join(filter(None, out.split("-")))[:80]


def find(inputs: Inputs) -> list[Finding]:
    """Every finding of the paper, most severe first. Raises DataError when a declared finding is stale."""
    paper = inputs.paper
    printed = published_lookup(paper)
    primary = [r for r in inputs.results if r.claim.reading == "primary"]
    failing = {r.claim.id: r for r in primary if r.consistent is False}
    findings: list[Finding] = []

    for declared in load_declared(paper):
        recheck(paper, declared, printed, inputs.verdicts)
        findings.append(_from_declared(paper, declared, inputs, printed))
        for claim_id in declared.explains:
            failing.pop(claim_id, None)

    for swap in swapped_claims(failing.values()):
        a, b = (failing.pop(cid) for cid in swap.claims)
        findings.append(Finding(
            slug("swapped", a.claim.id), ERROR, "two numbers swapped",
            f"{a.claim.where or 'The text'}: the text gives {a.claim.stated_text} and {b.claim.stated_text}; the "
            f"tables give them the other way round", Size(a.stated.mid, a.computed.mid, _unit(a.claim, paper),
                                                          a.decimals),
            claims=(a.claim.id, b.claim.id), cells=refs_of(a.claim) + refs_of(b.claim)))

    measured_values = {k: v.measured for k, v in inputs.verdicts.items()
                       if v.measured is not None and not v.measurement.proxy}
    passing = [r.claim for r in primary if r.consistent is True]
    corrected = dict(printed)  # the printed cells, with each suspect read as the paper's other numbers imply
    for suspect in suspect_cells(paper, [r.claim for r in failing.values()], passing, printed, measured_values):
        for cid in suspect.explained:
            failing.pop(cid)
        corrected[suspect.cell] = suspect_interval(paper, suspect)
        findings.append(_suspect_finding(paper, suspect, inputs.verdicts))

    findings += _readings(inputs.results, failing)
    for result in list(failing.values()):
        failing.pop(result.claim.id)
        residual = check(result.claim, corrected, decimals=result.decimals)
        findings.append(_claim_finding(paper, residual if residual.consistent is False else result, printed))

    findings += _deviations(inputs, findings)
    findings = _attach_measured_claims(inputs, findings, printed)
    unchecked: dict[str, list[Claim]] = defaultdict(list)
    for r in primary:
        if r.consistent is None:
            unchecked[r.claim.quote].append(r.claim)
    findings += [Finding(slug("unchecked", group[0].id), UNCHECKED, "cannot be checked",
                         f"{group[0].where or 'The text'}: “{_short(quote, 110)}”", claims=tuple(c.id for c in group),
                         detail="; ".join(dict.fromkeys(c.unchecked or "" for c in group)))
                 for quote, group in unchecked.items()]
    return sorted(findings, key=lambda f: (_RANK[f.severity], -f.symptoms,
                                           -abs(f.size.difference / f.size.expected)
                                           if f.size and f.size.expected else 0.0))


def _unit(claim: Claim, paper: Paper) -> str:
    """The unit a claim's difference is in: the claim's, or the unit of the cells it compares (a difference
    of percentages is in percentage points)."""
    if claim.unit:
        return claim.unit
    units = {paper.cell(*k).unit for k in refs_of(claim)}
    return units.pop() if len(units) == 1 else ""


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


def _from_declared(paper: Paper, declared: DeclaredFinding, inputs: Inputs,
                   printed: Mapping[CellKey, Interval]) -> Finding:
    size = None
    if declared.size is not None:
        got, expected, unit = declared.size
        decimals = max((paper.cell(*k).printed_number().decimals for k in (*got.refs, *expected.refs)), default=1)
        size = Size(got.evaluate(printed).mid, expected.evaluate(printed).mid, unit, decimals)
    elif declared.explains:
        first = next(r for r in inputs.results if r.claim.id == declared.explains[0])
        size = _claim_size(paper, first)
    return Finding(declared.id, declared.severity, declared.cause, declared.title, size, claims=declared.explains,
                   deviating=measured_deviation(declared, inputs.verdicts), cells=declared.cells,
                   detail=declared.detail or "", source=declared.source)


def _claim_size(paper: Paper, result: ClaimResult) -> Size | None:
    if result.computed is None:
        return None
    return Size(result.stated.mid, result.computed.mid, _unit(result.claim, paper), result.decimals + 1)


def _suspect_finding(paper: Paper, suspect, verdicts: Mapping[CellKey, Verdict]) -> Finding:
    cell = paper.cell(*suspect.cell)
    decimals = cell.printed_number().decimals
    verdict = verdicts.get(suspect.cell)
    measured = ""
    if verdict is not None and verdict.measured is not None and not verdict.measurement.proxy:
        measured = f"; measured {show(verdict.measured, decimals + 1)}"
    basis = "the paper's other numbers imply" if suspect.basis == "implied" else "its measured value,"
    deviating = (suspect.cell,) if verdict is not None and verdict.status == DEVIATES else ()
    return Finding(
        slug("misprint", *suspect.cell), ERROR, "misprinted cell",
        f"{cell_words(suspect.cell)}: printed {cell.printed}, {basis} {show(suspect.replacement, decimals)}"
        f"{measured}", Size(cell.value, suspect.replacement, cell.unit, decimals),
        claims=suspect.explained, deviating=deviating, cells=(suspect.cell,),
        detail=f"Read as {show(suspect.replacement, decimals)}, the {len(suspect.explained)} claims and relations "
               f"below hold, and no other breaks.")


def _readings(results: Iterable[ClaimResult], failing: dict[str, ClaimResult]) -> list[Finding]:
    """A sentence whose primary reading fails while an alternative reading of it holds."""
    by_quote: dict[str, list[ClaimResult]] = defaultdict(list)
    for r in results:
        by_quote[r.claim.quote].append(r)
    found = []
    for group in by_quote.values():
        primaries = [r for r in group if r.claim.reading == "primary" and r.claim.id in failing]
        holding = [r for r in group if r.claim.reading == "alternative" and r.consistent is True]
        if not primaries or not holding:
            continue
        for r in primaries:
            failing.pop(r.claim.id)
        first = primaries[0]
        found.append(Finding(
            slug("reading", first.claim.id), READING, "holds under one reading",
            f"{first.claim.where or 'The text'}: “{_short(first.claim.quote, 90)}” fails as first read and holds "
            f"under the reading {holding[0].claim.id}",
            Size(first.stated.mid, first.computed.mid, first.claim.unit or "", first.decimals + 1)
            if first.computed and first.claim.op == "eq" else None,
            claims=tuple(r.claim.id for r in primaries), detail=holding[0].claim.note or ""))
    return found


def _claim_finding(paper: Paper, result: ClaimResult, printed: Mapping[CellKey, Interval]) -> Finding:
    claim = result.claim
    size = _claim_size(paper, result)
    where = claim.where or "The text"
    computed = computed_text(result, paper)
    stated = with_unit(f"{'' if claim.op in ('eq', 'approx') else OP_WORDS[claim.op] + ' '}{claim.stated_text}",
                       claim.unit)
    if claim.kind == "claim" and stated_is_truncated(result):
        return Finding(slug("truncated", claim.id), SLIP, "truncated number",
                       f"{where}: states {stated}, the tables' {computed} with its last digits cut", size,
                       claims=(claim.id,), cells=key_cells(claim, printed), detail=claim.quote)
    if claim.kind == "relation":
        cut = truncated_cell(paper, claim, printed)
        if cut is not None:
            cell = paper.cell(*cut)
            implied = implied_value(claim, cut, printed)
            decimals = cell.printed_number().decimals + 1
            return Finding(slug("truncated", *cut), SLIP, "truncated number",
                           f"{cell_words(cut)}: prints {cell.printed} for {show(implied, decimals)}, cut to its "
                           f"printed digits", Size(cell.value, implied, cell.unit, decimals),
                           claims=(claim.id,), cells=(cut,), detail=claim.quote)
        return Finding(slug("relation", claim.id), ERROR, "the tables disagree with each other",
                       f"{relation_words(claim, paper)} = {show(result.stated.mid, result.decimals)} in print, but "
                       f"the relation gives {computed}", size, claims=(claim.id,), cells=key_cells(claim, printed),
                       detail=claim.quote)
    return Finding(slug("contradicted", claim.id), ERROR, "the text contradicts its tables",
                   f"{where}: states {stated}; the tables give {computed}", size, claims=(claim.id,),
                   cells=key_cells(claim, printed), detail=claim.quote)


def relation_words(claim: Claim, paper: Paper) -> str:
    """A relation's printed side in short words: "Table 4 · 8-frames×32-clips / GFLOPs: 1:3 − 1:7"."""
    stated = claim.stated
    if isinstance(stated, Printed) or not stated.refs:
        return _short(claim.quote, 100)
    tables = {k[0] for k in stated.refs}
    columns = {k[2] for k in stated.refs}
    def name(match) -> str:
        key = split_ref(match.group(1))
        return key[1] if len(columns) == 1 else f"{key[1]} ({key[2]})"

    operators = REF.split(stated.text)[::2]  # the text between references
    names = [name(m) for m in REF.finditer(stated.text)]
    text = "".join(op.replace("-", "−").replace("*", "×") + (names[i] if i < len(names) else "")
                   for i, op in enumerate(operators))
    text = " ".join(text.split())
    head = f"Table {tables.pop()}" if len(tables) == 1 else "Tables"
    return f"{head}{' · ' + columns.pop() if len(columns) == 1 else ''}: {text}"


def _deviations(inputs: Inputs, findings: list[Finding]) -> list[Finding]:
    """Findings for measured cells not yet explained: cells that match a declared alternative (the paper's
    counting convention, another configuration) grouped per table and alternative; the rest one each."""
    explained = {k for f in findings for k in (*f.deviating, *f.cells)}
    paper, found = inputs.paper, []
    alternatives: dict[tuple[str, str, str], list[CellKey]] = defaultdict(list)
    for key, verdict in inputs.verdicts.items():
        if verdict.matches and verdict.status in (CONVENTION, DEVIATES) and key not in explained:
            alternatives[(key[0], verdict.matches_kind, verdict.matches)].append(key)
        elif verdict.status == DEVIATES and key not in explained:
            cell = paper.cell(*key)
            decimals = cell.printed_number().decimals
            found.append(Finding(
                slug("deviates", *key), ERROR, "measured value deviates",
                f"{cell_words(key)}: printed {cell.printed}, measured {show(verdict.measured, decimals + 1)}",
                _measured_size(cell, verdict.measured), deviating=(key,), cells=(key,),
                detail=inputs.explanations.get(key, "No explanation is known.")))
    for (table, kind, label), keys in alternatives.items():
        columns = ", ".join(sorted({k[2] for k in keys}))
        biggest = max(keys, key=lambda k: abs(inputs.verdicts[k].relative or 0))
        cell = paper.cell(*biggest)
        values = "; ".join(f"{k[1]}: printed {paper.cell(*k).printed}, {label} "
                           f"{show(inputs.verdicts[k].alternative_value, paper.cell(*k).printed_number().decimals + 1)}"
                           for k in keys)
        if kind == "convention":
            found.append(Finding(
                slug("convention", table, columns), READING, "counted under another convention",
                f"Table {table} · {columns}: {len(keys)} of its cells are counted with {label}, not as the "
                f"multiply-adds the suite measures", _measured_size(cell, inputs.verdicts[biggest].measured),
                cells=tuple(keys), detail=f"{values}. {inputs.explanations.get(biggest, '')}".strip()))
        else:
            found.append(Finding(
                slug("configuration", table, columns), ERROR, "the numbers of another configuration",
                f"Table {table} · {columns}: {len(keys)} cell{'s match' if len(keys) > 1 else ' matches'} {label}, "
                f"not the model the paper names", _measured_size(cell, inputs.verdicts[biggest].measured),
                deviating=tuple(keys), cells=tuple(keys),
                detail=f"{values}. {inputs.explanations.get(biggest, '')}".strip()))
    return found


def _measured_size(cell, measured: float) -> Size:
    return Size(cell.value, measured, cell.unit, cell.printed_number().decimals + 1,
                proportional=cell.kind in ("params", "flops", "time"))


def _attach_measured_claims(inputs: Inputs, findings: list[Finding],
                            printed: Mapping[CellKey, Interval]) -> list[Finding]:
    """Each claim the measured values contradict joins the finding of a deviating cell it reads; the rest
    are findings of their own."""
    findings = list(findings)
    for result in inputs.measured_results:
        if result.consistent is not False or result.claim.reading != "primary":
            continue
        refs = set(refs_of(result.claim))
        home = next((i for i, f in enumerate(findings) if refs & set(f.deviating or f.cells)
                     and (f.deviating or f.cause == "counted under another convention")), None)
        if home is not None:
            findings[home] = replace(findings[home],
                                     measured_claims=findings[home].measured_claims + (result.claim.id,))
            continue
        claim = result.claim
        findings.append(Finding(
            slug("measured", claim.id), ERROR, "the measurements contradict the text",
            f"{claim.where or 'The text'}: states {with_unit(claim.stated_text, claim.unit)}, the measured values "
            f"give {show(result.computed.mid, result.decimals + 1)}",
            Size(result.stated.mid, result.computed.mid, _unit(claim, inputs.paper), result.decimals + 1),
            measured_claims=(claim.id,), cells=key_cells(claim, printed)))
    return findings


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity, every severity present."""
    out = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        out[f.severity] += 1
    return out
