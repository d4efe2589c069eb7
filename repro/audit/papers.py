"""The papers' tables and claims, loaded from `papers/<id>/*.yaml` (see papers/SCHEMA.md)."""
from __future__ import annotations

import difflib
import math
import os
import re
from dataclasses import dataclass, field
from functools import cache
import importlib
from importlib import resources
from pathlib import Path
from typing import Any
from collections.abc import Iterator

from ..errors import DataError, ExpressionError, UsageError
from .expr import Expression, parse, split_ref
from .numbers import Printed, is_absent, parse_printed
from ..yamlsrc import LocDict, LocList, load_yaml

KINDS = ("accuracy", "params", "flops", "time", "count", "ratio", "other")
OPS = ("eq", "approx", "gt", "ge", "lt", "le")
READINGS = ("primary", "alternative")
FLOPS_CONVENTIONS = ("macs", "flops", "unknown")
CellKey = tuple[str, str, str]


@dataclass(frozen=True)
class Tolerance:
    """A measured value reproduces a cell when |measured - published| <= max(abs, rel*|published|)."""

    abs: float = 0.0
    rel: float = 0.0

    def allowed(self, published: float) -> float:
        return max(self.abs, self.rel * abs(published))


@dataclass(frozen=True)
class Column:
    label: str
    unit: str
    kind: str
    conditions: dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """One printed cell. `value` is None when the paper printed "-" or "N/A"."""

    paper: str
    table: str
    row: str
    column: str
    printed: str
    value: float | None
    half_unit: float
    unit: str
    kind: str
    conditions: dict[str, Any]
    tolerance: Tolerance | None
    note: str | None
    source: str
    qualifier: str = ""

    @property
    def key(self) -> CellKey:
        return (self.table, self.row, self.column)

    @property
    def absent(self) -> bool:
        return self.value is None

    @property
    def ref(self) -> str:
        return "{" + "|".join(self.key) + "}"

    def printed_number(self) -> Printed:
        return Printed(self.value, self.printed, self.half_unit, self.qualifier)

    def as_json(self) -> dict[str, Any]:
        return {"paper": self.paper, "table": self.table, "row": self.row, "column": self.column,
                "value": self.value, "printed": self.printed, "unit": self.unit,
                "kind": self.kind, "conditions": self.conditions, "source": self.source}


@dataclass
class Table:
    paper: str
    table: str
    caption: str
    note: str | None
    conditions: dict[str, Any]
    columns: list[Column]
    rows: list[str]
    cells: dict[tuple[str, str], Cell]
    source: str


@dataclass(frozen=True)
class Claim:
    """A number the text states (kind "claim") or an identity the tables imply ("relation")."""

    paper: str
    id: str
    kind: str
    quote: str
    where: str | None
    stated_text: str
    stated: Printed | Expression
    unit: str | None
    op: str
    expr: Expression | None
    tolerance: Tolerance | None
    note: str | None
    unchecked: str | None
    source: str
    reading: str = "primary"
    quantity: str | None = None  # what the stated number is, where the sentence prints none

    @property
    def refs(self) -> tuple[CellKey, ...]:
        """Every cell the claim reads, on either side."""
        stated = () if isinstance(self.stated, Printed) else self.stated.refs
        return tuple(dict.fromkeys((*(self.expr.refs if self.expr else ()), *stated)))

    @property
    def stated_refs(self) -> tuple[CellKey, ...]:
        """The cells of its printed side (a relation's); none for a sentence's stated number."""
        return () if isinstance(self.stated, Printed) else self.stated.refs

    def unit_in(self, paper: Paper, printed_side: bool = False) -> str:
        """The unit its difference is in: the claim's own, or that of the cells it reads (or of its printed
        side's cells) when they share one."""
        if self.unit:
            return self.unit
        units = {paper.cell(*k).unit for k in (self.stated_refs if printed_side else self.refs)}
        return units.pop() if len(units) == 1 else ""


@dataclass(frozen=True)
class MethodNote:
    """A list of facts about how the suite follows the paper, e.g. where the authors' public code differs.
    `tables`: the tables the facts change the reading of; the report shows the note beside them."""

    title: str
    source: str | None
    items: tuple[str, ...]
    tables: tuple[str, ...] = ()
    line: int = 0


@dataclass
class Paper:
    id: str
    title: str
    authors: list[str]
    venue: str
    year: int
    flops_convention: str
    root: Path
    notes: str | None = None
    source_text: str | None = None
    method_notes: list[MethodNote] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)

    def cells(self, include_absent: bool = False) -> Iterator[Cell]:
        for table in self.tables.values():
            for cell in table.cells.values():
                if include_absent or not cell.absent:
                    yield cell

    def cell(self, table: str, row: str, column: str) -> Cell:
        """The cell at (table, row, column); KeyError that lists close matches otherwise."""
        if table not in self.tables:
            raise KeyError(f"{self.id}: no table {table!r}; tables are {sorted(self.tables)}")
        found = self.tables[table].cells.get((row, column))
        if found is None:
            tab = self.tables[table]
            raise KeyError(f"{self.id}: table {table} has no cell ({row!r}, {column!r}); "
                           f"{_like('row', row, tab.rows)}, {_like('column', column, [c.label for c in tab.columns])}")
        return found


def _like(kind: str, name: str, names: list[str]) -> str:
    """"rows like it: [...]" with the close matches; "the row is one of [...]" when none is close."""
    if name in names:
        return f"the {kind} exists"
    close = difflib.get_close_matches(name, names, 3, 0.4)
    return f"{kind}s like it: {close}" if close else f"the {kind} is one of {names}"


# ---------------------------------------------------------------------------------------------
# Loading


def kind_of(value: Any) -> str:
    """What a YAML value is, in the words of the file rather than of Python."""
    if value is None:
        return "nothing"
    if isinstance(value, LocList):
        return "a list"
    if isinstance(value, LocDict):
        return "a mapping"
    return f"the value {value!r}"


class DataReader:
    """Validates one YAML file's fields, raising DataError that names file, line and field."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, line: int | None, field_name: str, expected: str) -> DataError:
        return DataError(self.path, line, field_name, expected)

    def mapping(self, value: Any, line: int, name: str) -> LocDict:
        if not isinstance(value, LocDict):
            raise self.fail(line, name, f"a mapping (key: value lines), got {kind_of(value)}")
        return value

    def seq(self, value: Any, line: int, name: str) -> LocList:
        if not isinstance(value, LocList):
            raise self.fail(line, name, f"a list (- item lines, or [a, b]), got {kind_of(value)}")
        return value

    def known(self, node: LocDict, name: str, fields: tuple[str, ...]) -> None:
        """Fail on a field the format does not have (a misspelt `explain:` would otherwise be ignored)."""
        for key in node:
            if key not in fields:
                close = difflib.get_close_matches(str(key), fields, 1, 0.6)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.fail(node.line_of_key(key), f"{name}.{key}",
                                f"one of the fields {', '.join(fields)}; {key!r} is not one{hint}")

    def text(self, node: LocDict, key: str, name: str, required: bool = True) -> str | None:
        """A scalar field read as the text written in the file (so 1:1 stays "1:1")."""
        if key not in node or node[key] is None:
            if required:
                raise self.fail(node.line, f"{name}.{key}", "a value (this field is required)")
            return None
        raw = node.raws.get(key)
        if raw is None:
            raise self.fail(node.line_of(key), f"{name}.{key}", "a single value, not a list or mapping")
        return raw.strip()

    def choice(self, node: LocDict, key: str, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.text(node, key, name, required=False) or default
        if value not in allowed:
            raise self.fail(node.line_of(key), f"{name}.{key}", f"one of {', '.join(allowed)}, got {value!r}")
        return value

    def tolerance(self, node: LocDict, name: str) -> Tolerance | None:
        if "tolerance" not in node:
            return None
        tol = self.mapping(node["tolerance"], node.line_of("tolerance"), f"{name}.tolerance")
        unknown = set(tol) - {"abs", "rel"}
        if unknown or not tol:
            raise self.fail(tol.line, f"{name}.tolerance", "a mapping with abs and/or rel, e.g. {rel: 0.01}")
        try:
            tolerance = Tolerance(abs=float(tol.get("abs", 0.0)), rel=float(tol.get("rel", 0.0)))
        except (TypeError, ValueError):
            raise self.fail(tol.line, f"{name}.tolerance", "numbers for abs and rel") from None
        if not all(math.isfinite(x) and x >= 0 for x in (tolerance.abs, tolerance.rel)):
            raise self.fail(tol.line, f"{name}.tolerance", f"non-negative finite abs and rel, got {dict(tol)}")
        return tolerance

    def top_list(self, key: str) -> tuple[LocDict, LocList]:
        """The file's one field, a list under `key:` (findings.yaml, citations.yaml, plots.yaml)."""
        top = self.mapping(load_yaml(self.path), 1, self.path.name)
        self.known(top, self.path.name, (key,))
        return top, self.seq(top.get(key), top.line_of(key), key)

    def optional_list(self, node: LocDict, key: str, name: str) -> LocList:
        """A list field that may be left out (read as empty)."""
        if node.get(key) is None:
            return LocList()
        return self.seq(node[key], node.line_of(key), f"{name}.{key}")

    def cell(self, paper: Paper, item: object, line: int, field_name: str) -> tuple[str, str, str]:
        """A cell reference "{table|row|column}" of a printed cell."""
        text = str(item).strip()
        try:
            if not (text.startswith("{") and text.endswith("}")):
                raise ValueError(f"a cell as {{table|row|column}}, got {text!r}")
            ref = split_ref(text[1:-1])
            if paper.cell(*ref).absent:
                raise ValueError(f"a cell with a value; {text} is printed as absent")
        except (ValueError, KeyError) as exc:
            raise self.fail(line, field_name, str(exc.args[0])) from None
        return ref

    def cells(self, paper: Paper, node: LocDict, key: str, name: str) -> tuple[tuple[str, str, str], ...]:
        return tuple(self.cell(paper, item, node.line_of(key), f"{name}.{key}")
                     for item in self.optional_list(node, key, name))

    def conditions(self, node: LocDict, name: str) -> dict[str, Any]:
        if "conditions" not in node or node["conditions"] is None:
            return {}
        found = self.mapping(node["conditions"], node.line_of("conditions"), f"{name}.conditions")
        return {str(k): (v if isinstance(v, (int, float, bool)) else str(v)) for k, v in found.items()}


def _load_metadata(root: Path) -> Paper:
    path = root / "paper.yaml"
    reader = DataReader(path)
    meta = reader.mapping(load_yaml(path), 1, "paper")
    paper_id = reader.text(meta, "id", "paper")
    if paper_id != root.name:
        raise reader.fail(meta.line_of("id"), "paper.id", f"the folder name {root.name!r}, got {paper_id!r}")
    authors = reader.seq(meta.get("authors"), meta.line_of("authors"), "paper.authors")
    year = reader.text(meta, "year", "paper")
    if not re.fullmatch(r"\d{4}", year):
        raise reader.fail(meta.line_of("year"), "paper.year", f"a four-digit year, got {year!r}")
    return Paper(
        id=paper_id, title=reader.text(meta, "title", "paper"), authors=[str(a) for a in authors],
        venue=reader.text(meta, "venue", "paper"), year=int(year),
        flops_convention=reader.choice(meta, "flops_convention", "paper", FLOPS_CONVENTIONS, "unknown"),
        root=root, notes=reader.text(meta, "notes", "paper", required=False),
        source_text=reader.text(meta, "source", "paper", required=False),
        method_notes=_method_notes(reader, meta),
    )


OWN_PACKAGES = ("repro", "baselines", "papers")


def _method_notes(reader: DataReader, meta: LocDict) -> list[MethodNote]:
    """`method_notes`: each a title, a source and its `items`, written out or taken `from` a
    `module:ATTRIBUTE` tuple of strings, so the report quotes the code's own list and cannot drift."""
    if meta.get("method_notes") is None:
        return []
    notes = []
    found = reader.seq(meta["method_notes"], meta.line_of("method_notes"), "paper.method_notes")
    for index, node in enumerate(found):
        name = f"paper.method_notes[{index}]"
        node = reader.mapping(node, found.line_of(index), name)
        if ("items" in node) == ("from" in node):
            raise reader.fail(node.line, name, "either items (a list of sentences) or from (module:ATTRIBUTE)")
        if "items" in node:
            items = tuple(str(i) for i in reader.seq(node["items"], node.line_of("items"), f"{name}.items"))
        else:
            ref = reader.text(node, "from", name)
            module, _, attribute = ref.partition(":")
            if module.split(".")[0] not in OWN_PACKAGES:  # never import what a data file names from elsewhere
                raise reader.fail(node.line_of("from"), f"{name}.from",
                                  f"a module of this project ({', '.join(p + '.' for p in OWN_PACKAGES)}), got {ref!r}")
            try:
                items = getattr(importlib.import_module(module), attribute)
            except (ImportError, AttributeError, ValueError):
                raise reader.fail(node.line_of("from"), f"{name}.from",
                                  f"an importable module:ATTRIBUTE, got {ref!r}") from None
            if not isinstance(items, (tuple, list)) or not all(isinstance(i, str) for i in items):
                raise reader.fail(node.line_of("from"), f"{name}.from", f"{ref} to be a tuple of strings")
        tables = () if node.get("tables") is None else tuple(
            str(t) for t in reader.seq(node["tables"], node.line_of("tables"), f"{name}.tables"))
        notes.append(MethodNote(reader.text(node, "title", name), reader.text(node, "source", name, required=False),
                                tuple(items), tables, node.line))
    return notes


def _load_tables(paper: Paper) -> None:
    path = paper.root / "tables.yaml"
    reader = DataReader(path)
    top = reader.mapping(load_yaml(path), 1, "tables.yaml")
    tables = reader.seq(top.get("tables"), top.line_of("tables"), "tables")
    for t_index, t_node in enumerate(tables):
        t_name = f"tables[{t_index}]"
        t_node = reader.mapping(t_node, tables.line_of(t_index), t_name)
        reader.known(t_node, t_name, ("table", "caption", "conditions", "note", "columns", "rows"))
        table_id = reader.text(t_node, "table", t_name)
        if not re.fullmatch(r"\d+[a-z]?", table_id):
            raise reader.fail(t_node.line_of("table"), f"{t_name}.table",
                              f"the paper's table number as digits with an optional letter "
                              f"(\"2\", \"2a\"; Roman numerals as integers), got {table_id!r}")
        if table_id in paper.tables:
            raise reader.fail(t_node.line_of("table"), f"{t_name}.table",
                              f"a new table id; {table_id} is declared twice")
        t_name = f"table {table_id}"
        conditions = reader.conditions(t_node, t_name)
        columns = _read_columns(reader, t_node, t_name)
        table = Table(paper=paper.id, table=table_id, caption=reader.text(t_node, "caption", t_name),
                      note=reader.text(t_node, "note", t_name, required=False), conditions=conditions,
                      columns=columns, rows=[], cells={}, source=f"{path}:{t_node.line}")
        _read_rows(reader, t_node, table, t_name)
        paper.tables[table_id] = table


def _read_columns(reader: DataReader, t_node: LocDict, t_name: str) -> list[Column]:
    col_nodes = reader.seq(t_node.get("columns"), t_node.line_of("columns"), f"{t_name}.columns")
    columns: list[Column] = []
    for c_index, c_node in enumerate(col_nodes):
        c_name = f"{t_name}.columns[{c_index}]"
        c_node = reader.mapping(c_node, col_nodes.line_of(c_index), c_name)
        reader.known(c_node, c_name, ("label", "unit", "kind", "conditions"))
        label = reader.text(c_node, "label", c_name)
        if "unit" not in c_node or c_node["unit"] in (None, ""):
            raise reader.fail(c_node.line, f"{c_name}.unit",
                              f"a unit for column {label!r} (e.g. \"%\", M, GFLOPs, s, clips)")
        if any(col.label == label for col in columns):
            raise reader.fail(c_node.line, f"{c_name}.label", f"a unique column label; {label!r} repeats")
        columns.append(Column(label=label, unit=reader.text(c_node, "unit", c_name),
                              kind=reader.choice(c_node, "kind", c_name, KINDS, "other"),
                              conditions=reader.conditions(c_node, c_name)))
    if not columns:
        raise reader.fail(col_nodes.line, f"{t_name}.columns", "at least one column")
    return columns


def _read_rows(reader: DataReader, t_node: LocDict, table: Table, t_name: str) -> None:
    row_nodes = reader.seq(t_node.get("rows"), t_node.line_of("rows"), f"{t_name}.rows")
    for r_index, r_node in enumerate(row_nodes):
        r_name = f"{t_name}.rows[{r_index}]"
        r_node = reader.mapping(r_node, row_nodes.line_of(r_index), r_name)
        reader.known(r_node, r_name, ("label", "values", "conditions"))
        label = reader.text(r_node, "label", r_name)
        r_name = f"{t_name}.row {label!r}"
        if label in table.rows:
            raise reader.fail(r_node.line, f"{r_name}.label",
                              f"a unique row label; {label!r} repeats, so its cells would be duplicates")
        values = reader.seq(r_node.get("values"), r_node.line_of("values"), f"{r_name}.values")
        if len(values) != len(table.columns):
            raise reader.fail(values.line, f"{r_name}.values",
                              f"{len(table.columns)} values, one per column "
                              f"({', '.join(c.label for c in table.columns)}), got {len(values)}")
        row_conditions = reader.conditions(r_node, r_name)
        table.rows.append(label)
        for column, value, raw, line in zip(table.columns, values, values.raws, values.lines, strict=True):
            cell = _read_cell(reader, table, label, column, value, raw, line, row_conditions, r_name)
            table.cells[(label, column.label)] = cell


LARGEST_PRINTED = 1e15  # no paper prints a larger number; a 400-digit value is a typo


def _out_of_range(value: float, kind: str) -> str | None:
    """What a printed value of this kind must be, when it is not."""
    if not math.isfinite(value) or abs(value) > LARGEST_PRINTED:
        return f"a number of at most {LARGEST_PRINTED:.0e} in size"
    if kind in ("params", "flops", "time", "count") and value < 0:
        return f"a non-negative value for a {kind} column"
    if kind == "count" and value != int(value):
        return "a whole number for a count column (clips, frames)"
    return None


def _read_cell(reader: DataReader, table: Table, row: str, column: Column, value: Any, raw: str | None,
               line: int, row_conditions: dict, r_name: str) -> Cell:
    name = f"{r_name}.values[{column.label!r}]"
    conditions = {**table.conditions, **column.conditions, **row_conditions}
    tolerance = note = None
    if isinstance(value, LocDict):
        conditions.update(reader.conditions(value, name))
        tolerance = reader.tolerance(value, name)
        note = reader.text(value, "note", name, required=False)
        if "value" not in value:
            raise reader.fail(line, f"{name}.value", "the printed value")
        raw, line = value.raws.get("value"), value.line_of("value")
        value = value["value"]
    if isinstance(value, (LocDict, LocList)):
        raise reader.fail(line, name, "a printed number or \"-\"")
    common = dict(paper=table.paper, table=table.table, row=row, column=column.label, unit=column.unit,
                  kind=column.kind, conditions=conditions, tolerance=tolerance, note=note,
                  source=f"{reader.path}:{line}")
    if is_absent(raw if raw is not None else value):
        return Cell(printed=str(raw or "-"), value=None, half_unit=0.0, **common)
    try:
        printed = parse_printed(raw if raw is not None else value)
    except ValueError as exc:
        raise reader.fail(line, name, str(exc)) from None
    problem = _out_of_range(printed.value, column.kind)
    if problem:
        raise reader.fail(line, name, f"{problem}, got {printed.text[:40]!r}")
    # Counts (clips, frames) are exact: "8 clips" is not a rounded 8 +- 0.5.
    half_unit = 0.0 if column.kind == "count" else printed.half_unit
    return Cell(printed=printed.text, value=printed.value, half_unit=half_unit,
                qualifier=printed.qualifier, **common)


def _load_claims(paper: Paper) -> None:
    path = paper.root / "claims.yaml"
    reader = DataReader(path)
    top = reader.mapping(load_yaml(path), 1, "claims.yaml")
    seen: set[str] = set()
    for section, kind in (("claims", "claim"), ("relations", "relation")):
        if top.get(section) is None:
            continue
        nodes = reader.seq(top[section], top.line_of(section), section)
        for index, node in enumerate(nodes):
            claim = _read_claim(reader, paper, reader.mapping(node, nodes.line_of(index), f"{section}[{index}]"),
                                f"{section}[{index}]", kind)
            if claim.id in seen:
                raise reader.fail(node.line_of("id"), f"{section}[{index}].id", f"a unique id; {claim.id!r} repeats")
            seen.add(claim.id)
            paper.claims.append(claim)


CLAIM_FIELDS = ("id", "quote", "where", "stated", "unit", "op", "expr", "tolerance", "note", "unchecked", "reading",
                "quantity")
RELATION_FIELDS = ("id", "text", "stated", "unit", "op", "expr", "tolerance", "note")


def _read_claim(reader: DataReader, paper: Paper, node: LocDict, name: str, kind: str) -> Claim:
    claim_id = reader.text(node, "id", name)
    name = f"{name} ({claim_id})"
    reader.known(node, name, CLAIM_FIELDS if kind == "claim" else RELATION_FIELDS)
    quote = reader.text(node, "quote" if kind == "claim" else "text", name)
    stated_text = reader.text(node, "stated", name)
    if kind == "claim":
        try:
            stated: Printed | Expression = parse_printed(stated_text)
        except ValueError as exc:
            raise reader.fail(node.line_of("stated"), f"{name}.stated", str(exc)) from None
    else:
        stated = read_expr(reader, paper, node, "stated", name)
    expr = read_expr(reader, paper, node, "expr", name) if node.get("expr") is not None else None
    unchecked = reader.text(node, "unchecked", name, required=False)
    if expr is None and not unchecked:
        raise reader.fail(node.line, f"{name}.expr",
                          "an expression over table cells, or expr: null with a reason in `unchecked`")
    return Claim(paper=paper.id, id=claim_id, kind=kind, quote=quote,
                 where=reader.text(node, "where", name, required=False), stated_text=stated_text,
                 stated=stated, unit=reader.text(node, "unit", name, required=False),
                 op=reader.choice(node, "op", name, OPS, "eq"), expr=expr,
                 tolerance=reader.tolerance(node, name), note=reader.text(node, "note", name, required=False),
                 unchecked=unchecked if expr is None else None, source=f"{reader.path}:{node.line}",
                 reading=reader.choice(node, "reading", name, READINGS, "primary"),
                 quantity=reader.text(node, "quantity", name, required=False))


def read_expr(reader: DataReader, paper: Paper, node: LocDict, key: str, name: str) -> Expression:
    text = reader.text(node, key, name)
    line = node.line_of(key)
    try:
        expression = parse(text)
    except ExpressionError as exc:
        raise reader.fail(line, f"{name}.{key}", str(exc)) from None
    for ref in expression.refs:
        try:
            cell = paper.cell(*ref)
        except KeyError as exc:
            raise reader.fail(line, f"{name}.{key}", f"a reference to a declared cell: {exc.args[0]}") from None
        if cell.absent:
            shown = "{" + "|".join(ref) + "}"
            raise reader.fail(line, f"{name}.{key}", f"a cell with a value; {shown} is printed as {cell.printed!r}")
    return expression


def _evaluate_claims(paper: Paper) -> None:
    """Evaluate every claim's expressions once over the printed cells, so an expression with no value (a
    division by a cell printed as 0, an overflow) fails at load with its file and line."""
    from .expr import Interval

    lookup = {}
    for cell in paper.cells():
        number = cell.printed_number()
        lo, hi = number.bounds()
        lookup[cell.key] = Interval(lo, number.value, hi)
    for claim in paper.claims:
        for side, expression in (("expr", claim.expr), ("stated", claim.stated)):
            if isinstance(expression, Expression):
                try:
                    expression.evaluate(lookup)
                except ExpressionError as exc:
                    path, _, line = claim.source.rpartition(":")
                    raise DataError(path, int(line), f"{claim.id}.{side}",
                                    f"an expression with a value: {exc}") from None


def load_paper(root: Path) -> Paper:
    """Load and validate one paper folder."""
    paper = _load_metadata(Path(root))
    _load_tables(paper)
    _load_claims(paper)
    _evaluate_claims(paper)
    for index, note in enumerate(paper.method_notes):
        unknown = [t for t in note.tables if t not in paper.tables]
        if unknown:
            raise DataError(paper.root / "paper.yaml", note.line, f"paper.method_notes[{index}].tables",
                            f"tables of tables.yaml ({', '.join(paper.tables)}), got {', '.join(unknown)}")
    return paper


def papers_root() -> Path:
    """The folder of paper declarations: $REPRO_PAPERS, else the installed `papers` package."""
    override = os.environ.get("REPRO_PAPERS")
    if override is not None and not override.strip():
        raise DataError("$REPRO_PAPERS", None, "REPRO_PAPERS", "a folder of paper declarations; it is set but "
                        "empty (unset it to use the papers installed with repro)")
    return Path(override) if override else Path(str(resources.files("papers")))


def paper_ids(root: Path | None = None) -> list[str]:
    root = root or papers_root()
    return sorted(p.name for p in root.iterdir() if (p / "paper.yaml").is_file())


@cache
def _cached(root: Path, paper_id: str) -> Paper:
    return load_paper(root / paper_id)


def load_papers(only: str | None = None, root: Path | None = None) -> list[Paper]:
    """Every declared paper (or only `only`), validated."""
    root = Path(root or papers_root())
    if not root.is_dir():
        raise DataError(root, None, "papers", "a folder of paper declarations (papers/<id>/paper.yaml)")
    ids = paper_ids(root)
    if not ids:
        raise DataError(root, None, "papers", "at least one paper folder (<id>/paper.yaml); this folder has none")
    if only is not None and only not in ids:
        lower = {i.lower(): i for i in ids}
        close = [lower[only.lower()]] if only.lower() in lower else difflib.get_close_matches(only, ids, 3, 0.3)
        raise UsageError(f"--paper: one of {', '.join(ids)} (the papers in {root}), got {only!r}"
                         + (f"; did you mean {close[0]}?" if close else ""))
    return [_cached(root, pid) for pid in ids if only in (None, pid)]
