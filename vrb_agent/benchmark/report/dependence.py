"""The visual-dependence panel (runs with `--controls`): a table, rendered alike in report.md and
report.html, and a chart of normal − control accuracy per dimension with its paired 95 % CI."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from vrb_agent.benchmark.report.charts import PALETTE, Canvas, _legend, _whisker, text_width
from vrb_agent.benchmark.report.text import ci_text, condition_label, p_text, pct
from vrb_agent.benchmark.summary import Condition, PairedRow, RunSummary, VisualDependence

Table = tuple[list[str], list[list[str]]]
DEPENDENCE_HEADER = ["normal − control", "dimension", "pairs", "normal", "control", "Δ (pts)", "95% CI", "McNemar p"]
DEPENDENCE_NOTE = (
    "Visual dependence: accuracy of the normal cells minus the same condition under a control, on the same "
    "samples (blind: no media, a text-only judgment; shuffled: another sample's media). Near 0: the verdicts "
    "do not need this sample's pixels."
)
TICKS = (-1.0, -0.5, 0.0, 0.5, 1.0)


def series_label(row: VisualDependence, sweep: bool) -> str:
    """`single − blind` (with frames and k in a sweep)."""
    return f"{condition_label(Condition(mode=row.mode, frames=row.frames, k=row.k), sweep)} − {row.control}"


def _groups(row: VisualDependence) -> list[tuple[str, PairedRow]]:
    return [*row.by_dimension.items(), ("**all**", row)]


def dependence_rows(deps: Sequence[VisualDependence], sweep: bool) -> Table:
    """One row per controlled condition and dimension, then its `all` row."""
    rows = [
        [
            series_label(dep, sweep),
            name,
            str(row.n_pairs),
            pct(row.treatment_accuracy),
            pct(row.baseline_accuracy),
            pct(row.difference),
            ci_text(row.ci),
            p_text(row.mcnemar_p),
        ]
        for dep in deps
        for name, row in _groups(dep)
    ]
    return DEPENDENCE_HEADER, rows


def _signed_axis(canvas: Canvas, left: float, top: float, width: float, height: float) -> None:
    for t in TICKS:
        y = top + height / 2 - t * height / 2
        colour = "#888" if t == 0 else "#ddd"
        canvas.shape(
            f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}"/>',
            (left, y, left + width, y),
        )
        canvas.text(left - 4, y + 4, f"{100 * t:+.0f}", size=10, anchor="end")
    canvas.text(left - 34, top + height / 2, "normal − control (pts)", size=10, anchor="middle", rotate=-90)


def dependence_chart(summary: RunSummary) -> str:
    """Grouped bars of normal − control per dimension, a bar per controlled condition."""
    deps = summary.visual_dependence or []
    cats = [*sorted({d for dep in deps for d in dep.by_dimension}), "all"]
    series = {
        series_label(dep, summary.is_sweep): [dep if cat == "all" else dep.by_dimension.get(cat) for cat in cats]
        for dep in deps
    }
    return signed_bars(cats, series, "Visual dependence: normal − control accuracy (95% CI)", "dimension")


def signed_bars(cats: list[str], series: dict[str, list[PairedRow | None]], title: str, x_label: str) -> str:
    """Grouped bars of normal − control (−100 to +100 pts) per category, with 95 % CI whiskers."""
    names = list(series)
    group_w = max(40, 18 * len(names) + 14)
    left, top, plot_h = 64, 24, 200
    canvas = Canvas()
    canvas.text(left, 14, title, size=13, bold=True)
    _signed_axis(canvas, left, top, group_w * len(cats), plot_h)
    bar_w, zero = (group_w - 14) / max(1, len(names)), top + plot_h / 2
    for gi, cat in enumerate(cats):
        for si, name in enumerate(names):
            row = series[name][gi]
            if row is None or row.difference is None:
                continue
            x, y = left + gi * group_w + 7 + si * bar_w, zero - row.difference * plot_h / 2
            tip = f"{name} · {cat}: {pct(row.difference)} pts {ci_text(row.ci)} (n={row.n_pairs})"
            canvas.shape(
                f'<rect x="{x:.1f}" y="{min(y, zero):.1f}" width="{bar_w - 2:.1f}" height="{abs(zero - y):.1f}" '
                f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(tip)}</title></rect>',
                (x, min(y, zero), x + bar_w - 2, max(y, zero)),
            )
            if row.ci:
                lo, hi = (zero - v * plot_h / 2 for v in row.ci)
                _whisker(canvas, x + (bar_w - 2) / 2, lo, hi)
        canvas.text(left + gi * group_w + group_w / 2, top + plot_h + 12, cat, size=10, anchor="end", rotate=-30)
    below = top + plot_h + 28 + max(text_width(c, 10) for c in cats) / 2  # under the labels rotated 30°
    canvas.text(left + group_w * len(cats) / 2, below, x_label, size=10, anchor="middle")
    _legend(canvas, names, left + group_w * len(cats) + 14, top)
    return canvas.render(title)
