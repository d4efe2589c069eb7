"""Quoted numbers against their sources: `papers/<id>/citations.yaml` (papers/SCHEMA.md).

Each cited row names the paper it quotes; where that source's own numbers could be read (its tables, its
authors' README, a model zoo's metafile), the file records them with where they were read. Every quoted
cell then gets a source verdict: equal, rounded differently, the number of another configuration, differs,
or not found in the source.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .numbers import Printed, parse_printed
from .papers import CellKey, DataReader, Paper
from .verdicts import CITATION

SAME, OTHER = "same", "other"
EQUAL, ROUNDED, OTHER_CONFIG, DIFFERS, NOT_FOUND = (
    "equal", "rounded differently", "another configuration", "differs", "not found in the source")
SOURCE_VERDICTS = (EQUAL, ROUNDED, OTHER_CONFIG, DIFFERS, NOT_FOUND)
SHORT = {EQUAL: "equal", ROUNDED: "rounded", OTHER_CONFIG: "other config", DIFFERS: "differs", NOT_FOUND: "not found"}
FIELDS = ("table", "rows", "source", "published", "not_found", "unread")
PUBLISHED_FIELDS = ("cell", "value", "setting", "configuration", "read", "caveat")


@dataclass(frozen=True)
class Published:
    """One number a source printed, and where it was read."""

    cell: CellKey
    value: Printed
    setting: str  # SAME: the configuration the row names; OTHER: another one, named in `configuration`
    configuration: str
    read: str
    caveat: str | None


@dataclass(frozen=True)
class Citation:
    table: str
    rows: tuple[str, ...]
    source: str
    published: tuple[Published, ...]
    not_found: str | None
    where: str
    unread: bool = False  # the search found nothing of the source to read (no code, no results page, no paper)


@dataclass(frozen=True)
class SourceCheck:
    """A quoted cell against what its source published."""

    cell: CellKey
    verdict: str
    citation: Citation
    matched: Published | None = None  # the source's number the quotation equals
    correction: Published | None = None  # the source's number for the row's configuration, where the quote differs

    @property
    def short(self) -> str:
        """The verdict in a cell's badge; "not found" says whether any source was read for the row at all."""
        if self.verdict == NOT_FOUND and not self.source_read:
            return "no source read"
        return SHORT[self.verdict]

    @property
    def source_read(self) -> bool:
        """Something of the row's source was read, whether or not it prints this number (citations.yaml
        says `unread: true` where the search found nothing to read)."""
        return not self.citation.unread

    @property
    def published(self) -> tuple[Published, ...]:
        return tuple(p for p in self.citation.published if p.cell == self.cell)

    def text(self) -> str:
        """One line for a tooltip or a table: the verdict and the source's numbers, with where they were read."""
        if self.verdict in (EQUAL, ROUNDED):
            return f"{self.verdict}: the source prints {self.matched.value.text}; read in {self.matched.read}"
        if self.verdict == OTHER_CONFIG:
            same = f"; for the row's configuration it prints {self.correction.value.text} ({self.correction.read})" \
                if self.correction else ""
            return (f"the source's number for another configuration, {self.matched.configuration} "
                    f"({self.matched.read}){same}")
        if self.verdict == DIFFERS:
            return f"the source prints {self.correction.value.text} ({self.correction.configuration}); read in " \
                   f"{self.correction.read}"
        given = "; ".join(f"{p.value.text} for {p.configuration} ({p.read})" for p in self.published)
        if not self.source_read:
            return "no source of this row was read: " + (self.citation.not_found or "")
        return "not found in the source: " + (f"it gives {given}" if given else self.citation.not_found or "")


def citations_path(paper: Paper) -> Path:
    return paper.root / "citations.yaml"


def cited_rows(paper: Paper) -> list[tuple[str, str]]:
    """(table, row) of every row whose label carries a citation mark."""
    return [(t.table, row) for t in paper.tables.values() for row in t.rows if CITATION.search(row)]


def load_citations(paper: Paper) -> list[Citation]:
    """The paper's citations.yaml, validated: known rows and cells, every cited row in exactly one entry,
    every published number with where it was read. No file: no citations."""
    path = citations_path(paper)
    if not path.is_file():
        return []
    reader = DataReader(path)
    top, nodes = reader.top_list("citations")
    found: list[Citation] = []
    covered: dict[tuple[str, str], str] = {}
    for index, node in enumerate(nodes):
        name = f"citations[{index}]"
        node = reader.mapping(node, nodes.line_of(index), name)
        reader.known(node, name, FIELDS)
        table = reader.text(node, "table", name)
        if table not in paper.tables:
            raise reader.fail(node.line_of("table"), f"{name}.table",
                              f"a table of tables.yaml ({', '.join(paper.tables)}), got {table!r}")
        rows = tuple(str(r) for r in reader.optional_list(node, "rows", name))
        if not rows:
            raise reader.fail(node.line, f"{name}.rows", "the cited rows (labels as in tables.yaml)")
        for row in rows:
            if row not in paper.tables[table].rows:
                raise reader.fail(node.line_of("rows"), f"{name}.rows", f"rows of Table {table}; {row!r} is not one")
            if (table, row) in covered:
                raise reader.fail(node.line_of("rows"), f"{name}.rows",
                                  f"each row in one entry; {row!r} is already in {covered[(table, row)]}")
            covered[(table, row)] = f"{path.name}:{node.line}"
        items = reader.optional_list(node, "published", name)
        published = tuple(_published(reader, paper, item, items.line_of(i), f"{name}.published[{i}]", table, rows)
                          for i, item in enumerate(items))
        not_found = reader.text(node, "not_found", name, required=False)
        uncovered = [c for row in rows for c in _present(paper, table, row)
                     if not any(p.cell == c for p in published)]
        if uncovered and not not_found:
            raise reader.fail(node.line, f"{name}.not_found",
                              f"one line on what was searched, for the cells no published entry covers "
                              f"({', '.join(c[2] for c in uncovered[:3])}{' …' if len(uncovered) > 3 else ''})")
        unread = reader.choice(node, "unread", name, ("true", "false"), "false") == "true"
        if unread and (published or not not_found):
            raise reader.fail(node.line_of("unread"), f"{name}.unread",
                              "true only for an entry with no published numbers and a not_found saying what was "
                              "searched")
        found.append(Citation(table, rows, reader.text(node, "source", name), published, not_found,
                              f"{path}:{node.line}", unread))
    missing = [f"Table {t} · {r}" for t, r in cited_rows(paper) if (t, r) not in covered]
    if missing:
        raise reader.fail(top.line_of("citations"), "citations",
                          f"an entry for every cited row; missing {'; '.join(missing)}")
    return found


def _present(paper: Paper, table: str, row: str) -> list[CellKey]:
    """The row's printed numbers, without the counts (clips, frames) that are settings, not results."""
    t = paper.tables[table]
    return [cell.key for col in t.columns if not (cell := t.cells[(row, col.label)]).absent and cell.kind != "count"]


def _published(reader: DataReader, paper: Paper, node, line: int, name: str, table: str,
               rows: tuple[str, ...]) -> Published:
    node = reader.mapping(node, line, name)
    reader.known(node, name, PUBLISHED_FIELDS)
    key = reader.cell(paper, node.get("cell"), node.line_of("cell") if "cell" in node else node.line, f"{name}.cell")
    if key[0] != table or key[1] not in rows:
        raise reader.fail(node.line_of("cell"), f"{name}.cell", f"a cell of this entry's rows of Table {table}")
    raw = reader.text(node, "value", name)
    try:
        value = parse_printed(raw)
    except ValueError:
        raise reader.fail(node.line_of("value"), f"{name}.value", f"a number as the source prints it, got {raw!r}") \
            from None
    return Published(key, value, reader.choice(node, "setting", name, (SAME, OTHER), SAME),
                     reader.text(node, "configuration", name), reader.text(node, "read", name),
                     reader.text(node, "caveat", name, required=False))


def agreement(printed: Printed, source: Printed) -> str | None:
    """EQUAL when the two are the same number; ROUNDED when the more precise one rounds to the other; None
    when they differ."""
    if abs(printed.value - source.value) < 1e-9:
        return EQUAL
    coarse, fine = sorted((printed, source), key=lambda p: p.half_unit, reverse=True)
    if coarse.half_unit > fine.half_unit and abs(fine.value - coarse.value) <= coarse.half_unit + 1e-9:
        return ROUNDED
    return None


def check_citations(paper: Paper, citations: list[Citation]) -> dict[CellKey, SourceCheck]:
    """The source verdict of every quoted cell of every cited row."""
    checks: dict[CellKey, SourceCheck] = {}
    for citation in citations:
        for row in citation.rows:
            for key in _present(paper, citation.table, row):
                checks[key] = _judge(paper.cell(*key).printed_number(), key, citation)
    return checks


def _judge(printed: Printed, key: CellKey, citation: Citation) -> SourceCheck:
    entries = [p for p in citation.published if p.cell == key]
    same = [p for p in entries if p.setting == SAME]
    for p in same:
        verdict = agreement(printed, p.value)
        if verdict:
            return SourceCheck(key, verdict, citation, matched=p)
    for p in entries:
        if p.setting == OTHER and agreement(printed, p.value):
            return SourceCheck(key, OTHER_CONFIG, citation, matched=p, correction=same[0] if same else None)
    if same:
        return SourceCheck(key, DIFFERS, citation, correction=same[0])
    return SourceCheck(key, NOT_FOUND, citation)
