"""report.md, rendered from the typed report (every number comes from summary.json's model)."""

from __future__ import annotations

from vrb_agent.benchmark.report.tables import (
    COMPARISON_HEADER,
    GAIN_HEADER,
    accuracy_rows,
    comparison_rows,
    dimension_gain_rows,
    gain_rows,
    shared_note,
    side_by_side,
    status_rows,
    tool_rows,
)
from vrb_agent.benchmark.report.text import SIGNIFICANCE_RULE, comparison_finding, run_label
from vrb_agent.benchmark.report.tradeoff import cost_note, cost_rows
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
        f"- config hash: {run.get('identity_hash', '?')}",
        "",
        "### Accuracy by dimension",
        "",
    ]
    lines += md_table(*accuracy_rows(summary))
    lines += ["### Verdict statuses", ""]
    lines += md_table(*status_rows(summary))
    for comp in summary.comparisons:
        lines += _markdown_comparison(comp, summary.is_sweep)
    lines += ["### Tool use and cost", ""]
    lines += md_table(*tool_rows(summary))
    if summary.cost:
        lines += ["### Accuracy against cost", "", cost_note(summary.cost), ""]
        lines += md_table(*cost_rows(summary))
    return lines
