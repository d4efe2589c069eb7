"""Plots where a reader would rather look than read, from the tables' data (inline SVG, repro.report.svg).

- accuracy against cost for every table that prints both (the paper's own rows filled, rows cited from
  other papers hollow and grey; a per-clip cost times the clips column beside it is the cost per video), each
  row at its measured cost where there is one, the printed cost beside it;
  a table that prints accuracy and no cost gets its rows' accuracies side by side instead;
- measured over published for every measured cell, so deviations stand out against the tolerance band;
- a table's relations, side against side: the gap between what its printed numbers give on each side of each
  relation the audit checks, with the range rounding allows (the audit drawn, so the two always agree).

`papers/<id>/plots.yaml` (optional, papers/SCHEMA.md) chooses which accuracy columns a table's accuracy plot
shows (none to leave it out).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..audit.words import cell_words, expression_words, relation_words, table_and_column
from ..audit.numbers import show
from ..audit.papers import CellKey, Column, DataReader, Paper, Table
from ..audit.verdicts import CITATION, CONVENTION, DEVIATES, NOT_MEASURED, REPRODUCED, Verdict
from .svg import PALETTE, Chart, Scale

if TYPE_CHECKING:
    from .view import PaperView

APART_PX = 4  # a printed cost closer than this to its measured one would hide under it: the tooltip says both
VERDICT_COLOURS = {REPRODUCED: "#1a7f37", CONVENTION: "#1b7c83", DEVIATES: "#bf8700"}
CITED_GREY = "#8c959f"


@dataclass(frozen=True)
class Plot:
    id: str
    title: str
    table: str | None  # the table it sits beside; None for the page's measured-against-published section
    svg: str
    caption: str


@dataclass(frozen=True)
class PlotSpec:
    accuracy_columns: dict[str, tuple[str, ...]]  # table -> the accuracy columns its accuracy plot shows


def load_plot_spec(paper: Paper) -> PlotSpec:
    path = Path(paper.root) / "plots.yaml"
    if not path.is_file():
        return PlotSpec({})
    reader = DataReader(path)
    _, nodes = reader.top_list("plots")
    accuracy = {}
    for index, node in enumerate(nodes):
        name = f"plots[{index}]"
        node = reader.mapping(node, nodes.line_of(index), name)
        reader.known(node, name, ("kind", "table", "accuracy"))
        reader.choice(node, "kind", name, ("accuracy",), "accuracy")
        table_id = reader.text(node, "table", name)
        if table_id not in paper.tables:
            raise reader.fail(node.line_of("table"), f"{name}.table", f"a table of tables.yaml, got {table_id!r}")
        wanted = tuple(str(c) for c in reader.seq(node.get("accuracy"), node.line_of("accuracy"), f"{name}.accuracy"))
        known = [c.label for c in paper.tables[table_id].columns if c.kind == "accuracy"]
        for label in wanted:
            if label not in known:
                raise reader.fail(node.line_of("accuracy"), f"{name}.accuracy",
                                  f"accuracy columns of table {table_id} ({', '.join(known)}), got {label!r}")
        accuracy[table_id] = wanted
    return PlotSpec(accuracy)


def paper_plots(view: PaperView) -> list[Plot]:
    paper = view.paper
    spec = load_plot_spec(paper)
    plots = []
    for table in paper.tables.values():
        plots += accuracy_cost_plots(table, spec, view.verdicts) or accuracy_by_row(table, spec)
        plots += relations_plot(view, table)
    measured = measured_over_published(view)
    return plots + ([measured] if measured else [])


def _group(label: str) -> str:
    return label.split(" / ")[0] if " / " in label else ""


def _pairs(table: Table, spec: PlotSpec) -> list[tuple[Column, Column, Column | None]]:
    """(accuracy, cost, clips) column triples: an accuracy column with the cost column of its header group,
    or the table's only cost column; a clips count in the cost column's group multiplies it."""
    costs = [c for c in table.columns if c.kind == "flops"]
    if not costs:
        return []
    accuracy = [c for c in table.columns if c.kind == "accuracy"]
    if table.table in spec.accuracy_columns:
        accuracy = [c for c in accuracy if c.label in spec.accuracy_columns[table.table]]
    found = []
    for acc in accuracy:
        cost = costs[0] if len(costs) == 1 else next((c for c in costs if _group(c.label) == _group(acc.label)), None)
        if cost is None:
            continue
        clips = next((c for c in table.columns if c.kind == "count" and c.unit.lower() == "clips"
                      and _group(c.label) and _group(c.label) == _group(cost.label)), None)
        found.append((acc, cost, clips))
    return found


def _measured_cost(verdict: Verdict | None) -> float | None:
    """The cost a cell's plot point sits at when it was measured (the paper's counting convention where that
    is how the cell reproduces); None when it was not, or only on a proxy."""
    if verdict is None or verdict.measured is None or verdict.measurement.proxy:
        return None
    if verdict.status == CONVENTION and verdict.alternative_value is not None:
        return verdict.alternative_value
    return verdict.measured if verdict.status in (REPRODUCED, DEVIATES, CONVENTION) else None


def accuracy_cost_plots(table: Table, spec: PlotSpec, verdicts: Mapping[CellKey, Verdict] | None = None) -> list[Plot]:
    """Accuracy against cost; a row whose cost was measured sits at the measured cost, with the printed cost
    beside it (a small hollow mark joined by a dashed line)."""
    pairs = _pairs(table, spec)
    if not pairs:
        return []
    points = []  # (series index, row, cost, accuracy, cited, the numbers, printed cost where measured)
    for index, (acc, cost, clips) in enumerate(pairs):
        for row in table.rows:
            a, c = table.cells[(row, acc.label)], table.cells[(row, cost.label)]
            n = table.cells[(row, clips.label)] if clips else None
            if a.absent or c.absent or (n is not None and n.absent):
                continue
            times = n.value if n is not None else 1
            measured = _measured_cost((verdicts or {}).get(c.key))
            total = (measured if measured is not None else c.value) * times
            shown = f"{a.printed}{'%' if a.unit == '%' else ''} at {c.printed} {c.unit}" + (
                f" × {n.printed} clips = {show(c.value * times)} {c.unit}" if n is not None else "") + (
                f" printed; measured {show(measured)} {c.unit}" + (f" × {n.printed} = {show(total)}" if n else "")
                if measured is not None else "")
            points.append((index, row, total, a.value, bool(CITATION.search(row)), shown,
                           c.value * times if measured is not None else None))
    if len(points) < 2:
        return []
    per_video = any(clips for _, _, clips in pairs)
    unit = pairs[0][1].unit
    x_scale = Scale.fit([p[2] for p in points] + [p[6] for p in points if p[6] is not None])
    x_label = (f"{unit} per video (per clip × clips)" if per_video else unit) + (", log scale" if x_scale.log else "")
    names = _acc_names([acc for acc, _, _ in pairs])
    y_label = f"{names[0]}, {pairs[0][0].unit}" if len(pairs) == 1 else "accuracy, %"
    chart = Chart(x_scale, Scale.fit([p[3] for p in points]), x_label, y_label,
                  f"accuracy against {unit}, table {table.table}")
    for index in range(len(pairs)):
        colour = PALETTE[index % len(PALETTE)]
        if len(pairs) > 1:
            chart.line(sorted((p[2], p[3]) for p in points if p[0] == index and not p[4]), colour, dash=True, width=1)
        chart.legend.append((names[index] if len(pairs) > 1 else "the paper's rows", colour, True))
    if any(p[4] for p in points):
        chart.legend.append(("cited from other papers", CITED_GREY, False))
    if any(p[6] is not None and abs(chart.px(p[6]) - chart.px(p[2])) >= APART_PX for p in points):
        chart.legend.append(("small: printed cost", CITED_GREY, False, 2.5))
    names_of = _point_names([p[1] for p in points]) if len(pairs) <= 2 else {}
    for index, row, total, accuracy, cited, shown, printed in points:
        colour = CITED_GREY if cited else PALETTE[index % len(PALETTE)]
        tip = f"{row} · {pairs[index][0].label}: {shown}"
        apart = printed is not None and abs(chart.px(printed) - chart.px(total)) >= APART_PX
        if apart:
            chart.line([(printed, accuracy), (total, accuracy)], colour, dash=True, width=1)
            chart.point(printed, accuracy, colour, f"{row}: the printed cost, {show(printed)} {unit}", filled=False,
                        radius=2.5)
        chart.point(total, accuracy, colour, tip, filled=not cited, text=names_of.get(row))
    measured_any = any(p[6] is not None for p in points)
    caption = (f"Each printed row of Table {table.table} at its accuracy and cost"
               + (" per video (the per-clip cost times the clips printed beside it)" if per_video else "")
               + (": the measured cost where this suite measured it, with the printed cost as a small hollow mark "
                  "joined by a dashed line where the two lie apart (the tooltip gives both)" if measured_any else "")
               + ". Filled: the paper's own rows; hollow grey: rows cited from other papers. "
                 "Hover a point for its numbers.")
    return [Plot(f"plot-accuracy-{table.table}", f"Table {table.table}: accuracy against {unit}", table.table,
                 chart.svg(), caption)]


def _point_names(rows: list[str]) -> dict[str, str]:
    """A point's label: its row's last part ("FASTER32" of "ImageNet pre-train / FASTER32") where no other
    row ends the same, else the whole row ("R2D-26 / 8-frames" beside "R(2+1)D-50 / 8-frames")."""
    tails = [row.split(" / ")[-1] for row in dict.fromkeys(rows)]
    return {row: tail if tails.count(tail) == 1 else row for row, tail in zip(dict.fromkeys(rows), tails, strict=True)}


def accuracy_by_row(table: Table, spec: PlotSpec) -> list[Plot]:
    """A table that prints accuracy and no cost: each row's accuracies on one axis, a row per line."""
    columns = [c for c in table.columns if c.kind == "accuracy"]
    if table.table in spec.accuracy_columns:
        columns = [c for c in columns if c.label in spec.accuracy_columns[table.table]]
    rows = [r for r in table.rows if any(not table.cells[(r, c.label)].absent for c in columns)]
    if not columns or len(rows) < 3:
        return []
    values = [table.cells[(r, c.label)].value for r in rows for c in columns if not table.cells[(r, c.label)].absent]
    row_h, left = 18, 300
    chart = Chart(Scale.fit(values), Scale(-0.5, len(rows) - 0.5), f"accuracy, {columns[0].unit}", "",
                  f"accuracy of every row of table {table.table}", width=900,
                  height=max(len(rows) * row_h + 60, 180), left=left, right=190, y_ticks=False)
    for index, name in enumerate(_acc_names(columns)):
        chart.legend.append((name, PALETTE[index % len(PALETTE)], True))
    if any(CITATION.search(r) for r in rows):
        chart.legend.append(("hollow: cited from other papers", CITED_GREY, False))
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        cited = bool(CITATION.search(row))
        fill = CITED_GREY if cited else "#1f2328"
        chart.row_label(y, row, 52, fill)
        for index, column in enumerate(columns):
            cell = table.cells[(row, column.label)]
            if cell.absent:
                continue
            chart.point(cell.value, y, PALETTE[index % len(PALETTE)], f"{row} · {column.label}: {cell.printed}",
                        filled=not cited)
    caption = (f"Each row of Table {table.table} at the accuracy it prints, one colour per column; rows cited from "
               f"other papers are hollow. Hover a point for its number.")
    return [Plot(f"plot-accuracy-{table.table}", f"Table {table.table}: accuracy by row", table.table, chart.svg(),
                 caption)]


def _acc_names(columns: list[Column]) -> list[str]:
    """Legend names: the header group ("8-frames×32-clips") where the groups differ; the group and the last
    part where one group heads numbers ("Number of Clips = 2"); else the last part ("Kinetics-600" of
    "Top1 Accuracy(%) / Kinetics-600")."""
    groups = [_group(c.label) for c in columns]
    if len(set(groups)) == len(groups) and all(groups):
        return groups
    lasts = [c.label.split(" / ")[-1] for c in columns]
    if len(set(groups)) == 1 and groups[0] and all(_is_number(last) for last in lasts):
        return [f"{groups[0]} = {last}" for last in lasts]  # "Number of Clips = 2": a bare "2" says nothing
    return lasts


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def relations_plot(view: PaperView, table: Table) -> list[Plot]:
    """Each equality relation whose printed side is in `table` and that rounding alone judges (no tolerance):
    the gap between its two sides (the other side minus the printed one), with the range the printed digits
    allow as a bar. A bar that misses zero is a relation the
    audit finds broken, the same verdict as its row: the plot is the audit drawn."""
    rows = [r for r in view.results if r.claim.kind == "relation" and r.claim.reading == "primary"
            and r.claim.op == "eq" and r.claim.tolerance is None and r.consistent is not None and r.claim.stated_refs
            and all(k[0] == table.table for k in r.claim.stated_refs)]
    units = {r.claim.unit_in(view.paper, printed_side=True) for r in rows}
    if len(rows) < 3 or len(units) != 1:
        return []
    unit = units.pop()
    rows.sort(key=lambda r: relation_words(r.claim)[0])  # a column's relations together
    gaps = [(r, r.computed.mid - r.stated.mid, r.computed.lo - r.stated.hi, r.computed.hi - r.stated.lo) for r in rows]
    finite = [v for g in gaps for v in g[1:] if math.isfinite(v)]
    row_h, left = 18, 390
    labels, column = _relation_labels([r.claim for r, *_ in gaps], table)
    chart = Chart(Scale.fit(finite, log=False, include=(0.0,)), Scale(-0.5, len(rows) - 0.5),
                  f"{column + ': ' if column else ''}other side − printed side, {unit}", "",
                  f"the relations of table {table.table}",
                  width=980, height=max(len(rows) * row_h + 60, 180), left=left, right=170, y_ticks=False)
    chart.vline(0.0)
    for i, (result, gap, lo, hi) in enumerate(gaps):
        y = len(rows) - 1 - i
        head, words = relation_words(result.claim)
        label = labels[i]
        colour = VERDICT_COLOURS[REPRODUCED] if result.consistent else "#cf222e"
        chart.row_label(y, label, 64)
        chart.error_bar_h(y, max(lo, chart.x.lo), min(hi, chart.x.hi), colour)
        tip = (f"{head}: {words}: printed side {show(result.stated.mid, result.decimals)}, other side "
               f"{show(result.computed.mid, result.decimals + 1)}; {'holds' if result.consistent else 'fails'} "
               f"({result.claim.id})")
        chart.point(gap, y, colour, tip, filled=bool(result.consistent))
    chart.legend += [("holds within rounding", VERDICT_COLOURS[REPRODUCED], True), ("fails", "#cf222e", False)]
    caption = (f"Every relation of Table {table.table}'s printed numbers that the audit checks: the dot is the gap "
               f"between the relation's two sides as printed, the bar the range the printed digits allow. A bar "
               f"that misses zero is a broken relation (listed in the audit and the findings).")
    return [Plot(f"plot-relations-{table.table}", f"Table {table.table}: its relations, side against side",
                 table.table, chart.svg(), caption)]


def _relation_labels(claims: list, table: Table) -> tuple[list[str], str]:
    """A row name per relation: its printed side, after its column's header group where the relations span
    several columns; a printed side that is one cell, or that two relations share, also names the other side
    ("R2D-26 / 32-frames = 2 × R2D-26 / 16-frames"). Also the one column's
    header group where all share one (for the axis), else ""."""
    heads = [relation_words(claim) for claim in claims]
    columns = [head.split(" · ", 1)[1].split(" / ")[0] if " · " in head else "" for head, _ in heads]
    sides = [words for _, words in heads]
    named = list(zip(columns, sides, strict=True))  # a printed side repeats only within its column
    labels = []
    for claim, column, side in zip(claims, columns, sides, strict=True):
        if (named.count((column, side)) > 1 or len(claim.stated_refs) == 1) and claim.expr is not None:
            side = f"{side} = {expression_words(claim.expr, table.table, table_and_column(claim)[1])}"
        labels.append(f"{column}: {side}" if column and len(set(columns)) > 1 else side)
    return labels, columns[0] if len(set(columns)) == 1 else ""


def _cell_name(key: CellKey, unit: str, limit: int) -> str:
    """A cell's row name on a ratio's axis, where its unit says nothing: "Table 7 · I3D [5] · GFLOPs×clips"
    for the column "GFLOPs×clips / GFLOPs" of unit GFLOPs; a name over `limit` characters drops its row's
    header group ("CNN with learnable feature correlations / "), so the column stays in sight."""
    group, _, last = key[2].rpartition(" / ")
    column = group if group and last == unit else key[2]
    name = cell_words((key[0], key[1], column))
    return name if len(name) <= limit else cell_words((key[0], key[1].split(" / ")[-1], column))


def measured_over_published(view: PaperView) -> Plot | None:
    """Measured ÷ published for every measured cell, one row each, against the cells' tolerance band."""
    paper = view.paper
    cells = [(key, v) for key, v in view.verdicts.items()
             if v.status != NOT_MEASURED and v.published and v.measured is not None]
    if not cells:
        return None
    ratios = [v.measured / v.published for _, v in cells]
    alternatives = [v.alternative_value / v.published for _, v in cells if v.alternative_value]
    row_h, left = 18, 390
    chart = Chart(Scale.fit([*ratios, *alternatives], include=(0.98, 1.02)), Scale(-0.5, len(cells) - 0.5),
                  "measured ÷ published", "", "measured over published, every measured cell",
                  width=980, height=max(len(cells) * row_h + 60, 180), left=left, right=170, y_ticks=False)
    band = max(v.allowed / abs(v.published) for _, v in cells)
    chart.vline(1.0)
    for i, (key, verdict) in enumerate(cells):
        y = len(cells) - 1 - i
        cell = paper.cell(*key)
        colour = VERDICT_COLOURS.get(verdict.status, "#57606a")
        words = cell_words(key)
        chart.row_label(y, _cell_name(key, cell.unit, 64), 64, tip=words)
        low = max(chart.x.lo, 1 - verdict.allowed / abs(verdict.published))
        high = min(chart.x.hi, 1 + verdict.allowed / abs(verdict.published))
        chart.parts.append(f'<rect x="{chart.px(low):.1f}" y="{chart.py(y) - 6:.1f}" '
                           f'width="{max(chart.px(high) - chart.px(low), 1):.1f}" height="12" fill="#dafbe1"/>')
        ratio = verdict.measured / verdict.published
        tip = (f"{words}: printed {cell.printed}, measured {show(verdict.measured, cell.printed_number().decimals + 1)}"
               f" ({show(100 * (ratio - 1), 1, signed=True)}%), {verdict.status}")
        if verdict.alternative_value:
            alt = verdict.alternative_value / verdict.published
            chart.line([(min(ratio, alt), y), (max(ratio, alt), y)], "#8c959f", dash=True, width=1)
            chart.point(alt, y, VERDICT_COLOURS[CONVENTION] if verdict.status == CONVENTION else colour,
                        f"{words}: {verdict.matches or 'the declared alternative'} "
                        f"{show(verdict.alternative_value, cell.printed_number().decimals + 1)}", radius=4)
            chart.point(ratio, y, colour, tip, filled=False)
        else:
            chart.point(ratio, y, colour, tip)
    drawn = {v.status for _, v in cells}
    chart.legend += [(words, VERDICT_COLOURS[status], True) for status, words in
                     ((REPRODUCED, "reproduced"), (CONVENTION, "paper's convention"), (DEVIATES, "deviates"))
                     if status in drawn]
    if alternatives:
        chart.legend.append(("hollow: as measured", "#57606a", False))
    caption = (f"Each measured cell's measured value divided by the printed one. The green bar is the cell's tolerance "
               f"(at most ±{show(100 * band, 1)}% here); a cell whose value matches a declared alternative (the "
               f"paper's counting convention, another configuration) shows it filled, the plain measurement hollow.")
    return Plot("plot-measured", "Measured against published", None, chart.svg(), caption)

