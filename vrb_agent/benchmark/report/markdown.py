"""report.md, rendered from the typed report (every number comes from summary.json's model)."""

from __future__ import annotations

from vrb_agent.benchmark.report.dependence import DEPENDENCE_NOTE, dependence_rows
from vrb_agent.benchmark.report.evidence import (
    ATTRIBUTION_NOTE,
    RESCUE_NOTE,
    attribution_rows,
    audit_note,
    audit_rows,
    located_note,
    rescue_rows,
)
from vrb_agent.benchmark.report.sidebyside import shared_sections
from vrb_agent.benchmark.report.tables import (
    COMPARISON_HEADER,
    GAIN_HEADER,
    Section,
    accuracy_rows,
    comparison_rows,
    diagnostic_sections,
    dimension_gain_rows,
    gain_rows,
    rescore_note,
    rescore_rows,
    shared_note,
    side_by_side,
    side_by_side_diagnostics,
    source_note,
    source_rows,
    status_rows,
    tool_rows,
)
from vrb_agent.benchmark.report.text import (
    SIGNIFICANCE_RULE,
    comparison_finding,
    condition_label,
    judging_text,
    run_label,
)
from vrb_agent.benchmark.report.tradeoff import condition_names, cost_note, cost_rows
from vrb_agent.benchmark.summary import Comparison, Report, RunSummary


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(report: Report) -> str:
    """report.md: the policy and how to read it, runs side by side when several, then each run."""
    lines = [
        "# vrb-agent benchmark report",
        "",
        f"Generated {report.generated}. "
        f"Invalid/tie/refused/error policy: **{report.invalid_policy}**. "
        "Accuracy in %, 95% bootstrap CI in brackets; Δ = agentic − single on the same samples. " + SIGNIFICANCE_RULE,
        "",
    ]
    if report.side_by_side:
        lines += ["## Runs side by side (overall accuracy)", "", shared_note(report), ""]
        lines += md_table(*side_by_side(report))
        shared = side_by_side_diagnostics(report)
        lines += ["### Bias and calibration side by side", "", *md_table(*shared)] if shared[1] else []
        lines += _markdown_sections(shared_sections(report))
    for summary in report.runs:
        lines += _markdown_run(summary)
    return "\n".join(lines)


def _markdown_comparison(comp: Comparison, sweep: bool) -> list[str]:
    tag = f" (frames={comp.frames}, k={comp.k})" if sweep else ""
    lines = [f"### Agentic vs single-pass{tag}", "", f"Overall: {comparison_finding(comp)}.", ""]
    lines += md_table(COMPARISON_HEADER, comparison_rows(comp))
    lines += [
        "Tool-use gains: among pairs the single pass got wrong, the share agentic fixed; "
        "among pairs it got right, the share agentic broke.",
        "",
    ]
    lines += md_table(GAIN_HEADER, dimension_gain_rows(comp))
    lines += ["By tool used in the agentic judgment:", ""]
    lines += md_table(GAIN_HEADER, gain_rows(comp.gains.by_tool))
    return lines


def _markdown_run(summary: RunSummary) -> list[str]:
    run = summary.run or {}
    dataset = run.get("dataset") or {}
    lines = [f"## {run_label(summary)}", ""]
    lines += [f"> **Warning:** {w}\n" for w in summary.warnings or []]
    lines += [
        f"- dataset: {dataset.get('name', '?')} ({dataset.get('path', '?')}), {summary.samples} samples judged, "
        f"{summary.records} records, {dataset.get('issue_count', 0)} rows skipped at load",
        f"- judged under {judging_text(summary)}",
        f"- config hash: {run.get('identity_hash', '?')}",
        "",
        "### Accuracy by dimension",
        "",
    ]
    lines += md_table(*accuracy_rows(summary))
    lines += _markdown_sources(summary)
    lines += ["### Verdict statuses", ""]
    lines += md_table(*status_rows(summary))
    lines += _markdown_rescore(summary)
    for comp in summary.comparisons:
        lines += _markdown_comparison(comp, summary.is_sweep)
    if summary.visual_dependence:
        lines += ["### Visual dependence (controls)", "", DEPENDENCE_NOTE, ""]
        lines += md_table(*dependence_rows(summary.visual_dependence or [], summary.is_sweep))
    lines += ["### Tool use and cost", ""]
    lines += md_table(*tool_rows(summary))
    lines += _markdown_sections(diagnostic_sections(summary)) + _markdown_evidence(summary)
    if summary.cost:
        lines += ["### Accuracy against cost", "", cost_note(summary.cost.fronts), ""]
        lines += md_table(*cost_rows(summary.cost.points, summary.cost.fronts, condition_names(summary)))
    return lines


def _markdown_sections(sections: list[Section]) -> list[str]:
    """Each section's heading, note and captioned tables."""
    lines = []
    for heading, note, tables in sections:
        lines += [f"### {heading}", "", note, ""]
        for caption, table in tables:
            lines += [f"{caption}:", ""] if caption else []
            lines += md_table(*table)
    return lines


def _markdown_sources(summary: RunSummary) -> list[str]:
    note = source_note(summary)
    return ["### Accuracy by source", "", *([note, ""] if note else md_table(*source_rows(summary)))]


def _markdown_rescore(summary: RunSummary) -> list[str]:
    rescored = [c for c in summary.conditions if c.rescore]
    if not rescored:
        return []
    lines = ["### Rescored under every invalid policy and vote rule", "", rescore_note(summary), ""]
    for cond in rescored:
        lines += [f"#### {condition_label(cond, True)}", ""] if len(summary.conditions) > 1 else []
        lines += md_table(*rescore_rows(cond))
    return lines


def _markdown_evidence(summary: RunSummary) -> list[str]:
    """The evidence audit and failure attribution sections."""
    lines = ["### Evidence audit", "", audit_note(summary.evidence_audit), ""]
    audit = audit_rows(summary.evidence_audit)
    lines += md_table(*audit) if audit else ["No submitted verdict was audited.", ""]
    lines += ["### Failure attribution", "", ATTRIBUTION_NOTE, "", located_note(summary.failure_attribution), ""]
    for table, note in (
        (attribution_rows(summary.failure_attribution, summary.is_sweep), None),
        (rescue_rows(summary.failure_attribution), RESCUE_NOTE),
    ):
        if table:
            lines += ([note, ""] if note else []) + md_table(*table)
    return lines
