"""Findings from quoted numbers (repro.audit.citations): another configuration's numbers, numbers the source
prints otherwise, and rows copied from another model's, with the claims that read them checked again."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from .citations import DIFFERS, OTHER_CONFIG, SourceCheck
from .claims import harmless, interval_of, rechecked
from .expr import Interval
from .finding import Finding, Size, slug
from .papers import CellKey, Paper
from .severity import ERROR, MINOR, READING
from .verdicts import CITATION, DEVIATES, Verdict


def source_findings(paper: Paper, checks: Mapping[CellKey, SourceCheck],
                    printed: Mapping[CellKey, Interval]) -> list[Finding]:
    """One finding per cited row and kind: quoted numbers that are another configuration's (a reading: they
    hold for that configuration), and quoted numbers their source prints otherwise (an error). Each claim
    that reads a corrected cell is checked again with the source's number, and the finding says whether it
    still holds."""
    groups: dict[tuple[str, str, str], list[SourceCheck]] = defaultdict(list)
    for check_ in checks.values():
        if check_.verdict in (OTHER_CONFIG, DIFFERS):
            groups[(check_.cell[0], check_.cell[1], check_.verdict)].append(check_)
    found = []
    for (table, row, verdict), group in groups.items():
        cells = tuple(c.cell for c in group)
        if len(group) <= 2:
            quoted = " and ".join(paper.cell(*c.cell).printed for c in group)
            where = f"Table {table} · {row} · {', '.join(c.cell[2] for c in group)}"
        else:  # the columns are in the finding's evidence; a title lists them badly
            quoted, where = f"all {len(group)} quoted numbers", f"Table {table} · {row}"
        corrected = [c for c in group if c.correction is not None]
        if verdict == OTHER_CONFIG:
            configuration = "; ".join(_shortest_names(c.matched.configuration.split(" (")[0] for c in group))
            if corrected:  # the source prints the row's own configuration otherwise
                title = (f"{where}: {quoted} {'are the numbers' if len(group) > 1 else 'is the number'} published for "
                         f"{configuration}, not for the row's configuration "
                         f"({' and '.join(c.correction.value.text for c in corrected)})")
            else:  # an equality: the source read gives no number for the row's own configuration
                equal = "equal the numbers" if len(group) > 1 else "equals the number"
                title = (f"{where}: {quoted} {equal} published for {configuration}; the source read gives none for "
                         f"the row's configuration")
            severity, cause = READING, "a quoted number of another configuration"
        else:
            title = (f"{where}: printed {quoted}, its source prints "
                     f"{' and '.join(c.correction.value.text for c in group)}")
            severity, cause = ERROR, "a quoted number that its source does not print"
        substitutes = {c.cell: c.correction.value for c in corrected}
        rechecks = tuple(rechecked(paper, {k: interval_of(v) for k, v in substitutes.items()}, printed))
        if verdict == DIFFERS and harmless(paper, {k: v.value for k, v in substitutes.items()}, rechecks):
            severity = MINOR
        biggest = max(corrected, key=lambda c: abs(c.correction.value.value - paper.cell(*c.cell).value),
                      default=None)
        size = None
        if biggest is not None:
            cell = paper.cell(*biggest.cell)
            size = Size(cell.value, biggest.correction.value.value, cell.unit,
                        max(cell.printed_number().decimals, biggest.correction.value.decimals),
                        proportional=cell.kind in ("params", "flops", "time"))
        detail = " ".join(f"{c.cell[2]}: {c.text()}." + (f" Caveat: {p.caveat}." if (p := c.matched or c.correction)
                                                         and p.caveat else "") for c in group)
        detail += f" Recorded in {group[0].citation.where}."
        found.append(Finding(slug("source", verdict, table, row), severity, cause, title, size, cells=cells,
                             detail=detail,
                             rechecks=rechecks,
                             rechecked_with="the source's", rechecked_cells=tuple(c.cell for c in corrected)))
    return found


def _shortest_names(names) -> list[str]:
    """Distinct configuration names, a name that extends another ("TSN, ECCV 2016, the abstract's") dropped."""
    kept: list[str] = []
    for name in sorted(dict.fromkeys(names), key=len):
        if not any(name.startswith(k) for k in kept):
            kept.append(name)
    return kept


def copied_rows(paper: Paper, verdicts: Mapping[CellKey, Verdict], checks: Mapping[CellKey, SourceCheck],
                explained: set[CellKey]) -> list[Finding]:
    """Cited rows of different models that print the same two or more numbers, where a measurement or a source
    shows the numbers are not those of every row: one finding per group of rows, unless a finding already
    names all the copies."""
    found = []
    for table in paper.tables.values():
        printed = {row: {c.label: cell.printed for c in table.columns
                         if not (cell := table.cells[(row, c.label)]).absent and cell.kind != "count"}
                   for row in table.rows if CITATION.search(row)}
        groups: dict[tuple, set[str]] = defaultdict(set)
        rows = list(printed)
        for i, a in enumerate(rows):
            for b in rows[i + 1:]:
                shared = tuple(col for col in printed[a] if printed[b].get(col) == printed[a][col])
                if len(shared) >= 2 and _model(a) != _model(b):
                    groups[tuple((col, printed[a][col]) for col in shared)] |= {a, b}
        for shared, members in groups.items():
            members = [r for r in table.rows if r in members]
            keys = [(table.table, row, col) for row in members for col, _ in shared]
            named = [row for row in members if all((table.table, row, col) in explained for col, _ in shared)]
            if len(named) >= len(members) - 1:  # a finding already names the copies (the original may be unnamed)
                continue
            evidence = _copy_evidence(paper, keys, verdicts, checks)
            if not evidence:
                continue
            values = ", ".join(f"{col} {text}" for col, text in shared)
            found.append(Finding(
                slug("copied", table.table, *members), ERROR, "a row copied from another",
                f"Table {table.table} · {' and '.join(members)}: different models print the same {values}; "
                + "; ".join(evidence), cells=tuple(keys),
                deviating=tuple(k for k in keys if k in verdicts and verdicts[k].status == DEVIATES)))
    return found


def _model(row: str) -> str:
    """The model a row names: its label without the group prefix and citation mark."""
    return CITATION.sub("", row.split(" / ")[-1]).strip()


def _copy_evidence(paper: Paper, keys: list[CellKey], verdicts: Mapping[CellKey, Verdict],
                   checks: Mapping[CellKey, SourceCheck]) -> list[str]:
    """What shows copied numbers are not every row's own: a measured value that deviates, a source that
    prints another number."""
    evidence = []
    for key in keys:
        verdict, source = verdicts.get(key), checks.get(key)
        if verdict is not None and verdict.status == DEVIATES:
            evidence.append(f"{key[1]} {key[2]} measures {verdict.measured:.4g}")
        if source is not None and source.verdict in (DIFFERS, OTHER_CONFIG) and source.correction:
            evidence.append(f"the source of {key[1]} prints {source.correction.value.text} for its {key[2]}")
    return evidence
