"""The bias and calibration figures of report.html, as a paper would print them: both axes labelled,
95 % CIs as error bars, a legend of conditions, and the reference a reader compares against (50 %
first-slot picks, the diagonal of perfect calibration). Drawn on the `charts.Canvas`, so no label is
clipped. Each function takes a run's summary and returns an inline SVG, or None with nothing to draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import TypeVar

from vrb_agent.benchmark.report.charts import PALETTE, PCT_TICKS, Canvas, Point, _legend, _whisker, _x_labels, _y_axis
from vrb_agent.benchmark.report.text import ci_text, condition_label, pct, run_names
from vrb_agent.benchmark.summary import BiasGroup, BiasPanel, CalibrationPanel, Rate, Report, RunSummary

LEFT, TOP, PLOT_W, PLOT_H = 60, 24, 380, 200
DASH = 'stroke="#888" stroke-dasharray="4 3"'
P = TypeVar("P", BiasPanel, CalibrationPanel)
DODGE = 5.0  # px between the points of different series at one x


@dataclass(frozen=True)
class Axes:
    """Where a figure's data go: the axis names, the x range and the x ticks."""

    x_label: str
    y_label: str
    x_range: tuple[float, float]
    x_ticks: Sequence[float]

    def x_of(self, x: float) -> float:
        lo, hi = self.x_range
        return LEFT + 10 + (x - lo) / ((hi - lo) or 1) * (PLOT_W - 20)


def y_of(y: float) -> float:
    return TOP + PLOT_H - y * PLOT_H


def _frame(canvas: Canvas, title: str, y_label: str, width: float = PLOT_W) -> None:
    """Title, horizontal grid with percentage ticks, and the rotated y-axis label."""
    canvas.text(LEFT, 14, title, size=13, bold=True)
    _y_axis(canvas, (LEFT, TOP, width, PLOT_H))
    canvas.text(LEFT - 40, TOP + PLOT_H / 2, y_label, anchor="middle", rotate=-90)


def _x_axis(canvas: Canvas, axes: Axes) -> None:
    _x_labels(canvas, list(axes.x_ticks), axes.x_of, TOP + PLOT_H + 14)
    canvas.text(LEFT + PLOT_W / 2, TOP + PLOT_H + 30, axes.x_label, anchor="middle")


def _dashed(canvas: Canvas, x0: float, y0: float, x1: float, y1: float) -> None:
    canvas.shape(f'<line x1="{x0:.1f}" y1="{y0:.1f}" x2="{x1:.1f}" y2="{y1:.1f}" {DASH}/>',
                 (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))  # fmt: skip


def _reference_legend(canvas: Canvas, text: str, x: float, y: float) -> None:
    """A legend entry for the dashed reference: a dashed stroke and its meaning."""
    _dashed(canvas, x, y + 5, x + 10, y + 5)
    canvas.text(x + 14, y + 9, text)


def _point(canvas: Canvas, cx: float, point: Point, colour: str, tip: str) -> None:
    cy = y_of(point.y)
    if point.ci:
        _whisker(canvas, cx, y_of(point.ci[0]), y_of(point.ci[1]))
    canvas.shape(
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}"><title>{escape(tip)}</title></circle>',
        (cx - 3.5, cy - 3.5, cx + 3.5, cy + 3.5),
    )


def xy_chart(series: dict[str, list[Point]], title: str, axes: Axes, *, diagonal: bool = False) -> str:
    """Points joined by lines, each with its CI as an error bar; optionally the y = x diagonal."""
    canvas = Canvas()
    _frame(canvas, title, axes.y_label)
    _x_axis(canvas, axes)
    if diagonal:
        _dashed(canvas, axes.x_of(0.0), y_of(0.0), axes.x_of(1.0), y_of(1.0))
    for i, (name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        dodge = (i - (len(series) - 1) / 2) * DODGE  # series at the same x stay apart
        ordered = sorted(points, key=lambda p: p.x)
        if len(ordered) > 1:
            path = " ".join(f"{axes.x_of(p.x) + dodge:.1f},{y_of(p.y):.1f}" for p in ordered)
            canvas.body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in ordered:
            tip = f"{name}: {axes.x_label} {p.x:g} → {pct(p.y)}% {ci_text(p.ci)}{p.note}"
            _point(canvas, axes.x_of(p.x) + dodge, p, colour, tip)
    _legend(canvas, list(series), LEFT + PLOT_W + 14, TOP)
    if diagonal:
        _reference_legend(canvas, "perfect calibration", LEFT + PLOT_W + 14, TOP + 16 * len(series))
    return canvas.render(title)


def dot_chart(
    categories: list[str], series: dict[str, list[Rate]], title: str, y_label: str, reference: tuple[float, str]
) -> str:
    """Per category, one dot per series with its CI, and a dashed reference level (with its legend
    entry) across the plot."""
    canvas = Canvas()
    width = max(PLOT_W, 26 * len(series) * len(categories))
    _frame(canvas, title, y_label, width)
    _dashed(canvas, LEFT, y_of(reference[0]), LEFT + width, y_of(reference[0]))
    group = width / max(1, len(categories))
    for gi, category in enumerate(categories):
        for si, (name, rates) in enumerate(series.items()):
            r = rates[gi]
            if r.rate is None:
                continue
            cx = LEFT + gi * group + group * (si + 1) / (len(series) + 1)
            tip = f"{name} · {category}: {pct(r.rate)}% {ci_text(r.ci)} (n={r.n})"
            _point(canvas, cx, Point(0.0, r.rate, r.ci), PALETTE[si % len(PALETTE)], tip)
        canvas.text(LEFT + gi * group + group / 2, TOP + PLOT_H + 12, category, size=10, anchor="end", rotate=-30)
    _legend(canvas, list(series), LEFT + width + 14, TOP)
    _reference_legend(canvas, reference[1], LEFT + width + 14, TOP + 16 * len(series))
    return canvas.render(title)


def _rates(summary: RunSummary, field: Callable[[BiasGroup], Rate]) -> tuple[list[str], dict[str, list[Rate]]]:
    dims = sorted({d for p in summary.bias for d in p.by_dimension})
    series = {
        condition_label(p, summary.is_sweep): [field(p.by_dimension.get(d) or BiasGroup()) for d in dims]
        + [field(p.overall)]
        for p in summary.bias
    }
    return [*dims, "all"], series


def first_slot_plot(summary: RunSummary) -> str | None:
    categories, series = _rates(summary, lambda g: g.first_slot)
    if not any(r.rate is not None for rates in series.values() for r in rates):
        return None
    title = "First-slot picks by dimension (95% CI)"
    return dot_chart(categories, series, title, "first-slot picks", (0.5, "50%, no preference"))


def order_flip_plot(summary: RunSummary) -> str | None:
    categories, series = _rates(summary, lambda g: g.order_flip)
    if not any(r.rate is not None for rates in series.values() for r in rates):
        return None
    title, y_label = "Order flips by dimension (95% CI)", "verdicts changed by the swap"
    return dot_chart(categories, series, title, y_label, (0.0, "0%, order never matters"))


def _series(summary: RunSummary, panels: Sequence[P], points: Callable[[P], list[Point]]) -> dict[str, list[Point]]:
    """One series of points per condition panel that has any."""
    return {condition_label(p, summary.is_sweep): points(p) for p in panels if points(p)}


def nice_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    """Round ticks (steps of 1, 2 or 5 times a power of ten) from `lo` or below to `hi` or above; a
    single value gets one unit either side."""
    if hi <= lo:
        lo, hi = lo - 1, lo + 1
    for exponent in range(math.floor(math.log10(hi - lo)) - 1, 16):
        for step in (m * 10.0**exponent for m in (1, 2, 5)):
            first, last = math.floor(lo / step), math.ceil(hi / step)
            if last - first < most:
                return [round(i * step, 10) for i in range(first, last + 1)]
    return [lo, hi]


def length_plot(summary: RunSummary) -> str | None:
    series = _series(summary, summary.bias, lambda p: [
        Point(b.mean_difference, b.accuracy, b.ci, f" (bin {b.chars}, n={b.n})") for b in p.length_bins
    ])  # fmt: skip
    xs = [pt.x for pts in series.values() for pt in pts]
    if not xs:
        return None
    ticks = nice_ticks(min(xs), max(xs))
    axes = Axes("chosen − rejected length (characters, bin mean)", "accuracy", (ticks[0], ticks[-1]), ticks)
    return xy_chart(series, "Accuracy against length difference (95% CI)", axes)


def reliability_plot(summary: RunSummary) -> str | None:
    series = _series(summary, summary.calibration, lambda c: [
        Point(b.confidence, b.accuracy, b.ci, f" (bin {b.bin}, n={b.n})") for b in c.reliability
    ])  # fmt: skip
    if not series:
        return None
    axes = Axes("confidence (bin mean)", "accuracy", (0.0, 1.0), PCT_TICKS)
    return xy_chart(series, "Reliability diagram (95% CI)", axes, diagonal=True)


def selective_plot(summary: RunSummary) -> str | None:
    series = _series(summary, summary.calibration, lambda c: [
        Point(s.coverage, s.accuracy, s.ci, f" (n={s.n})") for s in c.selective
    ])  # fmt: skip
    if not series:
        return None
    axes = Axes("coverage (most confident share of verdicts)", "accuracy", (0.0, 1.0), PCT_TICKS)
    return xy_chart(series, "Selective accuracy against coverage (95% CI)", axes)


def diagnostic_plots(summary: RunSummary) -> list[str]:
    """Every bias and calibration figure the run has data for."""
    makers = (first_slot_plot, order_flip_plot, length_plot, reliability_plot, selective_plot)
    return [svg for svg in (make(summary) for make in makers) if svg]


def shared_plots(report: Report) -> list[str]:
    """Runs side by side on their shared samples: first-slot picks and ECE per condition, one series a run."""
    shared = report.side_by_side
    if shared is None:
        return []
    categories = [condition_label(c, True) for c in shared.conditions]
    names = run_names(report)
    first = {name: [_first_slot(c.bias[i]) for c in shared.conditions] for i, name in enumerate(names)}
    ece = {name: [_ece_rate(c.calibration[i]) for c in shared.conditions] for i, name in enumerate(names)}
    plots = []
    if any(r.rate is not None for rates in first.values() for r in rates):
        title = "First-slot picks, runs side by side (95% CI)"
        plots.append(dot_chart(categories, first, title, "first-slot picks", (0.5, "50%, no preference")))
    if any(r.rate is not None for rates in ece.values() for r in rates):
        title = "ECE, runs side by side (95% CI)"
        plots.append(dot_chart(categories, ece, title, "expected calibration error", (0.0, "0, perfectly calibrated")))
    return plots


def _first_slot(group: BiasGroup | None) -> Rate:
    return group.first_slot if group else Rate()


def _ece_rate(panel: CalibrationPanel | None) -> Rate:
    """A panel's ECE as a share to plot, with its CI."""
    return Rate(n=panel.n, rate=panel.ece, ci=panel.ece_ci) if panel else Rate()
