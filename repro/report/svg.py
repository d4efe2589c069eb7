"""A small inline-SVG chart: linear or log axes, points, lines, bands and a legend, written as text.

The report's pages are self-contained (no scripts, no fetches), so plots are plain SVG markup; matplotlib
would add a rasteriser and fonts for what is a few dozen circles. Each point carries a <title> tooltip.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

PALETTE = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bc4c00", "#1b7c83", "#57606a")


@dataclass
class Scale:
    """Maps data to pixels along one axis; `log` for values spanning decades."""

    lo: float
    hi: float
    log: bool = False

    @classmethod
    def fit(cls, values: list[float], log: bool | None = None, pad: float = 0.06, include: tuple = ()) -> Scale:
        values = [v for v in [*values, *include] if math.isfinite(v)]
        positive = [v for v in values if v > 0]
        if log is None:
            log = bool(positive) and len(positive) == len(values) and max(positive) / min(positive) > 30
        if log:
            lo, hi = math.log10(min(positive)), math.log10(max(positive))
            span = max(hi - lo, 0.3)
            return cls(10 ** (lo - pad * span), 10 ** (hi + pad * span), True)
        lo, hi = min(values), max(values)
        span = (hi - lo) or max(abs(hi), 1.0) * 0.1
        return cls(lo - pad * span, hi + pad * span)

    def fraction(self, value: float) -> float:
        if self.log:
            return (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return (value - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[float]:
        if self.log:
            low, high = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
            steps = [1, 2, 5] if high - low <= 3 else [1]
            found = [m * 10.0 ** e for e in range(low, high + 1) for m in steps]
            return [t for t in found if self.lo <= t <= self.hi]
        raw = (self.hi - self.lo) / 5
        magnitude = 10 ** math.floor(math.log10(raw))
        step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
        first = math.ceil(self.lo / step) * step
        return [first + i * step for i in range(int((self.hi - first) / step) + 1)]


def tick_text(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}".replace("-", "−")


LABEL_LIMIT = 40  # characters of a point's label
CHAR_W, LABEL_H = 6.2, 11  # a 10 px label's width per character (DejaVu Sans, generous) and height
# Where a label may sit around its point, in order of preference: (dx, dy of the baseline, text-anchor).
SPOTS = [(7, 4, "start"), (-7, 4, "end"), (6, -7, "start"), (-6, -7, "end"), (6, 15, "start"), (-6, 15, "end")]
SPOTS += [(dx, dy + shift, a) for shift in (-13, 13, -26, 26, -39, 39) for dx, dy, a in SPOTS[:2]]


def _box(x: float, y: float, dx: float, dy: float, anchor: str, text: str) -> tuple[float, float, float, float]:
    width = CHAR_W * len(text)
    x0 = x + dx if anchor == "start" else x + dx - width
    return x0, y + dy - LABEL_H + 2, x0 + width, y + dy + 2


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def place_labels(labels: list[tuple[float, float, str, str]], marks: list[tuple[float, float, float]],
                 area: tuple[float, float, float, float]) -> list[str]:
    """Each point's label beside it, in its series' colour (grey for hollow marks), inside the plot, clear of
    the other labels and points where a spot allows (greedy over SPOTS; the least-covered spot otherwise); a
    label moved off its row gets a leader line.
    Written here because the SVG is text: nothing measures the rendered text, so widths are estimated."""
    placed: list[tuple[float, float, float, float]] = []
    out = []
    for x, y, text, colour in sorted(labels, key=lambda label: (label[1], label[0])):
        others = [(mx - r, my - r, mx + r, my + r) for mx, my, r in marks if (mx, my) != (x, y)]
        best = None
        for dx, dy, anchor in SPOTS:
            box = _box(x, y, dx, dy, anchor, text)
            outside = (max(0, area[0] - box[0]) + max(0, box[2] - area[2]) + max(0, area[1] - box[1])
                       + max(0, box[3] - area[3])) * LABEL_H
            covered = sum(_overlap(box, other) for other in placed + others) + outside * 100
            if best is None or covered < best[0]:
                best = (covered, dx, dy, anchor, box)
            if covered == 0:
                break
        _, dx, dy, anchor, box = best
        placed.append(box)
        if abs(dy - 4) > 12:  # moved off its point's row: a thin line says whose label it is
            edge = box[0] if anchor == "start" else box[2]
            out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{edge:.1f}" y2="{(box[1] + box[3]) / 2:.1f}" '
                       f'stroke="#8c959f" stroke-width="0.75"/>')
        out.append(f'<text class="point-label" x="{x + dx:.1f}" y="{y + dy:.1f}" font-size="10" fill="{colour}" '
                   f'text-anchor="{anchor}" stroke="#fff" stroke-width="3" paint-order="stroke">'
                   f'{escape(text)}</text>')  # a white halo keeps it legible over the lines it crosses
    return out


@dataclass
class Chart:
    x: Scale
    y: Scale
    x_label: str
    y_label: str
    label: str  # the aria-label: what the chart shows
    width: int = 720
    height: int = 380
    left: int = 70
    right: int = 200
    top: int = 14
    bottom: int = 46
    y_ticks: bool = True  # False for a categorical axis labelled by its rows
    parts: list[str] = field(default_factory=list)
    legend: list[tuple] = field(default_factory=list)  # (text, colour, filled[, the mark's radius])
    marks: list[tuple[float, float, float]] = field(default_factory=list)  # (cx, cy, radius) of every point
    labels: list[tuple[float, float, str, str]] = field(default_factory=list)  # (cx, cy, text, colour)

    @property
    def plot_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> float:
        return self.height - self.top - self.bottom

    def px(self, x: float) -> float:
        return self.left + self.x.fraction(x) * self.plot_w

    def py(self, y: float) -> float:
        return self.top + (1 - self.y.fraction(y)) * self.plot_h

    def point(self, x: float, y: float, colour: str, tip: str, filled: bool = True, text: str | None = None,
              radius: float = 4.5, ring: str | None = None) -> None:
        cx, cy = self.px(x), self.py(y)
        fill = colour if filled else "#fff"
        stroke = ring or colour
        self.parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{fill}" stroke="{stroke}" '
                          f'stroke-width="{2.5 if ring else 1.5}"><title>{escape(tip)}</title></circle>')
        self.marks.append((cx, cy, radius))
        if text:
            shown = text if len(text) <= LABEL_LIMIT else text[:LABEL_LIMIT - 1] + "…"
            self.labels.append((cx, cy, shown, colour if filled else "#57606a"))

    def text(self, x: float, y: float, text: str, dx: float = 0, dy: float = 0, anchor: str = "start") -> None:
        self.parts.append(f'<text x="{self.px(x) + dx:.1f}" y="{self.py(y) + dy:.1f}" font-size="10" fill="#57606a" '
                          f'text-anchor="{anchor}">{escape(text)}</text>')

    def line(self, points: list[tuple[float, float]], colour: str, dash: bool = False, width: float = 1.5) -> None:
        if len(points) < 2:
            return
        path = " ".join(f"{'M' if i == 0 else 'L'}{self.px(x):.1f},{self.py(y):.1f}" for i, (x, y) in enumerate(points))
        extra = ' stroke-dasharray="4 3"' if dash else ""
        self.parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{width}"{extra}/>')

    def error_bar_h(self, y: float, lo: float, hi: float, colour: str) -> None:
        cy = self.py(y)
        self.parts.append(f'<line x1="{self.px(lo):.1f}" y1="{cy:.1f}" x2="{self.px(hi):.1f}" y2="{cy:.1f}" '
                          f'stroke="{colour}" stroke-width="1.5"/>')

    def vline(self, x: float, colour: str = "#57606a") -> None:
        """A reference line across the plot at `x` (zero gap, a ratio of one)."""
        self.parts.append(f'<line x1="{self.px(x):.1f}" y1="{self.top}" x2="{self.px(x):.1f}" '
                          f'y2="{self.top + self.plot_h:.1f}" stroke="{colour}"/>')

    def row_label(self, y: float, text: str, limit: int, fill: str = "#1f2328", tip: str | None = None) -> None:
        """A categorical row's name, right-aligned left of the plot, cut to `limit` characters; its tooltip
        `tip`, else the whole name."""
        shown = text if len(text) <= limit else text[:limit - 1] + "…"
        self.parts.append(f'<text x="{self.left - 8}" y="{self.py(y) + 4:.1f}" font-size="10" text-anchor="end" '
                          f'fill="{fill}">{escape(shown)}<title>{escape(tip or text)}</title></text>')

    def svg(self) -> str:
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {self.width} {self.height}" '
               f'width="{self.width}" height="{self.height}" role="img" aria-label="{escape(self.label)}">',
               f'<rect x="{self.left}" y="{self.top}" width="{self.plot_w:.1f}" height="{self.plot_h:.1f}" '
               f'fill="none" stroke="#d0d7de"/>']
        for t in self.x.ticks():
            out.append(f'<line x1="{self.px(t):.1f}" y1="{self.top}" x2="{self.px(t):.1f}" '
                       f'y2="{self.top + self.plot_h:.1f}" stroke="#eaeef2"/><text x="{self.px(t):.1f}" '
                       f'y="{self.top + self.plot_h + 15:.1f}" font-size="11" text-anchor="middle">'
                       f'{tick_text(t)}</text>')
        for t in self.y.ticks() if self.y_ticks else ():
            out.append(f'<line x1="{self.left}" y1="{self.py(t):.1f}" x2="{self.left + self.plot_w:.1f}" '
                       f'y2="{self.py(t):.1f}" stroke="#eaeef2"/><text x="{self.left - 6}" y="{self.py(t) + 4:.1f}" '
                       f'font-size="11" text-anchor="end">{tick_text(t)}</text>')
        out.append(f'<text x="{self.left + self.plot_w / 2:.1f}" y="{self.height - 8}" font-size="12" '
                   f'text-anchor="middle">{escape(self.x_label)}</text>')
        mid = self.top + self.plot_h / 2
        out.append(f'<text x="14" y="{mid:.1f}" font-size="12" text-anchor="middle" '
                   f'transform="rotate(-90 14 {mid:.1f})">{escape(self.y_label)}</text>')
        out += self.parts
        out += place_labels(self.labels, self.marks, (self.left, self.top, self.left + self.plot_w,
                                                      self.top + self.plot_h))
        legend_x = self.left + self.plot_w + 16
        for i, (text, colour, filled, *radius) in enumerate(self.legend):
            y = self.top + 10 + 18 * i
            shown = text if len(text) <= 30 else text[:29] + "…"
            out.append(f'<circle cx="{legend_x}" cy="{y}" r="{radius[0] if radius else 4.5}" '
                       f'fill="{colour if filled else "#fff"}" '
                       f'stroke="{colour}" stroke-width="1.5"/><text x="{legend_x + 10}" y="{y + 4}" '
                       f'font-size="11">{escape(shown)}<title>{escape(text)}</title></text>')
        out.append("</svg>")
        return "\n".join(out)
