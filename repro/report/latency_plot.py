"""Latency against GMACs, log-log, on the shared inline-SVG chart (repro.report.svg).

Each point is one benchmark (filled: batch 1, hollow: the batch that fills the device), with its numbers
in a <title> tooltip. Dashed diagonals mark 100%, 10% and 1% of the device's measured peak
(repro.measure.bench.peak_gflops, one per device and precision in a run): a point on the 10% line runs at a tenth of
what the device achieves on a large matmul.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .svg import PALETTE, Chart, Scale

if TYPE_CHECKING:
    from .performance import BenchRow

PEAK_FRACTIONS = (1.0, 0.1, 0.01)


def _decades(values: Sequence[float]) -> Scale:
    low, high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return Scale(10.0 ** low, 10.0 ** max(high, low + 1), log=True)


def latency_plot(rows: Sequence[BenchRow], colour_by: str = "paper") -> str:
    """`colour_by` is "paper" or "device"; rows with no MACs (nothing to place on a log axis) are left out."""
    points = [r for r in rows if r.gmacs > 0 and r.median_s > 0]
    if not points:
        return ""
    key = (lambda r: r.paper or "reference input") if colour_by == "paper" else (lambda r: r.device_name)
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(dict.fromkeys(key(r) for r in points))}
    chart = Chart(_decades([r.gmacs for r in points]), _decades([r.median_s * 1e3 for r in points]),
                  "GMACs per forward (log)", "latency, ms (median, log)", "latency against GMACs, log-log",
                  height=420, left=64, right=190, bottom=48)
    _peak_lines(chart, points)
    for row in points:
        fraction = row.fraction_of_peak
        tip = (f"{row.case} · batch {row.batch} · {row.median_s * 1e3:.3g} ms · {row.gmacs:.3g} GMACs · "
               f"{row.gflops:.3g} GFLOP/s" + (f" ({fraction:.1%} of peak)" if fraction else "")
               + f" · {row.device_name}")
        chart.point(row.gmacs, row.median_s * 1e3, colours[key(row)], tip, filled=row.batch == 1)
    chart.legend += [(name[:28], colour, True) for name, colour in colours.items()]
    chart.legend.append(("hollow: full batch", "#57606a", False))
    return chart.svg()


def _peak_lines(chart: Chart, points: Sequence[BenchRow]) -> None:
    """Dashed lines of constant throughput: latency_ms = 2 * GMACs / (fraction * peak GFLOP/s) * 1e3."""
    peaks = sorted({r.peak_gflops for r in points if r.peak_gflops})
    if len(peaks) != 1:  # several devices in one plot: their peaks differ, so draw none
        return
    for fraction in PEAK_FRACTIONS:
        offset = 2e3 / (fraction * peaks[0])  # ms = GMACs * offset
        start, end = max(chart.x.lo, chart.y.lo / offset), min(chart.x.hi, chart.y.hi / offset)
        if start >= end:
            continue
        chart.line([(start, start * offset), (end, end * offset)], "#8c959f", dash=True, width=1)
        chart.text(end, end * offset, f"{fraction:.0%} of peak", dx=-4, dy=12, anchor="end")
