"""An inline SVG scatter of latency against GMACs, log-log, written as plain text (no scripts, no fetches).

Each point is one benchmark (filled: batch 1, hollow: the batch that fills the device), with its numbers
in a <title> tooltip. Dashed diagonals mark 100%, 10% and 1% of the device's measured peak
(repro.bench.peak_gflops, one per device and precision in a run): a point on the 10% line runs at a tenth of
what the device achieves on a large matmul.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .performance import BenchRow

PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#1b7c83", "#57606a")
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 720, 420, 64, 190, 14, 48
PEAK_FRACTIONS = (1.0, 0.1, 0.01)


def _decades(values: Sequence[float]) -> tuple[int, int]:
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return low, max(high, low + 1)


def _tick(exponent: int) -> str:
    return f"{10.0 ** exponent:g}"


def latency_plot(rows: Sequence[BenchRow], colour_by: str = "paper") -> str:
    """`colour_by` is "paper" or "device"; rows with no MACs (nothing to place on a log axis) are left out."""
    points = [r for r in rows if r.gmacs > 0 and r.median_s > 0]
    if not points:
        return ""
    key = (lambda r: r.paper or "reference input") if colour_by == "paper" else (lambda r: r.device_name)
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(key(r) for r in points))}
    x_low, x_high = _decades([r.gmacs for r in points])
    y_low, y_high = _decades([r.median_s * 1e3 for r in points])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(gmacs: float) -> float:
        return LEFT + (math.log10(gmacs) - x_low) / (x_high - x_low) * plot_w

    def y(ms: float) -> float:
        return TOP + plot_h - (math.log10(ms) - y_low) / (y_high - y_low) * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" '
           f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="latency against GMACs, log-log">',
           f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#d0d7de"/>']
    for e in range(x_low, x_high + 1):
        out.append(f'<line x1="{x(10.0 ** e):.1f}" y1="{TOP}" x2="{x(10.0 ** e):.1f}" y2="{TOP + plot_h}" '
                   f'stroke="#eaeef2"/><text x="{x(10.0 ** e):.1f}" y="{TOP + plot_h + 16}" font-size="11" '
                   f'text-anchor="middle">{_tick(e)}</text>')
    for e in range(y_low, y_high + 1):
        out.append(f'<line x1="{LEFT}" y1="{y(10.0 ** e):.1f}" x2="{LEFT + plot_w}" y2="{y(10.0 ** e):.1f}" '
                   f'stroke="#eaeef2"/><text x="{LEFT - 6}" y="{y(10.0 ** e) + 4:.1f}" font-size="11" '
                   f'text-anchor="end">{_tick(e)}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 8}" font-size="12" text-anchor="middle">'
               f'GMACs per forward (log)</text>')
    out.append(f'<text x="14" y="{TOP + plot_h / 2}" font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 14 {TOP + plot_h / 2})">latency, ms (median, log)</text>')
    out += _peak_lines(points, x_low, x_high, y_low, y_high, x, y)
    for row in points:
        fraction = row.fraction_of_peak
        tip = (f"{row.case} · batch {row.batch} · {row.median_s * 1e3:.3g} ms · {row.gmacs:.3g} GMACs · "
               f"{row.gflops:.3g} GFLOP/s" + (f" ({fraction:.1%} of peak)" if fraction else "")
               + f" · {row.device_name}")
        colour = colours[key(row)]
        fill = colour if row.batch == 1 else "#fff"
        out.append(f'<circle cx="{x(row.gmacs):.1f}" cy="{y(row.median_s * 1e3):.1f}" r="4.5" fill="{fill}" '
                   f'stroke="{colour}" stroke-width="1.5"><title>{escape(tip)}</title></circle>')
    legend_x = LEFT + plot_w + 16
    for i, (name, colour) in enumerate(colours.items()):
        out.append(f'<circle cx="{legend_x}" cy="{TOP + 10 + 18 * i}" r="4.5" fill="{colour}"/>'
                   f'<text x="{legend_x + 10}" y="{TOP + 14 + 18 * i}" font-size="11">{escape(name[:28])}</text>')
    base = TOP + 18 * len(colours) + 20
    out.append(f'<circle cx="{legend_x}" cy="{base}" r="4.5" fill="#fff" stroke="#57606a" stroke-width="1.5"/>'
               f'<text x="{legend_x + 10}" y="{base + 4}" font-size="11">hollow: full batch</text>'
               f'<line x1="{legend_x - 6}" y1="{base + 18}" x2="{legend_x + 6}" y2="{base + 18}" stroke="#57606a" '
               f'stroke-dasharray="4 3"/><text x="{legend_x + 10}" y="{base + 22}" font-size="11">'
               f'% of measured peak</text>')
    out.append("</svg>")
    return "\n".join(out)


def _peak_lines(points, x_low, x_high, y_low, y_high, x, y) -> list[str]:
    """Dashed lines of constant throughput: latency_ms = 2 * GMACs / (fraction * peak GFLOP/s) * 1e3."""
    peaks = sorted({r.peak_gflops for r in points if r.peak_gflops})
    if len(peaks) != 1:  # several devices in one plot: their peaks differ, so draw none
        return []
    out = []
    for fraction in PEAK_FRACTIONS:
        offset = math.log10(2e3 / (fraction * peaks[0]))  # log10(ms) = log10(GMACs) + offset
        start, end = max(x_low, y_low - offset), min(x_high, y_high - offset)
        if start >= end:
            continue
        x1, x2 = x(10.0 ** start), x(10.0 ** end)
        y1, y2 = y(10.0 ** (start + offset)), y(10.0 ** (end + offset))
        out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#8c959f" '
                   f'stroke-dasharray="4 3"/><text x="{x2 - 4:.1f}" y="{y2 + 12:.1f}" font-size="10" '
                   f'fill="#57606a" text-anchor="end">{fraction:.0%} of peak</text>')
    return out
