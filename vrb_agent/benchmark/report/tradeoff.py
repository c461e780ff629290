"""The accuracy-vs-cost section of a report: every condition (single, agentic, cascade, each frames
and k) as a point with its 95 % CI, the Pareto front marked, one chart per cost unit of the summary
(USD when every condition is priced, else images sent and tokens), the table with the same numbers
for report.md and report.html, and the cascade's line in the terminal headline."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from vrb_agent.benchmark.costs import axis_values
from vrb_agent.benchmark.report.charts import PALETTE, Canvas, _whisker, _y_axis
from vrb_agent.benchmark.report.text import ci_text, condition_label, num, pct
from vrb_agent.benchmark.summary import CostPoint, CostUnit, ParetoFront, RunSummary

Table = tuple[list[str], list[list[str]]]

AXIS_LABELS: dict[str, str] = {
    "usd": "estimated USD per sample",
    "images": "images sent per sample",
    "tokens": "tokens per sample",
}
COST_HEADER = [
    "condition",
    "accuracy % [95% CI] (n)",
    "USD / sample",
    "images / sample",
    "tokens / sample",
    "escalated to agentic",
    "on the Pareto front",
]
FRONT_STROKE = "#555"


def usd_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.4g}"


def escalation_text(point: CostPoint) -> str:
    """'12 of 80 (15.0%)', with failed escalations named; '–' for a mode that does not escalate."""
    if point.escalated is None:
        return "–"
    text = f"{point.escalated} of {point.samples} ({pct(point.escalated_share)}%)"
    return text + (f", {point.escalation_failed} failed" if point.escalation_failed else "")


def _fronts_text(fronts: Sequence[ParetoFront], index: int) -> str:
    units = [f.cost for f in fronts if f.on_front[index]]
    return ", ".join(units) if units else "no"


def condition_names(summary: RunSummary) -> list[str]:
    """What a run's cost table and chart call each of its cost points."""
    return [condition_label(p, summary.is_sweep) for p in summary.cost.points] if summary.cost else []


def cost_rows(points: Sequence[CostPoint], fronts: Sequence[ParetoFront], names: Sequence[str]) -> Table:
    """One row per named point: accuracy, the cost of a sample in every unit, escalations, fronts."""
    rows = [
        [
            names[i],
            "–" if p.accuracy is None else f"{pct(p.accuracy)} {ci_text(p.ci)} (n={p.n})",
            usd_text(p.usd_per_sample),
            num(p.images_per_sample, 1),
            num(p.tokens_per_sample, 0),
            escalation_text(p),
            _fronts_text(fronts, i),
        ]
        for i, p in enumerate(points)
    ]
    return COST_HEADER, rows


def cost_note(fronts: Sequence[ParetoFront]) -> str:
    """How to read the section: what a sample's cost is and which units the fronts use."""
    units = " and ".join(AXIS_LABELS[f.cost] for f in fronts)
    return (
        "Accuracy against the mean cost of one sample (a cascade sample costs its single pass plus, when "
        "escalated, its agentic judgment). A condition is on the Pareto front when no other condition is at "
        f"least as accurate for at most its cost. Front along: {units}"
        + ("" if fronts[0].cost == "usd" else " (USD needs every condition priced)")
        + "."
    )


def nice_ticks(high: float) -> list[float]:
    """Evenly spaced round ticks from 0 to at least `high`."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(high / step - 1e-9) + 1)]


def _point(canvas: Canvas, xy: tuple[float, float], colour: str, tip: str, ring: bool) -> None:
    cx, cy = xy
    if ring:  # on the front
        canvas.shape(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" stroke="{FRONT_STROKE}" stroke-width="1.5"/>',
            (cx - 7, cy - 7, cx + 7, cy + 7),
        )
    canvas.shape(
        f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"><title>{escape(tip)}</title></circle>',
        (cx - 4, cy - 4, cx + 4, cy + 4),
    )


def _legend(canvas: Canvas, names: list[str], x: float, y: float) -> None:
    """The conditions' colours, then the front's dashed line and ring."""
    for i, name in enumerate(names):
        canvas.shape(
            f'<circle cx="{x + 5}" cy="{y + 5 + 16 * i}" r="4" fill="{PALETTE[i % len(PALETTE)]}"/>',
            (x, y + 16 * i, x + 10, y + 10 + 16 * i),
        )
        canvas.text(x + 14, y + 9 + 16 * i, name)
    ly = y + 5 + 16 * len(names)
    canvas.shape(
        f'<line x1="{x - 4}" x2="{x + 14}" y1="{ly}" y2="{ly}" stroke="{FRONT_STROKE}" stroke-dasharray="4 3"/>',
        (x - 4, ly, x + 14, ly),
    )
    canvas.shape(
        f'<circle cx="{x + 5}" cy="{ly}" r="7" fill="none" stroke="{FRONT_STROKE}" stroke-width="1.5"/>',
        (x - 2, ly - 7, x + 12, ly + 7),
    )
    canvas.text(x + 18, ly + 4, "Pareto front")


def cost_chart(points: Sequence[CostPoint], names: Sequence[str], front: ParetoFront, subject: str) -> str:
    """Accuracy (y, 95 % CI error bars) against the cost of a sample (x) for every named point, the
    Pareto front as a dashed line through ringed points."""
    xs, unit = axis_values(points, front.cost), front.cost
    title = f"{subject} against cost: {AXIS_LABELS[unit]} (95% CI, Pareto front)"
    left, top, plot_w, plot_h = 56, 24, 380, 200
    ticks = nice_ticks(max(xs, default=0.0))
    canvas = Canvas()
    canvas.text(left, 14, title, size=13, bold=True)
    _y_axis(canvas, (left, top, plot_w, plot_h))
    canvas.text(left - 36, top + plot_h / 2, "accuracy", anchor="middle", rotate=-90)

    def at(x: float, y: float) -> tuple[float, float]:
        return left + 10 + x / ticks[-1] * (plot_w - 20), top + plot_h - y * plot_h

    for t in ticks:
        tx = at(t, 0.0)[0]
        canvas.shape(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{top + plot_h}" stroke="#eee"/>', (tx, top, tx, top)
        )
        canvas.text(tx, top + plot_h + 14, f"{t:g}", size=10, anchor="middle")
    canvas.text(left + plot_w / 2, top + plot_h + 30, AXIS_LABELS[unit], anchor="middle")
    _front_line(canvas, [at(x, p.accuracy) for x, p, on in zip(xs, points, front.on_front, strict=True)
                         if on and p.accuracy is not None])  # fmt: skip
    for i, (x, p) in enumerate(zip(xs, points, strict=True)):
        if p.accuracy is None:
            continue
        if p.ci:
            _whisker(canvas, at(x, 0.0)[0], at(x, p.ci[0])[1], at(x, p.ci[1])[1])
        tip = f"{names[i]}: {pct(p.accuracy)}% {ci_text(p.ci)} at {x:g} {AXIS_LABELS[unit]}"
        _point(canvas, at(x, p.accuracy), PALETTE[i % len(PALETTE)], tip, front.on_front[i])
    _legend(canvas, list(names), left + plot_w + 18, top)
    return canvas.render(title)


def _front_line(canvas: Canvas, points: list[tuple[float, float]]) -> None:
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in sorted(points))
        canvas.body.append(
            f'<polyline points="{path}" fill="none" stroke="{FRONT_STROKE}" stroke-width="1.5" stroke-dasharray="5 3"/>'
        )


def cost_charts(
    points: Sequence[CostPoint], fronts: Sequence[ParetoFront], names: Sequence[str], subject: str = "Accuracy"
) -> list[str]:
    """One accuracy-vs-cost chart per front, titled `subject` against cost."""
    return [cost_chart(points, names, front, subject) for front in fronts]


def _unit_cost(point: CostPoint, unit: CostUnit) -> str:
    value = axis_values([point], unit)[0]
    return f"${usd_text(value)}" if unit == "usd" else f"{num(value, 1)} {unit}"


def cascade_text(trace: dict[str, Any]) -> str:
    """A cascade record's trace in words, for its trace page: kept or escalated, why, and its stages."""
    stages = trace.get("stages") or []
    verb = "escalated to agentic" if len(stages) > 1 else "kept the single pass"
    done = ", ".join(
        f"{s['mode']} {s['status']}" + (" (the run's own cell)" if s.get("reused") else "") for s in stages
    )
    rule = f"cascade ({trace.get('escalate_when')}, threshold {trace.get('threshold')})"
    return f"{rule}: {verb}: {trace.get('reason')}; stages: {done}"


def cascade_lines(summary: RunSummary) -> list[str]:
    """For the headline: each cascade condition's escalations, accuracy and cost beside the
    single-pass and agentic conditions of the same frames and k."""
    cost = summary.cost
    if cost is None:
        return []
    unit = cost.fronts[0].cost
    by_condition = {(p.mode, p.frames, p.k): p for p in cost.points}
    lines = []
    for p in cost.points:
        if p.mode != "cascade":
            continue
        tag = f" f={p.frames} k={p.k}" if summary.is_sweep else ""
        parts = [f"{pct(p.accuracy)}% at {_unit_cost(p, unit)}"]
        for mode in ("single", "agentic"):
            other = by_condition.get((mode, p.frames, p.k))
            if other is not None:
                parts.append(f"{mode} {pct(other.accuracy)}% at {_unit_cost(other, unit)}")
        lines.append(f"  cascade{tag}: escalated {escalation_text(p)}; " + ", ".join(parts) + " per sample")
    return lines
