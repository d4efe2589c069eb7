"""Cells, expressions and sentences in short words, for one-line findings and terminal output."""
from __future__ import annotations

from .expr import REF, Expression, split_ref
from .papers import CellKey, Claim


def cell_words(key: CellKey) -> str:
    """A cell in words: "Table 2 · R2D-26 / 16-frames · GFLOPs×Clips / GFLOPs"."""
    return f"Table {key[0]} · {key[1]} · {key[2]}"


def short(text: str, limit: int = 140) -> str:
    """`text` cut at a word boundary to at most `limit` characters."""
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


def expression_words(expression: Expression, table: str | None = None, column: str | None = None) -> str:
    """An expression with each cell named by its row: "1:3 − 1:7", "4 × (T2 R(2+1)D-50 / 8-frames − …)".
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
    stated = claim.stated
    if not isinstance(stated, Expression) or not stated.refs:
        return "", short(claim.quote, 100)
    tables = {k[0] for k in stated.refs}
    columns = {k[2] for k in stated.refs}
    table = next(iter(tables)) if len(tables) == 1 else None
    column = next(iter(columns)) if len(columns) == 1 else None
    head = (f"Table {table}" if table else "Tables") + (f" · {column}" if column else "")
    return head, expression_words(stated, table, column)
