"""The tables of a report as header + rows of text, rendered alike by report.md and report.html."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vrb_agent.benchmark.metrics import paired_direction
from vrb_agent.benchmark.records import UNKNOWN_SOURCE
from vrb_agent.benchmark.report.text import (
    CONFIDENCE_SOURCES,
    acc_cell,
    acc_text,
    ci_text,
    condition_label,
    num,
    p_text,
    pct,
    run_label,
)
from vrb_agent.benchmark.summary import (
    BiasGroup,
    CalibrationPanel,
    ConditionSummary,
    GainRow,
    LengthSlope,
    PairedComparison,
    Rate,
    Report,
    RunSummary,
    ToolStats,
)

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


# ---- bias and calibration -----------------------------------------------------------------------

BIAS_HEADER = [
    "condition",
    "dimension",
    "first-slot picks (%)",
    "order flips (%)",
    "order agreement (%)",
    "accuracy, order-consistent only (%)",
    "length slope (log-odds / 100 chars)",
]


BIAS_NOTE = (
    "First-slot picks: how often the judge chose the response shown first (50% = no position preference). "
    "Order flips need draws shown both ways round (`--order both`, or k>1, whose draws alternate the order); "
    "order agreement and order-consistent accuracy (verdicts that agreed across orders only) need `--order both`. "
    "Length slope: log-odds of a right verdict per 100 more "
    "characters in the chosen than the rejected response (> 0: right more often when the chosen one is longer). "
    "Each judgment weighs once; 95% bootstrap CI in brackets."
)
CALIBRATION_NOTE = (
    "Confidence is the judge's own (agentic, k=1) or the winning vote share (k>1 or `--order both`); single-pass "
    "verdicts at k=1 state none. ECE: |accuracy − confidence| over ten confidence bins, weighted by their share "
    "(points); Brier: mean (confidence − right)². Selective accuracy: accuracy on the most confident share of "
    "verdicts, ties at the cut counted by their mean. 95% bootstrap CI in brackets."
)


def rate_cell(value: Rate) -> str:
    return "–" if value.rate is None else acc_text(value.rate, value.ci, value.n)


def slope_cell(value: LengthSlope) -> str:
    if value.slope is None:
        return f"– (n={value.n})" if value.n else "–"
    ci = f" [{value.ci[0]:+.2f}, {value.ci[1]:+.2f}]" if value.ci else ""
    return f"{value.slope:+.2f}{ci} (n={value.n})"


def _bias_row(label: str, name: str, group: BiasGroup) -> list[str]:
    rates = (group.first_slot, group.order_flip, group.order_agreement, group.consistent_accuracy)
    return [label, name, *(rate_cell(r) for r in rates), slope_cell(group.length_slope)]


def bias_rows(summary: RunSummary) -> Table:
    """Per condition, each dimension and then all: the bias figures with their CIs."""
    rows = []
    for panel in summary.bias:
        label = condition_label(panel, summary.is_sweep)
        rows += [_bias_row(label, dim, group) for dim, group in panel.by_dimension.items()]
        rows.append(_bias_row(label, "**all**", panel.overall))
    return BIAS_HEADER, rows


def length_rows(summary: RunSummary) -> Table:
    """Accuracy by bin of the length difference, per condition."""
    header = ["condition", "chosen − rejected (chars)", "mean difference", "accuracy (%)"]
    rows = [
        [condition_label(p, summary.is_sweep), b.chars, num(b.mean_difference, 1), acc_text(b.accuracy, b.ci, b.n)]
        for p in summary.bias
        for b in p.length_bins
    ]
    return header, rows


def calibration_rows(summary: RunSummary) -> Table:
    """Per condition: where its confidences come from, ECE (points) and Brier with CIs."""
    header = ["condition", "confidence", "verdicts with one", "mean confidence (%)", "accuracy (%)", "ECE (pts)",
              "Brier score"]  # fmt: skip
    rows = []
    for c in summary.calibration:
        rows.append([
            condition_label(c, summary.is_sweep), CONFIDENCE_SOURCES.get(c.source, c.source), f"{c.n} of {c.records}",
            pct(c.mean_confidence), pct(c.accuracy), f"{pct(c.ece)} {ci_text(c.ece_ci)}".strip(), brier_cell(c),
        ])  # fmt: skip
    return header, rows


def brier_cell(c: CalibrationPanel) -> str:
    return num(c.brier, 3) + (f" [{num(c.brier_ci[0], 3)}, {num(c.brier_ci[1], 3)}]" if c.brier_ci else "")


def reliability_rows(summary: RunSummary) -> Table:
    header = ["condition", "confidence bin", "mean confidence (%)", "accuracy (%)"]
    rows = [
        [condition_label(c, summary.is_sweep), b.bin, pct(b.confidence), acc_text(b.accuracy, b.ci, b.n)]
        for c in summary.calibration
        for b in c.reliability
    ]
    return header, rows


def selective_rows(summary: RunSummary) -> Table:
    """Coverage across: accuracy on the most confident share of each condition's verdicts."""
    coverages = sorted({s.coverage for c in summary.calibration for s in c.selective})
    header = ["condition", *(f"top {100 * x:.0f}%" for x in coverages)]
    rows = []
    for c in summary.calibration:
        if c.selective:
            at = {s.coverage: s for s in c.selective}
            cells = [acc_text(at[x].accuracy, at[x].ci, at[x].n) if x in at else "–" for x in coverages]
            rows.append([condition_label(c, summary.is_sweep), *cells])
    return header, rows


Section = tuple[str, str, list[tuple[str, Table]]]  # heading, note, (caption, table) pairs


def diagnostic_sections(summary: RunSummary) -> list[Section]:
    """The bias and calibration sections of a run that has them; a detail table with no rows is left out."""
    sections: list[Section] = []
    if summary.bias:
        tables = [("", bias_rows(summary)), ("Accuracy by length difference", length_rows(summary))]
        sections.append(("Bias: position and length", BIAS_NOTE, [t for t in tables if t[1][1]]))
    if summary.calibration:
        tables = [
            ("", calibration_rows(summary)),
            ("Reliability", reliability_rows(summary)),
            ("Selective accuracy", selective_rows(summary)),
        ]
        sections.append(("Calibration of confidence", CALIBRATION_NOTE, [t for t in tables if t[1][1]]))
    return sections


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


# ---- per source and rescored ---------------------------------------------------------------------

RULE_LABELS = {"valid": "valid-only majority", "strict": "strict: > K/2 of all K"}
RESCORE_DIMENSIONS = 6  # more dimensions than this: per-dimension rescores only in summary.json


def sources(summary: RunSummary) -> list[str]:
    """Every source dataset any condition of the run judged, sorted."""
    return sorted({s for c in summary.conditions for s in c.by_source})


def source_rows(summary: RunSummary) -> Table:
    """Source datasets down, conditions across."""
    conds = summary.conditions
    header = ["source", *(condition_label(c, summary.is_sweep) for c in conds)]
    return header, [[s, *(acc_cell(c.by_source.get(s)) for c in conds)] for s in sources(summary)]


def source_note(summary: RunSummary) -> str | None:
    """What stands in for the per-source table when the run has at most one source; None otherwise."""
    found = sources(summary)
    if len(found) > 1:
        return None
    if found == [UNKNOWN_SOURCE]:
        return "No sample names its source (records written before sources were recorded read as unknown)."
    return f"Every sample comes from one source ({found[0] if found else 'none'}): no per-source table."


def rescore_note(summary: RunSummary) -> str:
    """How to read the rescore tables, and which records could not be revoted."""
    text = (
        "Each row revotes every judgment from its recorded draws under a vote rule (valid-only majority, or "
        "VL-RewardBench's strict rule: a label wins only with more than half of all K draws, unparsable ones "
        "included) and scores judgments left without a verdict by an invalid policy (wrong, drop, half, or "
        "random: a coin flip seeded by --seed, sample and condition). The accuracy table above scores the "
        f"verdicts as recorded under {summary.invalid_policy}. With one draw per judgment both rules agree."
    )
    old = max((row.without_votes for c in summary.conditions for row in c.rescore), default=0)
    if old:
        text += f" Up to {old} records per condition carry no votes (older versions) and keep their recorded verdict."
    return text


def rescore_rows(cond: ConditionSummary) -> Table:
    """Vote rules × invalid policies down: overall, macro, each dimension (when they fit) and how
    many judgments had no verdict under the rule."""
    dims = sorted({d for row in cond.rescore for d in row.by_dimension})
    dims = dims if len(dims) <= RESCORE_DIMENSIONS else []
    header = ["vote rule", "invalid policy", "matches", "overall", "macro", *dims, "without verdict"]
    rows = [
        [
            RULE_LABELS.get(row.rule, row.rule),
            row.policy,
            row.matches or "",
            acc_cell(row.overall),
            acc_cell(row.macro),
            *(pct(cell.accuracy) if (cell := row.by_dimension.get(d)) else "–" for d in dims),
            str(row.overall.total - row.status_counts.get("ok", 0)),
        ]
        for row in cond.rescore
    ]
    return header, rows


SHARED_FIGURES: list[tuple[str, Callable[[BiasGroup | None, CalibrationPanel | None], str]]] = [
    ("first-slot picks (%)", lambda b, c: rate_cell(b.first_slot) if b else "–"),
    ("order flips (%)", lambda b, c: rate_cell(b.order_flip) if b else "–"),
    ("order agreement (%)", lambda b, c: rate_cell(b.order_agreement) if b else "–"),
    ("accuracy, order-consistent only (%)", lambda b, c: rate_cell(b.consistent_accuracy) if b else "–"),
    ("length slope (log-odds / 100 chars)", lambda b, c: slope_cell(b.length_slope) if b else "–"),
    ("ECE (pts)", lambda b, c: f"{pct(c.ece)} {ci_text(c.ece_ci)} (n={c.n})" if c and c.ece is not None else "–"),
    ("Brier score", lambda b, c: brier_cell(c) if c and c.brier is not None else "–"),
]


def side_by_side_diagnostics(report: Report) -> Table:
    """Per condition, each bias and calibration figure in each run, on the condition's shared samples;
    a figure no run has is left out."""
    assert report.side_by_side is not None
    header = ["condition", "figure", *(run_label(s) for s in report.runs)]
    rows = []
    for c in report.side_by_side.conditions:
        for name, cell in SHARED_FIGURES:
            cells = [cell(b, k) for b, k in zip(c.bias, c.calibration, strict=True)]
            if any(text != "–" for text in cells):
                rows.append([condition_label(c, True), name, *cells])
    return header, rows
