"""Findings: each root cause of what does not hold in a paper, with the evidence it explains.

A symptom is one thing that fails: a claim or relation that the printed tables contradict, a cell whose
measured value deviates, a claim that the measured values contradict. A finding is one cause behind one or
more symptoms, so a paper's page counts findings, not symptoms: one misprinted cell that breaks five
relations is one finding. In order:

1. declared findings (papers/<id>/findings.yaml, re-checked every run: repro.audit.declared);
2. two numbers swapped between the text and the tables (repro.audit.suspects);
3. suspect cells: a printed cell that, replaced by what the other numbers or the measurement imply, makes
   several failing claims hold and breaks none;
4. sentences that hold only under another reading (claims.yaml `reading: alternative` of the same number);
5. what is left: one finding per sentence of the text (a truncation when its number is the computed one
   with the last digits cut) and one per relation, judged on the cells as corrected by step 3;
6. quoted numbers against their sources (repro.audit.source_findings): a cited row's numbers that are
   another configuration's, and numbers the source prints otherwise, one finding per row (a measured cost of
   the same cells that deviates joins it); rows of different models printing the same numbers that a
   measurement or a source shows are not all theirs (a copied row);
7. measured deviations: cells that match a declared alternative (the paper's counting convention, another
   configuration), grouped per table, and cells that deviate for a reason the costs declare or none;
8. claims that the measured values contradict, under the finding of a deviating cell they read if any;
9. sentences the tables cannot check, one finding each, with the reason.

Every finding has a severity and a size in the paper's own units: what the number should be (what the other
numbers imply, the measurement, or the source) minus what the paper printed, as point values, the sign of a
cell's Δ.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .citations import EQUAL, ROUNDED, SourceCheck
from .claims import OP_WORDS, ClaimResult, check, computed_text, interval_of, harmless, published_lookup, \
    rechecked, restates_one_cell
from .declared import DeclaredFinding, load_declared, measured_deviation, recheck
from .expr import Interval
from .finding import ONE_READING, Finding, Size, slug
from .numbers import show, with_unit
from .papers import CellKey, Claim, Paper
from .severity import CANNOT_CHECK, ERROR, MINOR, QUOTED, READING, SEVERITIES, SLIP, UNCHECKED
from .source_findings import copied_rows, source_findings
from .suspects import (implied_value, key_cells, stated_is_truncated, suspect_cells, suspect_interval,
                       swapped_claims, truncated_cell)
from .verdicts import CITATION, CONVENTION, DEVIATES, Verdict
from .words import cell_words, expression_words, relation_words, short, table_and_column

_RANK = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass
class Inputs:
    """What the findings are computed from: the audit on printed values, and where measurements exist, the
    cells' verdicts and the claims evaluated on measured values."""

    paper: Paper
    results: list[ClaimResult]
    verdicts: Mapping[CellKey, Verdict] = field(default_factory=dict)
    measured_results: list[ClaimResult] = field(default_factory=list)
    explanations: Mapping[CellKey, str] = field(default_factory=dict)  # what is known about a deviating cell
    sources: Mapping[CellKey, SourceCheck] = field(default_factory=dict)  # quoted cells against their sources


def find(inputs: Inputs) -> list[Finding]:
    """Every finding of the paper, most severe first and the sentences nothing here can check last. Raises
    DataError when a declared finding is stale."""
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
        severity, reread = _consequence(paper, [a, b], printed)
        findings.append(Finding(
            slug("swapped", a.claim.id), severity, "two numbers swapped",
            f"{a.claim.where or 'The text'}: the text gives {a.claim.stated_text} and {b.claim.stated_text}; the "
            f"tables give them the other way round", _claim_size(paper, a),
            claims=(a.claim.id, b.claim.id), cells=a.claim.refs + b.claim.refs, **reread))

    measured_values = {k: v.measured for k, v in inputs.verdicts.items()
                       if v.measured is not None and not v.measurement.proxy}
    passing = [r.claim for r in primary if r.consistent is True]
    corrected = dict(printed)  # the printed cells, with each suspect read as the paper's other numbers imply
    corrections: dict[CellKey, str] = {}  # suspect cell -> how it is read, for the titles that use it
    for suspect in suspect_cells(paper, [r.claim for r in failing.values()], passing, printed, measured_values):
        for cid in suspect.explained:
            failing.pop(cid)
        corrected[suspect.cell] = suspect_interval(paper, suspect)
        corrections[suspect.cell] = show(suspect.replacement, paper.cell(*suspect.cell).printed_number().decimals)
        findings.append(_suspect_finding(paper, suspect, inputs.verdicts, printed))

    findings += _readings(paper, inputs.results, failing, printed)
    residual = []  # what still fails, judged on the corrected cells where they still make it fail
    for old in failing.values():
        new = check(old.claim, corrected, decimals=old.decimals)
        read_as = {k: corrections[k] for k in old.claim.refs if k in corrections}
        residual.append((new, read_as) if new.consistent is False else (old, {}))
    findings += _sentence_findings(paper, [r for r in residual if r[0].claim.kind == "claim"], printed)
    findings += [_relation_finding(paper, r, read_as, printed) for r, read_as in residual
                 if r.claim.kind == "relation"]

    findings += [replace(f, deviating=tuple(k for k in f.cells if k in inputs.verdicts
                                            and inputs.verdicts[k].status == DEVIATES))
                 for f in source_findings(paper, inputs.sources, printed)]
    findings += copied_rows(paper, inputs.verdicts, inputs.sources, {k for f in findings for k in f.cells})
    findings += _deviations(inputs, findings)
    findings = _attach_measured_claims(inputs, findings, printed)
    unchecked: dict[str, list[ClaimResult]] = defaultdict(list)
    for r in primary:
        if r.consistent is None:
            unchecked[r.claim.quote].append(r)
    findings += [Finding(slug("unchecked", group[0].claim.id), UNCHECKED, CANNOT_CHECK,
                         f"{group[0].claim.where or 'The text'}: “{short(quote, 110)}”",
                         claims=tuple(r.claim.id for r in group),
                         detail="; ".join(dict.fromkeys(r.claim.unchecked or r.explanation for r in group)))
                 for quote, group in unchecked.items()]
    return sorted(_unique_ids(findings), key=lambda f: (not shown_first(f), _RANK[f.severity], -f.symptoms,
                                                        -abs(f.size.difference / f.size.printed)
                                                        if f.size and f.size.printed else 0.0))


def _unique_ids(findings: list[Finding]) -> list[Finding]:
    """Ids are anchors on the page: a second finding with the same slug gets "-2"."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for f in findings:
        seen[f.id] += 1
        out.append(f if seen[f.id] == 1 else replace(f, id=f"{f.id}-{seen[f.id]}"))
    return out


def shown_first(finding: Finding) -> bool:
    """Whether a page lists the finding at once and counts it: all but the sentences nothing here can check
    (those are listed folded, and counted as sentences)."""
    return finding.cause != CANNOT_CHECK


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    """Findings per severity, every severity present."""
    out = dict.fromkeys(SEVERITIES, 0)
    for f in findings:
        out[f.severity] += 1
    return out


# --- one finding from each kind of cause -----------------------------------------------------------------


def _claim_size(paper: Paper, result: ClaimResult) -> Size | None:
    if result.computed is None:
        return None
    return Size(result.stated.mid, result.computed.mid, result.claim.unit_in(paper), result.decimals + 1)


def _from_declared(paper: Paper, declared: DeclaredFinding, inputs: Inputs,
                   printed: Mapping[CellKey, Interval]) -> Finding:
    size = None
    measured = inputs.verdicts.get(declared.size_cell) if declared.size_cell else None
    if measured is not None and measured.measured is not None:
        size = _measured_size(paper.cell(*declared.size_cell), measured.measured)
    elif declared.size is not None:
        got, expected, unit = declared.size
        decimals = max((paper.cell(*k).printed_number().decimals for k in (*got.refs, *expected.refs)), default=1)
        size = Size(got.evaluate(printed).mid, expected.evaluate(printed).mid, unit, decimals)
    elif declared.explains:
        first = next(r for r in inputs.results if r.claim.id == declared.explains[0])
        size = _claim_size(paper, first)
    claims = [c for c in paper.claims if c.id in declared.explains]
    return Finding(declared.id, declared.severity, declared.cause, declared.title, size, claims=declared.explains,
                   deviating=measured_deviation(declared, inputs.verdicts), cells=declared.cells,
                   inputs=tuple(dict.fromkeys(k for c in claims for k in key_cells(c, printed))),
                   detail=declared.detail or "", source=declared.source)


def _suspect_finding(paper: Paper, suspect, verdicts: Mapping[CellKey, Verdict],
                     printed: Mapping[CellKey, Interval]) -> Finding:
    cell = paper.cell(*suspect.cell)
    decimals = cell.printed_number().decimals
    verdict = verdicts.get(suspect.cell)
    measured = ""
    if suspect.basis == "implied" and verdict is not None and verdict.measured is not None \
            and not verdict.measurement.proxy:
        measured = f"; measured {show(verdict.measured, decimals + 1)}"
    basis = "the paper's other numbers imply" if suspect.basis == "implied" else "its measured value,"
    deviating = (suspect.cell,) if verdict is not None and verdict.status == DEVIATES else ()
    claims = [c for c in paper.claims if c.id in suspect.explained]
    return Finding(
        slug("misprint", *suspect.cell), ERROR, "misprinted cell",
        f"{cell_words(suspect.cell)}: printed {cell.printed}, {basis} {show(suspect.replacement, decimals)}"
        f"{measured}", Size(cell.value, suspect.replacement, cell.unit, decimals),
        claims=suspect.explained, deviating=deviating, cells=(suspect.cell,),
        inputs=tuple(dict.fromkeys(k for c in claims for k in key_cells(c, printed) if k != suspect.cell)),
        detail=f"Read as {show(suspect.replacement, decimals)}, the {len(suspect.explained)} claims and relations "
               f"it takes part in that fail hold, and none that holds breaks.")


def _readings(paper: Paper, results: Iterable[ClaimResult], failing: dict[str, ClaimResult],
              printed: Mapping[CellKey, Interval]) -> list[Finding]:
    """A sentence whose primary reading of a number fails while an alternative reading of the same number
    (same sentence, same stated number and unit) holds."""
    holding: dict[tuple, list[ClaimResult]] = defaultdict(list)
    for r in results:
        if r.claim.reading == "alternative" and r.consistent is True:
            holding[_sentence(r.claim)].append(r)
    found = []
    for result in [r for r in failing.values() if _sentence(r.claim) in holding]:
        failing.pop(result.claim.id)
        claim = result.claim
        alternative = holding[_sentence(claim)][0].claim
        first, other = _stated_words(claim), _stated_words(alternative)
        readings = (f"fails read as {first} (the tables give {computed_text(result, paper)}) and holds read as "
                    f"{other}") if first != other else "fails as first read and holds under another reading"
        found.append(Finding(
            slug("reading", claim.id), READING, ONE_READING,
            f"{claim.where or 'The text'}: “{short(claim.quote, 90)}” {readings}", _claim_size(paper, result),
            claims=(claim.id,), inputs=key_cells(claim, printed), detail=alternative.note or ""))
    return found


def _sentence(claim: Claim) -> tuple:
    """What makes two claims readings of one number of one sentence."""
    return claim.quote, claim.stated_text, claim.unit


def _stated_words(claim: Claim) -> str:
    """The number a sentence states, as read: "1.8 pp", "≥ 0 pp", "the FLOP ratio over the runtime ratio
    ≈ 1.00×" where the claim names the quantity."""
    op = "" if claim.op == "eq" else OP_WORDS[claim.op] + " "
    return (f"{claim.quantity} " if claim.quantity else "") + op + with_unit(claim.stated_text, claim.unit)


def _read_as(corrections: Mapping[CellKey, str]) -> str:
    """" (with Table 2 · A · B read as 7.4)": the misprints corrected before a number is computed."""
    if not corrections:
        return ""
    return " (with " + ", ".join(f"{cell_words(k)} read as {v}" for k, v in corrections.items()) + ")"


def _sentence_findings(paper: Paper, results: list[tuple[ClaimResult, dict[CellKey, str]]],
                       printed: Mapping[CellKey, Interval]) -> list[Finding]:
    """One finding per sentence of the text that its tables contradict: several numbers of one sentence that
    fail are one finding, a truncation when every number it states is the computed one with digits cut.
    Each result comes with the corrected cells it was computed on, named in the title."""
    by_quote: dict[str, list[ClaimResult]] = defaultdict(list)
    read_as: dict[str, dict[CellKey, str]] = defaultdict(dict)
    for r, corrections in results:
        by_quote[r.claim.quote].append(r)
        read_as[r.claim.quote].update(corrections)
    found = []
    for quote, group in by_quote.items():
        corrected = _read_as(read_as[quote])
        worst = max(group, key=lambda r: abs(r.difference or 0.0) / max(abs(r.stated.mid), 1e-9))
        claim = worst.claim
        where = claim.where or "The text"
        inputs = tuple(dict.fromkeys(k for r in group for k in key_cells(r.claim, printed)))
        ids = tuple(r.claim.id for r in group)
        computed = computed_text(worst, paper)
        said = "states" if claim.stated_text in quote and not claim.quantity else "read as"
        if all(stated_is_truncated(r) for r in group):
            found.append(Finding(
                slug("truncated", claim.id), SLIP, "truncated number",
                f"{where}: states {with_unit(claim.stated_text, claim.unit)}; the tables give "
                f"{show(worst.computed.lo, worst.decimals + 1)}–{show(worst.computed.hi, worst.decimals + 1)}"
                f"{corrected}, which rounds to {show(worst.computed.mid, worst.decimals)}: {claim.stated_text} is "
                f"that with its digits cut", _claim_size(paper, worst), claims=ids,
                inputs=inputs, detail=quote))
            continue
        others = [r for r in group if r is not worst and r.computed is not None]
        if others and all(_stated_words(r.claim) == _stated_words(claim) for r in others):
            # one number read over several sets of rows: each value with the rows it compares
            computed = " and ".join(f"{computed_text(r, paper)} for {_rows_compared(r.claim)}"
                                    for r in group if r.computed is not None)
        elif others:  # several numbers of one sentence: each other value beside the number it is checked against
            computed += "".join(f"; {computed_text(r, paper)} where it {said} {_stated_words(r.claim)}"
                                for r in others)
        severity, reread = _consequence(paper, group, printed) if not corrected else (ERROR, {})
        found.append(Finding(
            slug("contradicted", claim.id), severity, "the text contradicts its tables",
            f"{where}: “{short(quote, 90)}” {said} {_stated_words(claim)}; the tables give {computed}{corrected}",
            _claim_size(paper, worst), claims=ids, inputs=inputs, detail=claim.note or "", **reread))
    return found


def _consequence(paper: Paper, results: list[ClaimResult],
                 printed: Mapping[CellKey, Interval]) -> tuple[str, dict[str, Any]]:
    """How much a text that restates cells otherwise matters: the severity, and the Finding's recheck fields
    (each claim or relation that reads those cells, checked with the tables' numbers and with the text's). A
    minor mismatch is one that a measurement would be allowed to miss by (the cell's reproduction tolerance)
    and that changes no verdict of the claims and relations reading the cell; whichever of the two numbers is
    the right one, the paper's comparisons stand. An error otherwise, or where nothing else reads the cell."""
    if not all(r.claim.op == "eq" and restates_one_cell(r.claim) and r.claim.kind == "claim" for r in results):
        return ERROR, {}
    substitutes = {r.claim.expr.refs[0]: interval_of(r.claim.stated) for r in results}
    rechecks = tuple(rechecked(paper, substitutes, printed, skip={r.claim.id for r in results}))
    minor = harmless(paper, {k: v.mid for k, v in substitutes.items()}, rechecks)
    return (MINOR if minor else ERROR), {"rechecks": rechecks, "rechecked_with": "the text's",
                                         "rechecked_cells": tuple(substitutes)}


def _rows_compared(claim: Claim) -> str:
    """The rows a claim's number is computed from, in order: "All E (Avg pool) vs FASTER32"; each after its
    table ("T5 …") where they come from several tables."""
    keys = claim.expr.refs if claim.expr is not None else claim.refs
    tables = {k[0] for k in keys}
    rows = dict.fromkeys(k[1] if len(tables) == 1 else f"T{k[0]} {k[1]}" for k in keys)
    return short(" vs ".join(rows), 60)


def _relation_finding(paper: Paper, result: ClaimResult, corrections: Mapping[CellKey, str],
                      printed: Mapping[CellKey, Interval]) -> Finding:
    claim = result.claim
    cut = truncated_cell(paper, claim, printed)
    if cut is not None:
        cell = paper.cell(*cut)
        implied = implied_value(claim, cut, printed)
        decimals = cell.printed_number().decimals + 1
        return Finding(slug("truncated", *cut), SLIP, "truncated number",
                       f"{cell_words(cut)}: prints {cell.printed} where the others give {show(implied, decimals)},"
                       f" which rounds to {show(implied, decimals - 1)}: {cell.printed} is that with its digits cut",
                       Size(cell.value, implied, cell.unit, decimals),
                       claims=(claim.id,), cells=(cut,), detail=claim.quote)
    head, printed_side = relation_words(claim)
    other = expression_words(claim.expr, *table_and_column(claim))
    other = f"{other} gives" if len(other) <= 70 else "the relation's other side gives"
    return Finding(slug("relation", claim.id), ERROR, "the tables disagree with each other",
                   f"{head}: {printed_side} = {show(result.stated.mid, result.decimals)} in print; "
                   f"{other} {computed_text(result, paper)}{_read_as(corrections)}", _claim_size(paper, result),
                   claims=(claim.id,),
                   inputs=key_cells(claim, printed), detail=claim.quote)


def _deviations(inputs: Inputs, findings: list[Finding]) -> list[Finding]:
    """Findings for measured cells not yet explained: cells that match a declared alternative (the paper's
    counting convention, another configuration) grouped per table and alternative; the rest one each, except
    that one quoted cost of one model printed in several rows (a method listed under two settings) is one."""
    explained = {k for f in findings for k in (*f.deviating, *f.cells)}
    paper, found = inputs.paper, []
    alternatives: dict[tuple[str, str, str], list[CellKey]] = defaultdict(list)
    deviating: dict[tuple, list[CellKey]] = defaultdict(list)
    for key, verdict in inputs.verdicts.items():
        if verdict.matches and verdict.status in (CONVENTION, DEVIATES) and key not in explained:
            alternatives[(key[0], verdict.matches_kind, verdict.matches)].append(key)
        elif verdict.status == DEVIATES and key not in explained:
            cell = paper.cell(*key)
            # the same quoted number of the same model, printed in several rows, is one cause
            same_quote = (key[0], key[1].split(" / ")[-1], key[2], cell.printed, round(verdict.measured, 9)) \
                if CITATION.search(key[1]) else key
            deviating[same_quote].append(key)
    for keys in deviating.values():
        key, verdict = keys[0], inputs.verdicts[keys[0]]
        cell = paper.cell(*key)
        rows = " and ".join(k[1] for k in keys)
        detail = inputs.explanations.get(key, "No explanation is known.")
        severity, cause, build = ERROR, "measured value deviates", "our build"
        if CITATION.search(key[1]):  # a source that prints otherwise is a finding of its own (source_findings)
            severity, cause = QUOTED, "a quoted cost that our build of the cited model does not reproduce"
            detail += " " + _quoted_source(inputs.sources, keys)
            build = "our build of the cited model"
        found.append(Finding(
            slug("deviates", *key), severity, cause,
            f"Table {key[0]} · {rows} · {key[2]}: printed {cell.printed}, {build} "
            f"measures {show(verdict.measured, cell.printed_number().decimals + 1)}",
            _measured_size(cell, verdict.measured), deviating=tuple(keys), cells=tuple(keys), detail=detail))
    for (table, kind, label), keys in alternatives.items():
        columns = ", ".join(sorted({k[2] for k in keys}))
        biggest = max(keys, key=lambda k: abs(inputs.verdicts[k].relative or 0))
        cell = paper.cell(*biggest)
        values = "; ".join(f"{k[1]}: printed {paper.cell(*k).printed}, {label} "
                           f"{show(inputs.verdicts[k].alternative_value, paper.cell(*k).printed_number().decimals + 1)}"
                           for k in keys)
        detail = f"{values}. {inputs.explanations.get(biggest, '')}".strip()
        size = _measured_size(cell, inputs.verdicts[biggest].measured)
        if kind == "convention":
            found.append(Finding(
                slug("convention", table, label, columns), READING, "counted under another convention",
                f"Table {table} · {columns}: {len(keys)} of its cells are counted with {label}, not as the "
                f"multiply-adds the suite measures", size, cells=tuple(keys), detail=detail))
        else:
            # a cited row names a model with several configurations: quoting one of them is a reading (as when a
            # source shows it, repro.audit.source_findings); the paper's own row printing another's is an error
            quoted = all(CITATION.search(k[1]) for k in keys)
            found.append(Finding(
                slug("configuration", table, label, columns), READING if quoted else ERROR,
                "the numbers of another configuration",
                f"Table {table} · {columns}: {len(keys)} cell{'s match' if len(keys) > 1 else ' matches'} {label}, "
                f"not the model the paper names", size, deviating=tuple(keys), cells=tuple(keys), detail=detail))
    return found


def _quoted_source(sources: Mapping[CellKey, SourceCheck], keys: list[CellKey]) -> str:
    """What the cited source says of a quoted cost our build does not reproduce: why this is not an error."""
    checks = [sources[k] for k in keys if k in sources]
    if any(c.verdict in (EQUAL, ROUNDED) for c in checks):
        return ("Its source prints the same number, so the paper quotes it faithfully; the difference lies "
                "between our build and the source's own count.")
    return ("The source's own count was not read here, so whether the paper or our build is off is open; "
            "see Cited rows against their sources.")


def _measured_size(cell, measured: float) -> Size:
    return Size(cell.value, measured, cell.unit, cell.printed_number().decimals + 1,
                proportional=cell.kind in ("params", "flops", "time"))


def _attach_measured_claims(inputs: Inputs, findings: list[Finding],
                            printed: Mapping[CellKey, Interval]) -> list[Finding]:
    """Each claim the measured values contradict joins the finding of a deviating cell it reads; the rest
    are findings of their own."""
    findings = list(findings)
    holding = {_sentence(r.claim) for r in inputs.measured_results
               if r.claim.reading == "alternative" and r.consistent is True}
    for result in inputs.measured_results:
        if result.consistent is not False or result.claim.reading != "primary":
            continue
        # the sentence's other reading holds on the measured values too: the reading finding explains it
        reading = next((i for i, f in enumerate(findings) if f.severity == READING and result.claim.id in f.claims),
                       None) if _sentence(result.claim) in holding else None
        if reading is not None:
            findings[reading] = replace(findings[reading],
                                        measured_claims=findings[reading].measured_claims + (result.claim.id,))
            continue
        refs = set(result.claim.refs)
        homes = [(max(abs(inputs.verdicts[k].relative or 0.0) for k in refs & set(f.deviating or f.cells)), i)
                 for i, f in enumerate(findings) if refs & set(f.deviating or f.cells)
                 and (f.deviating or f.cause == "counted under another convention")]
        home = max(homes)[1] if homes else None  # the finding of the cell that deviates the most
        if home is not None:
            findings[home] = replace(findings[home],
                                     measured_claims=findings[home].measured_claims + (result.claim.id,))
            continue
        claim = result.claim
        findings.append(Finding(
            slug("measured", claim.id), ERROR, "the measurements contradict the text",
            f"{claim.where or 'The text'}: states {_stated_words(claim)}, the measured values give "
            f"{show(result.computed.mid, result.decimals + 1)}", _claim_size(inputs.paper, result),
            measured_claims=(claim.id,), inputs=key_cells(claim, printed)))
    return findings
