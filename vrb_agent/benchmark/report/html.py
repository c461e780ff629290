"""report.html: self-contained (inline SVG plots, no scripts, no external resources), rendered from
the typed report, with a per-sample table linking each sample's trace page. All dataset and model
text is HTML-escaped."""

from __future__ import annotations

import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

from vrb_agent.benchmark.metrics import Record, condition_of, read_results
from vrb_agent.benchmark.report.charts import Point, bar_chart_with_ci, flip_chart, line_chart, simple_bars
from vrb_agent.benchmark.report.dependence import DEPENDENCE_NOTE, dependence_chart, dependence_rows
from vrb_agent.benchmark.report.diagnostics import diagnostic_plots, shared_plots
from vrb_agent.benchmark.report.evidence import (
    ATTRIBUTION_NOTE,
    RESCUE_NOTE,
    attribution_rows,
    audit_note,
    audit_rows,
    located_note,
    rescue_rows,
    run_attribution_plot,
    run_audit_plot,
)
from vrb_agent.benchmark.report.sidebyside import shared_panel_plots, shared_sections
from vrb_agent.benchmark.report.tables import (
    COMPARISON_HEADER,
    GAIN_HEADER,
    Section,
    accuracy_rows,
    comparison_rows,
    diagnostic_sections,
    dimension_gain_rows,
    dimensions,
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
    trace_name,
)
from vrb_agent.benchmark.report.tradeoff import condition_names, cost_charts, cost_note, cost_rows
from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.benchmark.summary import AccuracyCell, Comparison, Report, RunSummary

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}td.num{text-align:right}h2{border-bottom:2px solid #3b6fb6;padding-bottom:4px}
.plots{display:flex;flex-wrap:wrap;gap:18px}.ok{color:#2e7d32}.bad{color:#c0392b}.muted{color:#777}
pre{white-space:pre-wrap;background:#f7f7f7;padding:8px;border:1px solid #e3e3e3;font-size:13px}
figure{display:inline-block;margin:6px;vertical-align:top}figcaption{font-size:11px;color:#555;max-width:320px}
.warning{background:#fff3cd;border:1px solid #e0b400;padding:8px 12px}
"""


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell.replace('**', '').replace('`', ''))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


# ---- plots --------------------------------------------------------------------------------------


def _accuracy_plot(summary: RunSummary) -> str:
    dims = dimensions(summary)
    series: dict[str, list[tuple[float | None, Sequence[float] | None]]] = {}
    for c in summary.conditions:
        cells: list[AccuracyCell | None] = [c.by_dimension.get(d) for d in dims] + [c.overall, c.macro]
        series[condition_label(c, summary.is_sweep)] = [
            (cell.accuracy, cell.ci) if cell else (None, None) for cell in cells
        ]
    return bar_chart_with_ci([*dims, "overall", "macro"], series, "Accuracy by dimension (95% CI)")


def _sweep_plots(summary: RunSummary) -> list[str]:
    conds = summary.conditions
    plots = []
    for axis, other in (("frames", "k"), ("k", "frames")):
        if len({getattr(c, axis) for c in conds}) < 2:
            continue
        series: dict[str, list[Point]] = {}
        for c in conds:
            overall = c.overall
            if overall.accuracy is not None:
                point = Point(getattr(c, axis), overall.accuracy, overall.ci, f" (n={overall.n})")
                mode = f"{c.mode} ({c.control})" if c.control else c.mode
                series.setdefault(f"{mode} {other}={getattr(c, other)}", []).append(point)
        plots.append(line_chart(axis, series, f"Overall accuracy against {axis} (95% CI)"))
    return plots


def _images_plot(summary: RunSummary) -> str:
    """Accuracy per image-count bin, each bin plotted at the mean image count of its judgments."""
    series: dict[str, list[Point]] = {}
    for c in summary.conditions:
        for row in c.accuracy_by_images:
            point = Point(row.mean_images, row.accuracy, row.ci, f" (bin {row.images}, n={row.n})")
            series.setdefault(condition_label(c, summary.is_sweep), []).append(point)
    return line_chart("images per verdict (mean of each bin)", series, "Accuracy against images per verdict (95% CI)")


def _tool_plot(summary: RunSummary) -> str | None:
    values = {
        f"{condition_label(c, summary.is_sweep)} · {tool}": v
        for c in summary.conditions
        for tool, v in c.tools.calls_per_verdict.items()
    }
    return simple_bars(values, "Tool calls per verdict") if values else None


def _plots(summary: RunSummary) -> str:
    plots = [_accuracy_plot(summary)]
    for comp in summary.comparisons:
        tag = f" (frames={comp.frames}, k={comp.k})" if summary.is_sweep else ""
        plots.append(flip_chart(comp.by_dimension, comp.flips, f"Agentic vs single: flips{tag}"))
    tool_plot = _tool_plot(summary)
    if tool_plot:
        plots.append(tool_plot)
    plots.append(_images_plot(summary))
    plots += _sweep_plots(summary)
    plots += cost_charts(summary.cost.points, summary.cost.fronts, condition_names(summary)) if summary.cost else []
    return '<div class="plots">' + "".join(f"<div>{p}</div>" for p in plots) + "</div>"


# ---- per-sample table ---------------------------------------------------------------------------


def _mark(record: Record) -> str:
    return "✓" if record.get("correct") else ("✗" if record["status"] == "ok" else str(record["status"]))


def _sample_row(sample_id: str, records: list[Record], labels: list[str], href: str, sweep: bool) -> str:
    marks = {condition_label(condition_of(r), sweep): _mark(r) for r in records}
    cells = "".join(
        f'<td class="{"ok" if marks.get(lb) == "✓" else "bad"}">{escape(marks.get(lb, "–"))}</td>' for lb in labels
    )
    return (
        f'<tr><td><a href="{escape(href)}">{escape(sample_id)}</a></td>'
        f"<td>{escape(str(records[0]['dimension']))}</td>{cells}</tr>"
    )


def _samples_table(summary: RunSummary, out_dir: Path) -> str:
    by_sample: dict[str, list[Record]] = {}
    trace_dirs: dict[str, Path] = {}
    for files in map(RunDir, summary.dirs):  # several when shards merged
        for r in read_results(files.results) if files.results.is_file() else []:
            by_sample.setdefault(str(r["sample_id"]), []).append(r)
            trace_dirs[str(r["sample_id"])] = files.traces
    labels = [condition_label(c, summary.is_sweep) for c in summary.conditions]
    rows = [
        _sample_row(sid, recs, labels, os.path.relpath(trace_dirs[sid] / trace_name(sid), out_dir), summary.is_sweep)
        for sid, recs in by_sample.items()
    ]
    head = "".join(f"<th>{escape(h)}</th>" for h in ["sample", "dimension", *labels])
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f"<details><summary>Per-sample results and trace pages ({len(rows)})</summary>{table}</details>"


# ---- whole report -------------------------------------------------------------------------------


def _html_comparison(comp: Comparison, sweep: bool) -> str:
    tag = f" (frames={comp.frames}, k={comp.k})" if sweep else ""
    return "".join(
        [
            f"<h3>Agentic vs single-pass{escape(tag)}</h3><p>Overall: {escape(comparison_finding(comp))}.</p>",
            html_table(COMPARISON_HEADER, comparison_rows(comp)),
            "<h4>Tool-use gains by dimension</h4>",
            html_table(GAIN_HEADER, dimension_gain_rows(comp)),
            "<h4>Tool-use gains by tool used</h4>" + html_table(GAIN_HEADER, gain_rows(comp.gains.by_tool)),
        ]
    )


def _html_sources(summary: RunSummary) -> str:
    note = source_note(summary)
    return "<h3>Accuracy by source (%)</h3>" + (f"<p>{escape(note)}</p>" if note else html_table(*source_rows(summary)))


def _html_rescore(summary: RunSummary) -> str:
    rescored = [c for c in summary.conditions if c.rescore]
    if not rescored:
        return ""
    parts = [f"<h3>Rescored under every invalid policy and vote rule (%)</h3><p>{escape(rescore_note(summary))}</p>"]
    for cond in rescored:
        if len(summary.conditions) > 1:
            parts.append(f"<h4>{escape(condition_label(cond, True))}</h4>")
        parts.append(html_table(*rescore_rows(cond)))
    return "".join(parts)


def _html_run(summary: RunSummary, out_dir: Path) -> str:
    run = summary.run or {}
    dataset = run.get("dataset") or {}
    parts = [f"<h2>{escape(run_label(summary))}</h2>"]
    parts += [f'<p class="warning"><b>Warning:</b> {escape(w)}</p>' for w in summary.warnings or []]
    parts.append(
        f"<p>dataset <b>{escape(str(dataset.get('name', '?')))}</b> ({escape(str(dataset.get('path', '?')))}), "
        f"{summary.samples} samples, {summary.records} records, {dataset.get('issue_count', 0)} rows skipped "
        f"at load; judged under {escape(judging_text(summary))}; "
        f"config hash {escape(str(run.get('identity_hash', '?')))}</p>"
    )
    parts.append(_plots(summary))
    parts.append("<h3>Accuracy by dimension (%)</h3>" + html_table(*accuracy_rows(summary)))
    parts.append(_html_sources(summary))
    parts.append("<h3>Verdict statuses</h3>" + html_table(*status_rows(summary)))
    parts.append(_html_rescore(summary))
    parts += [_html_comparison(comp, summary.is_sweep) for comp in summary.comparisons]
    if summary.visual_dependence:
        parts.append(
            f"<h3>Visual dependence (controls)</h3><p>{escape(DEPENDENCE_NOTE)}</p>{dependence_chart(summary)}"
        )
        parts.append(html_table(*dependence_rows(summary.visual_dependence or [], summary.is_sweep)))
    parts.append("<h3>Tool use and cost</h3>" + html_table(*tool_rows(summary)))
    parts.append(_html_sections(diagnostic_plots(summary), diagnostic_sections(summary)))
    parts.append(_html_evidence(summary))
    if summary.cost:
        parts.append(f"<h3>Accuracy against cost</h3><p>{escape(cost_note(summary.cost.fronts))}</p>")
        parts.append(html_table(*cost_rows(summary.cost.points, summary.cost.fronts, condition_names(summary))))
    parts.append(_samples_table(summary, out_dir))
    return "".join(parts)


def _html_sections(plots: list[str], sections: list[Section]) -> str:
    """The plots, then each section's heading, note and captioned tables."""
    parts = ['<div class="plots">' + "".join(f"<div>{p}</div>" for p in plots) + "</div>"] if plots else []
    for heading, note, tables in sections:
        parts.append(f"<h3>{escape(heading)}</h3><p>{escape(note.replace('`', ''))}</p>")
        parts += [(f"<h4>{escape(caption)}</h4>" if caption else "") + html_table(*table) for caption, table in tables]
    return "".join(parts)


def _html_shared_diagnostics(report: Report) -> str:
    """The runs' bias and calibration figures on shared samples (plots, then the table), then the
    other panels side by side."""
    table = side_by_side_diagnostics(report)
    parts = []
    if table[1]:
        plots = "".join(f"<div>{p}</div>" for p in shared_plots(report))
        parts.append(f'<h3>Bias and calibration side by side</h3><div class="plots">{plots}</div>' + html_table(*table))
    parts.append(_html_sections(shared_panel_plots(report), shared_sections(report)))
    return "".join(parts)


def _html_evidence(summary: RunSummary) -> str:
    """The evidence audit and failure attribution sections, each with its plot."""
    audit, plot = audit_rows(summary.evidence_audit), run_audit_plot(summary)
    parts = ["<h3>Evidence audit</h3>", f"<p>{escape(audit_note(summary.evidence_audit))}</p>"]
    parts.append(f'<div class="plots"><div>{plot}</div></div>' if plot else "")
    parts.append(html_table(*audit) if audit else "<p>No submitted verdict was audited.</p>")
    parts += ["<h3>Failure attribution</h3>", f"<p>{escape(ATTRIBUTION_NOTE)}</p>"]
    parts.append(f"<p>{escape(located_note(summary.failure_attribution).replace('`', ''))}</p>")
    plot = run_attribution_plot(summary)
    parts.append(f'<div class="plots"><div>{plot}</div></div>' if plot else "")
    for table, note in (
        (attribution_rows(summary.failure_attribution, summary.is_sweep), None),
        (rescue_rows(summary.failure_attribution), RESCUE_NOTE),
    ):
        if table:
            parts.append((f"<p>{escape(note)}</p>" if note else "") + html_table(*table))
    return "".join(parts)


def render_html(report: Report, out_dir: Path) -> str:
    """report.html in `out_dir` (trace links are relative to it)."""
    body = [
        "<h1>vrb-agent benchmark report</h1>",
        f"<p class='muted'>Generated {escape(report.generated)}. Invalid/tie/refused/error policy: "
        f"<b>{escape(report.invalid_policy)}</b>. Accuracy in %, 95% bootstrap CI in brackets; "
        f"Δ = agentic − single on the same samples; McNemar p is exact (binomial). {escape(SIGNIFICANCE_RULE)}</p>",
    ]
    if report.side_by_side:
        body.append(
            f"<h2>Runs side by side (overall accuracy)</h2><p>{escape(shared_note(report))}</p>"
            + html_table(*side_by_side(report))
        )
        body.append(_html_shared_diagnostics(report))
    body += [_html_run(s, out_dir) for s in report.runs]
    return page("vrb-agent benchmark report", "".join(body))
