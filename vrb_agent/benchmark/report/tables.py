"""The tables of a report as header + rows of text, rendered alike by report.md and report.html."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vrb_agent.benchmark.metrics import paired_direction
from vrb_agent.benchmark.report.text import acc_cell, ci_text, condition_label, num, p_text, pct, run_label
from vrb_agent.benchmark.summary import GainRow, PairedComparison, Report, RunSummary, ToolStats

Table = tuple[list[str], list[list[str]]]

COMPARISON_HEADER = [
    "dimension",
    "pairs",
    "single",
    "agentic",
    "Δ (pts)",
    "95% CI",
    "fixed",
    "broken",
    "both right",
    "both wrong",
    "McNemar p",
    "reading",
]
GAIN_HEADER = [
    "group",
    "single wrong",
    "fixed by agentic",
    "share fixed",
    "single right",
    "broken by agentic",
    "share broken",
]
TOOL_STATS: list[tuple[str, Callable[[ToolStats], Any], Callable[[Any], str]]] = [
    ("tool calls / verdict", lambda t: t.total_calls_per_verdict, num),
    ("invalid call share (%)", lambda t: t.invalid_call_share, pct),
    ("images / verdict", lambda t: t.images_per_verdict, num),
    ("model calls", lambda t: t.model_calls, str),
    ("input tokens", lambda t: t.input_tokens, str),
    ("output tokens", lambda t: t.output_tokens, str),
    ("latency mean (s)", lambda t: t.latency_mean_s, num),
    ("latency p95 (s)", lambda t: t.latency_p95_s, num),
    ("cost (USD)", lambda t: t.cost_usd, lambda v: num(v, 4)),
]


def dimensions(summary: RunSummary) -> list[str]:
    """Every dimension any condition of the run judged, sorted."""
    return sorted({d for c in summary.conditions for d in c.by_dimension})


def accuracy_rows(summary: RunSummary) -> Table:
    """Dimensions down, conditions across; overall and macro last."""
    conds = summary.conditions
    header = ["dimension", *(condition_label(c, summary.is_sweep) for c in conds)]
    rows = [[d, *(acc_cell(c.by_dimension.get(d)) for c in conds)] for d in dimensions(summary)]
    rows.append(["**overall**", *(acc_cell(c.overall) for c in conds)])
    rows.append(["**macro**", *(acc_cell(c.macro) for c in conds)])
    return header, rows


def comparison_rows(comparison: PairedComparison) -> list[list[str]]:
    """One row per dimension and an `all` row: paired accuracies, Δ with CI, flips, McNemar p."""
    rows = [*comparison.by_dimension.items(), ("**all**", comparison)]
    return [
        [
            name,
            str(row.n_pairs),
            pct(row.baseline_accuracy),
            pct(row.treatment_accuracy),
            pct(row.difference),
            ci_text(row.ci),
            str(row.fixed),
            str(row.broken),
            str(row.both_right),
            str(row.both_wrong),
            p_text(row.mcnemar_p),
            {1: "agentic better", -1: "agentic worse"}.get(paired_direction(row), "n.s."),
        ]
        for name, row in rows
    ]


def gain_rows(gains: dict[str, GainRow]) -> list[list[str]]:
    return [
        [
            name,
            str(g.single_wrong),
            str(g.fixed),
            pct(g.fixed_share),
            str(g.single_right),
            str(g.broken),
            pct(g.broken_share),
        ]
        for name, g in gains.items()
    ]


def dimension_gain_rows(comparison: PairedComparison) -> list[list[str]]:
    """The tool-use gains of all pairs, then of each dimension."""
    gains = comparison.gains
    return gain_rows({"all": gains.overall}) + gain_rows(gains.by_dimension)


def tool_rows(summary: RunSummary) -> Table:
    conds = summary.conditions
    tools = sorted({t for c in conds for t in c.tools.calls_per_verdict})
    header = ["statistic", *(condition_label(c, summary.is_sweep) for c in conds)]
    rows = [[f"`{t}` calls / verdict", *(num(c.tools.calls_per_verdict.get(t, 0.0)) for c in conds)] for t in tools]
    rows += [[label, *(fmt(field(c.tools)) for c in conds)] for label, field, fmt in TOOL_STATS]
    return header, rows


def status_rows(summary: RunSummary) -> Table:
    conds = summary.conditions
    statuses = list(conds[0].status_counts) if conds else []
    header = ["status", *(condition_label(c, summary.is_sweep) for c in conds)]
    return header, [[s, *(str(c.status_counts[s]) for c in conds)] for s in statuses]


def shared_note(report: Report) -> str:
    """Which samples the side-by-side table compares, with the counts behind it."""
    shared = report.side_by_side
    assert shared is not None
    counts = ", ".join(f"{run_label(s)} {n}" for s, n in zip(report.runs, shared.samples, strict=True))
    if shared.same_samples:
        return f"All runs judged the same {shared.shared_samples} samples."
    return (
        f"The runs judged different samples ({counts}): each row compares them only on the samples every run "
        f"with that condition judged ({shared.shared_samples} shared by all runs; n in each cell)."
    )


def side_by_side(report: Report) -> Table:
    """Conditions down, runs across; every cell computed on the condition's shared samples."""
    assert report.side_by_side is not None
    header = ["condition", "shared samples", *(run_label(s) for s in report.runs)]
    rows = [
        [condition_label(c, True), str(c.shared), *(acc_cell(cell) for cell in c.cells)]
        for c in report.side_by_side.conditions
    ]
    return header, rows
