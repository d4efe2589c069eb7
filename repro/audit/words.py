"""Cells, expressions and sentences in short words, for one-line findings and terminal output."""
from __future__ import annotations

from .expr import REF, Expression, split_ref
from .papers import CellKey, Claim


def cell_words(key: CellKey) -> str:
    """A cell in words: "Table 2 · Model A / 16-frames · GFLOPs"."""
    return f"Table {key[0]} · {key[1]} · {key[2]}"


def short(text: str, limit: int = 140) -> str:
    """`text` cut at a word boundary to at most `limit` characters."""
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


def expression_words(expression: Expression, table: str | None = None, column: str | None = None) -> str:
    """An expression with each cell named by its row: "1:3 − 1:7", "4 × (T2 Model B / 8-frames − …)".
    A cell of another table than `table` is named by table and row, one of another column with its column."""

    def name(key: CellKey) -> str:
        if key[0] != table:  # another table's cell: its row names it well enough in a line
            return f"T{key[0]} {key[1]}"
        return key[1] if key[2] == column or column is None else f"{key[1]} ({key[2]})"

    operators = REF.split(expression.text)[::2]  # the text between references
    names = [name(split_ref(m.group(1))) for m in REF.finditer(expression.text)]
    text = "".join(op.replace("-", "−").replace("*", "×") + (names[i] if i < len(names) else "")
                   for i, op in enumerate(operators))
    return " ".join(text.split())


def relation_words(claim: Claim) -> tuple[str, str]:
    """A relation in short words: its head ("Table 4 · 8-frames×32-clips / GFLOPs") and its printed side
    ("1:3 − 1:7"), cells named by their row within that table and column."""
    if not claim.stated_refs:
        return "", short(claim.quote, 100)
    table, column = table_and_column(claim)
    head = (f"Table {table}" if table else "Tables") + (f" · {column}" if column else "")
    return head, expression_words(claim.stated, table, column)


def table_and_column(claim: Claim) -> tuple[str | None, str | None]:
    """The one table and the one column of a relation's printed side, each None where its cells span several."""
    tables, columns = {k[0] for k in claim.stated_refs}, {k[2] for k in claim.stated_refs}
    return (next(iter(tables)) if len(tables) == 1 else None, next(iter(columns)) if len(columns) == 1 else None)
