"""Inline SVG charts for the HTML report: grouped bars with CI whiskers, stacked flip bars, lines with
CI error bars, horizontal bars.

Every chart is drawn on a `Canvas` that records the extent of each element, text included (its width
estimated from font size × length, rotation applied), and sizes the viewBox to hold them all, so no
label is clipped whatever the dimension or condition names are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

from vrb_agent.benchmark.report.text import ci_text, pct
from vrb_agent.benchmark.summary import FlipCounts, PairedRow

PALETTE = ("#3b6fb6", "#e0823d", "#4a9a5b", "#b64a4a", "#7a5bb0", "#8c6d3b", "#3b9aa8", "#a83b8f")
FLIP_COLOURS = {"fixed": "#4a9a5b", "broken": "#c0392b", "both_right": "#b8c9b8", "both_wrong": "#8a8a8a"}
FONT = "Verdana, DejaVu Sans, sans-serif"  # wide fonts: the width estimate below holds for narrower ones
CHAR_EM, BOLD_EM = 0.64, 0.72  # average advance of one character, in ems (Verdana / DejaVu Sans)
PAD = 4
PCT_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def text_width(text: str, size: float, bold: bool = False) -> float:
    """Estimated advance width of `text` in px (deliberately generous)."""
    return len(text) * size * (BOLD_EM if bold else CHAR_EM)


def _tick(value: float) -> str:
    return f"{100 * value:.0f}%"


@dataclass
class Canvas:
    """SVG elements and the union of their extents, which becomes the viewBox."""

    body: list[str] = field(default_factory=list)
    extent: Box | None = None

    def grow(self, box: Box) -> None:
        if self.extent is None:
            self.extent = box
        else:
            e = self.extent
            self.extent = (min(e[0], box[0]), min(e[1], box[1]), max(e[2], box[2]), max(e[3], box[3]))

    def shape(self, element: str, box: Box) -> None:
        """A rect, line or circle whose extent is `box`."""
        self.body.append(element)
        self.grow(box)

    def text(  # noqa: PLR0917 - position, text and style of one label
        self,
        x: float,
        y: float,
        text: str,
        size: float = 11,
        anchor: str = "start",
        rotate: float = 0.0,
        bold: bool = False,
    ) -> None:
        """A text whose baseline starts at (x, y), optionally rotated about that point (degrees)."""
        width = text_width(text, size, bold)
        x0 = {"start": 0.0, "middle": -width / 2, "end": -width}[anchor]
        corners = [(x0, -size), (x0 + width, -size), (x0, 0.3 * size), (x0 + width, 0.3 * size)]
        turn = math.radians(rotate)
        points = [(x + cx * math.cos(turn) - cy * math.sin(turn), y + cx * math.sin(turn) + cy * math.cos(turn))
                  for cx, cy in corners]  # fmt: skip
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        attrs = f'x="{x:.1f}" y="{y:.1f}" font-size="{size:g}"'
        if anchor != "start":
            attrs += f' text-anchor="{anchor}"'
        if bold:
            attrs += ' font-weight="bold"'
        if rotate:
            attrs += f' transform="rotate({rotate:g} {x:.1f} {y:.1f})"'
        self.body.append(f"<text {attrs}>{escape(text)}</text>")
        self.grow((min(xs), min(ys), max(xs), max(ys)))

    def render(self, title: str) -> str:
        x0, y0, x1, y1 = self.extent or (0.0, 0.0, 1.0, 1.0)
        x0, y0 = math.floor(x0 - PAD), math.floor(y0 - PAD)
        width, height = math.ceil(x1 + PAD) - x0, math.ceil(y1 + PAD) - y0
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="{x0} {y0} {width} {height}" font-family="{FONT}" role="img" aria-label="{escape(title)}">'
            f"<title>{escape(title)}</title>" + "".join(self.body) + "</svg>"
        )


def _legend(canvas: Canvas, names: list[str], x: float, y: float) -> None:
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        canvas.shape(f'<rect x="{x}" y="{y + 16 * i}" width="10" height="10" fill="{colour}"/>', (x, y, x + 10, y + 10))
        canvas.text(x + 14, y + 9 + 16 * i, name)


def _y_axis(canvas: Canvas, box: tuple[float, float, float, float]) -> None:
    """Horizontal grid lines and percentage labels; `box` is (left, top, width, height) of the plot."""
    left, top, width, height = box
    for t in PCT_TICKS:
        y = top + height - t * height
        canvas.shape(
            f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>',
            (left, y, left + width, y),
        )
        canvas.text(left - 4, y + 4, _tick(t), size=10, anchor="end")


def _whisker(canvas: Canvas, cx: float, y_lo: float, y_hi: float) -> None:
    """A vertical CI whisker with caps."""
    canvas.shape(
        f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_lo:.1f}" y2="{y_hi:.1f}" stroke="#222"/>',
        (cx, y_hi, cx, y_lo),
    )
    for y in (y_lo, y_hi):
        canvas.shape(
            f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#222"/>',
            (cx - 3, y, cx + 3, y),
        )


def bar_chart_with_ci(
    categories: list[str], series: dict[str, list[tuple[float | None, Sequence[float] | None]]], title: str
) -> str:
    """Grouped bars (accuracy, 0–100 %) with 95 % CI whiskers; category labels rotated 30°."""
    names = list(series)
    group_w = max(40, 18 * len(names) + 14)
    left, top, plot_h = 48, 24, 200
    canvas = Canvas()
    canvas.text(left, 14, title, size=13, bold=True)
    _y_axis(canvas, (left, top, group_w * len(categories), plot_h))
    bar_w = (group_w - 14) / max(1, len(names))
    for gi, cat in enumerate(categories):
        x0 = left + gi * group_w + 7
        for si, name in enumerate(names):
            value, ci = series[name][gi]
            if value is None:
                continue
            x, h = x0 + si * bar_w, value * plot_h
            tip = f"{name} · {cat}: {pct(value)}% {ci_text(ci)}"
            canvas.shape(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(tip)}</title></rect>',
                (x, top + plot_h - h, x + bar_w - 2, top + plot_h),
            )
            if ci:
                _whisker(canvas, x + (bar_w - 2) / 2, top + plot_h - ci[0] * plot_h, top + plot_h - ci[1] * plot_h)
        label_x = left + gi * group_w + group_w / 2
        canvas.text(label_x, top + plot_h + 12, cat, size=10, anchor="end", rotate=-30)
    _legend(canvas, names, left + group_w * len(categories) + 14, top)
    return canvas.render(title)


def flip_chart(by_dimension: dict[str, PairedRow], overall: FlipCounts, title: str) -> str:
    """Horizontal stacked bars per dimension: fixed / broken / both right / both wrong (share of pairs)."""
    rows = [(dim, {k: getattr(row, k) for k in FLIP_COLOURS}) for dim, row in [*by_dimension.items(), ("all", overall)]]
    left, top, bar_h, plot_w = 0, 24, 18, 420
    canvas = Canvas()
    for i, (dim, flips) in enumerate(rows):
        y = top + i * (bar_h + 6)
        total = sum(flips[k] for k in FLIP_COLOURS) or 1
        canvas.text(left - 6, y + 13, dim, anchor="end")
        x = float(left)
        for key, colour in FLIP_COLOURS.items():
            w = flips[key] / total * plot_w
            if w > 0:
                tip = f"{dim}: {key.replace('_', ' ')} {flips[key]}"
                canvas.shape(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                    f"<title>{escape(tip)}</title></rect>",
                    (x, y, x + w, y + bar_h),
                )
                if w > 18:
                    canvas.text(x + 3, y + 13, str(flips[key]), size=10)
            x += w
    legend_y = top + len(rows) * (bar_h + 6) + 6
    for i, (key, colour) in enumerate(FLIP_COLOURS.items()):
        x = left + i * 100
        canvas.shape(
            f'<rect x="{x}" y="{legend_y}" width="10" height="10" fill="{colour}"/>',
            (x, legend_y, x + 10, legend_y + 10),
        )
        canvas.text(x + 14, legend_y + 9, key.replace("_", " "))
    extent = canvas.extent or (0.0, 0.0, 0.0, 0.0)
    canvas.text(extent[0], 14, title, size=13, bold=True)
    return canvas.render(title)


@dataclass(frozen=True)
class Point:
    """One point of a line: accuracy `y` at `x`, its 95 % CI and what its tooltip adds."""

    x: float
    y: float
    ci: Sequence[float] | None = None
    note: str = ""


def _x_labels(canvas: Canvas, xs: list[float], x_of: Callable[[float], float], y: float) -> None:
    """A label at each distinct x, skipping those that would overlap the previous one."""
    last_right = -math.inf
    for x in xs:
        text = f"{x:g}"
        half = text_width(text, 10) / 2
        if x_of(x) - half > last_right + 2:
            canvas.text(x_of(x), y, text, size=10, anchor="middle")
            last_right = x_of(x) + half


def line_chart(xs_label: str, series: dict[str, list[Point]], title: str) -> str:
    """Points joined by lines (x numeric, y accuracy 0–1), each with its CI as an error bar."""
    left, top, plot_w, plot_h = 48, 24, 380, 200
    xs = sorted({p.x for pts in series.values() for p in pts})
    x_lo, x_hi = (xs[0], xs[-1]) if xs else (0.0, 1.0)
    canvas = Canvas()
    canvas.text(left, 14, title, size=13, bold=True)
    _y_axis(canvas, (left, top, plot_w, plot_h))

    def x_of(x: float) -> float:
        return left + 10 + (x - x_lo) / ((x_hi - x_lo) or 1) * (plot_w - 20)

    def y_of(y: float) -> float:
        return top + plot_h - y * plot_h

    _x_labels(canvas, xs, x_of, top + plot_h + 14)
    canvas.text(left + plot_w / 2, top + plot_h + 30, xs_label, anchor="middle")
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        ordered = sorted(pts, key=lambda p: p.x)
        if len(ordered) > 1:
            path = " ".join(f"{x_of(p.x):.1f},{y_of(p.y):.1f}" for p in ordered)
            canvas.body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in ordered:
            cx, cy = x_of(p.x), y_of(p.y)
            if p.ci:
                _whisker(canvas, cx, y_of(p.ci[0]), y_of(p.ci[1]))
            tip = f"{name}: {xs_label} {p.x:g} → {pct(p.y)}% {ci_text(p.ci)}{p.note}"
            canvas.shape(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}"><title>{escape(tip)}</title></circle>',
                (cx - 3.5, cy - 3.5, cx + 3.5, cy + 3.5),
            )
    _legend(canvas, list(series), left + plot_w + 14, top)
    return canvas.render(title)


def simple_bars(values: dict[str, float], title: str) -> str:
    """Horizontal bars for non-negative values (tool calls per verdict), labelled on the left."""
    top, bar_h, plot_w = 24, 16, 320
    peak = max(values.values(), default=0.0) or 1.0
    canvas = Canvas()
    for i, (name, value) in enumerate(values.items()):
        y = top + i * (bar_h + 5)
        w = value / peak * plot_w
        canvas.text(-6, y + 12, name, anchor="end")
        canvas.shape(
            f'<rect x="0" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[0]}"/>', (0, y, w, y + bar_h)
        )
        canvas.text(w + 4, y + 12, f"{value:.2f}", size=10)
    extent = canvas.extent or (0.0, 0.0, 0.0, 0.0)
    canvas.text(extent[0], 14, title, size=13, bold=True)
    return canvas.render(title)
