"""Numbers and expressions as a reader should see them (jinja2 filters).

Printed numbers keep the paper's text; measured and computed ones are shown at the precision the paper
printed (repro.audit.numbers.show: no exponent form, no "-0.0"); an expression over cells is shown in words
("Table 2 · Model A / 8-frames · GFLOPs (30.0)"), each cell a link to where the table prints it.
"""
from __future__ import annotations

import re

from markupsafe import Markup, escape

from ..audit.expr import REF, split_ref
from ..audit.numbers import MINUS, decimals_for, show
from ..audit.papers import CellKey, Paper
from ..audit.verdicts import Verdict


def cell_id(key: CellKey) -> str:
    """The HTML id of a cell of a paper's table."""
    text = "-".join(key).lower()
    return "cell-" + "-".join(filter(None, re.split(r"[^a-z0-9]+", text)))


def num(value: float | None, digits: int = 4) -> str:
    """At most `digits` significant digits, trailing zeros dropped (as %g), never in exponent form."""
    if value is None:
        return "—"
    text = show(value, decimals_for(value, digits))
    return text.rstrip("0").rstrip(".") if "." in text else text


def ms(seconds: float) -> str:
    """Seconds shown as milliseconds with three significant digits, never in exponent form."""
    return num(1000 * seconds, 3)


def at_cell(value: float | None, paper: Paper, key: CellKey, extra: int = 0, signed: bool = False) -> str:
    """`value` at the precision the paper printed cell `key` with (plus `extra` digits)."""
    return show(value, paper.cell(*key).printed_number().decimals + extra, signed=signed)


def delta(verdict: Verdict, paper: Paper, key: CellKey) -> str:
    """"Δ +0.3 (+5.6%)": measured minus printed at the printed precision (one digit more when that shows 0)."""
    if verdict.delta is None:
        return ""
    shown = at_cell(verdict.delta, paper, key, signed=True)
    if not shown.strip("+−0.,"):
        shown = at_cell(verdict.delta, paper, key, 1, signed=True)
    text = f"Δ {shown}"
    if verdict.relative is not None:
        text += f" ({show(100 * verdict.relative, 1, signed=True)}%)"
    return text


def _ref_words(paper: Paper, inner: str, link: bool) -> str:
    key = split_ref(inner)
    try:
        cell = paper.cell(*key)
    except KeyError:
        return str(escape("{" + inner + "}"))
    text = escape(f"T{key[0]} · {key[1]} · {key[2]} ({cell.printed})")
    return f'<a class="ref" href="#{cell_id(key)}">{text}</a>' if link else str(text)


def words(expression: str, paper: Paper, link: bool = True) -> Markup:
    """An expression over cells in words, each cell named by table, row and column with its printed value."""
    out, last = [], 0
    for match in REF.finditer(expression):
        out.append(_operators(expression[last:match.start()]))
        out.append(_ref_words(paper, match.group(1), link))
        last = match.end()
    out.append(_operators(expression[last:]))
    return Markup("".join(out))


def _operators(text: str) -> str:
    text = str(escape(text))
    text = re.sub(r"\s*\*\s*", " × ", text)
    text = re.sub(r"(?<=[\w)\s])\s*-\s*", f" {MINUS} ", text)
    return re.sub(r"\s{2,}", " ", text)
