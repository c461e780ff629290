"""Reports of one or more benchmark runs: summary.json, report.md and a self-contained report.html
(inline SVG plots, no scripts, no external resources), plus one trace page per sample under each
RUN_DIR/traces/ showing the frames the judge saw with its zoom boxes drawn, its tool calls and its
verdict. report.md and report.html are rendered from the summary dict, so their numbers are the
summary's. All dataset and model text is HTML-escaped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.charts import Point, bar_chart_with_ci, ci_text, flip_chart, line_chart, pct, simple_bars
from vrb_agent.benchmark.crossrun import shared_comparison
from vrb_agent.benchmark.merge import run_records, summarize_runs
from vrb_agent.benchmark.metrics import SIGNIFICANCE, paired_direction, read_results
from vrb_agent.benchmark.trace_figures import boxes_by_frame, crop_calls, figure, images_note
from vrb_agent.errors import VrbError

# ---- formatting ---------------------------------------------------------------------------------


def p_text(p: float | None) -> str:
    if p is None:
        return "–"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def condition_label(cond: dict[str, Any], sweep: bool) -> str:
    return f"{cond['mode']} f={cond['frames']} k={cond['k']}" if sweep else str(cond["mode"])


def is_sweep(summary: dict[str, Any]) -> bool:
    return len({(c["frames"], c["k"]) for c in summary["conditions"]}) > 1


def run_label(summary: dict[str, Any]) -> str:
    run = summary.get("run") or {}
    identity = run.get("identity") or {}
    name = Path(summary.get("run_dir", "run")).name
    shards = run.get("shards")
    if shards:
        name += f" + {len(shards['indices']) - 1} more, shards {len(shards['indices'])}/{shards['count']}"
    return f"{name} ({identity.get('backend', '?')}/{identity.get('model', '?')})"


def trace_name(sample_id: str) -> str:
    """A safe, unique file name for a sample's trace page."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)[:60]
    return f"{safe}-{hashlib.sha1(sample_id.encode()).hexdigest()[:8]}.html"


READINGS = {1: "agentic beats single-pass", -1: "agentic is worse than single-pass", 0: "no significant difference"}


def direction_text(row: dict[str, Any]) -> str:
    """What a paired agentic-vs-single row supports: a direction only when the test is significant."""
    return READINGS[paired_direction(row)]


def comparison_finding(row: dict[str, Any]) -> str:
    """One sentence for a paired comparison: the reading its test supports, then its figures."""
    direction = paired_direction(row)
    reading = READINGS[direction] if direction else "agentic and single-pass show no significant difference"
    return (
        f"{reading}, {pct(row['treatment_accuracy'])}% vs {pct(row['baseline_accuracy'])}% "
        f"(Δ {pct(row['difference'])} pts, 95% CI {ci_text(row['ci'])}, McNemar p={p_text(row['mcnemar_p'])}, "
        f"n={row['n_pairs']})"
    )


SIGNIFICANCE_RULE = (
    f"A direction is stated only when McNemar p < {SIGNIFICANCE:g} and the paired 95% CI of Δ excludes 0; "
    "otherwise the difference is not significant."
)


def headline(report: dict[str, Any]) -> str:
    """A plain-text table for terminals: overall and macro accuracy per condition, then Δ with CI and p."""
    lines = []
    for summary in report["runs"]:
        sweep = is_sweep(summary)
        lines.append(f"{run_label(summary)} — policy {report['invalid_policy']}")
        lines += [f"  WARNING: {w}" for w in summary.get("warnings", [])]
        lines.append(f"  {'condition':<28} {'overall % [95% CI]':<24} {'macro %':>8} {'n':>6}")
        for c in summary["conditions"]:
            overall = c["overall"]
            text = f"{pct(overall['accuracy'])} {ci_text(overall['ci'])}"
            lines.append(
                f"  {condition_label(c, sweep):<28} {text:<24} {pct(c['macro']['accuracy']):>8} {overall['n']:>6}"
            )
        for comp in summary["comparisons"]:
            tag = f" f={comp['frames']} k={comp['k']}" if sweep else ""
            lines.append(
                f"  agentic - single{tag}: {pct(comp['difference'])} pts {ci_text(comp['ci'])}, "
                f"fixed {comp['fixed']} / broken {comp['broken']}, McNemar p={p_text(comp['mcnemar_p'])}: "
                f"{direction_text(comp)}"
            )
    return "\n".join(lines)


# ---- markdown -----------------------------------------------------------------------------------


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _acc_cell(cell: dict[str, Any] | None) -> str:
    if not cell or cell.get("accuracy") is None:
        return "–"
    return f"{pct(cell['accuracy'])} {ci_text(cell['ci'])} (n={cell['n']})"


def accuracy_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Dimensions down, conditions across; overall and macro last."""
    sweep = is_sweep(summary)
    conds = summary["conditions"]
    dims = sorted({d for c in conds for d in c["by_dimension"]})
    header = ["dimension", *(condition_label(c, sweep) for c in conds)]
    rows = [[d, *(_acc_cell(c["by_dimension"].get(d)) for c in conds)] for d in dims]
    rows.append(["**overall**", *(_acc_cell(c["overall"]) for c in conds)])
    rows.append(["**macro**", *(_acc_cell(c["macro"]) for c in conds)])
    return header, rows


def comparison_rows(comparison: dict[str, Any]) -> list[list[str]]:
    """One row per dimension and an `all` row: paired accuracies, Δ with CI, flips, McNemar p."""
    rows = [*comparison["by_dimension"].items(), ("**all**", comparison)]
    return [
        [
            name,
            str(row["n_pairs"]),
            pct(row["baseline_accuracy"]),
            pct(row["treatment_accuracy"]),
            pct(row["difference"]),
            ci_text(row["ci"]),
            str(row["fixed"]),
            str(row["broken"]),
            str(row["both_right"]),
            str(row["both_wrong"]),
            p_text(row["mcnemar_p"]),
            {1: "agentic better", -1: "agentic worse"}.get(paired_direction(row), "n.s."),
        ]
        for name, row in rows
    ]


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


def gain_rows(gains: dict[str, dict[str, Any]]) -> list[list[str]]:
    return [
        [
            name,
            str(g["single_wrong"]),
            str(g["fixed"]),
            pct(g["fixed_share"]),
            str(g["single_right"]),
            str(g["broken"]),
            pct(g["broken_share"]),
        ]
        for name, g in gains.items()
    ]


def tool_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    sweep = is_sweep(summary)
    conds = summary["conditions"]
    tools = sorted({t for c in conds for t in c["tools"]["calls_per_verdict"]})
    header = ["statistic", *(condition_label(c, sweep) for c in conds)]
    rows = [
        [f"`{t}` calls / verdict", *(num(c["tools"]["calls_per_verdict"].get(t, 0.0)) for c in conds)] for t in tools
    ]
    stats = [
        ("tool calls / verdict", "total_calls_per_verdict", num),
        ("invalid call share (%)", "invalid_call_share", pct),
        ("images / verdict", "images_per_verdict", num),
        ("model calls", "model_calls", str),
        ("input tokens", "input_tokens", str),
        ("output tokens", "output_tokens", str),
        ("latency mean (s)", "latency_mean_s", num),
        ("latency p95 (s)", "latency_p95_s", num),
        ("cost (USD)", "cost_usd", lambda v: num(v, 4)),
    ]
    rows += [[label, *(fmt(c["tools"][key]) for c in conds)] for label, key, fmt in stats]
    return header, rows


def status_rows(summary: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    sweep = is_sweep(summary)
    conds = summary["conditions"]
    statuses = list(conds[0]["status_counts"]) if conds else []
    header = ["status", *(condition_label(c, sweep) for c in conds)]
    return header, [[s, *(str(c["status_counts"][s]) for c in conds)] for s in statuses]


def render_markdown(report: dict[str, Any]) -> str:
    """report.md from the summary dict (every number comes from it)."""
    lines = [
        "# vrb-agent benchmark report",
        "",
        f"Generated {report['generated']}. "
        f"Invalid/tie/refused/error policy: **{report['invalid_policy']}**. "
        "Accuracy in %, 95% bootstrap CI in brackets; Δ = agentic − single on the same samples. " + SIGNIFICANCE_RULE,
        "",
    ]
    if report.get("side_by_side"):
        lines += ["## Runs side by side (overall accuracy)", "", shared_note(report), ""]
        lines += _md_table(*side_by_side(report))
    for summary in report["runs"]:
        lines += _markdown_run(summary)
    return "\n".join(lines)


def shared_note(report: dict[str, Any]) -> str:
    """Which samples the side-by-side table compares, with the counts behind it."""
    shared = report["side_by_side"]
    counts = ", ".join(f"{run_label(s)} {n}" for s, n in zip(report["runs"], shared["samples"], strict=True))
    if shared["same_samples"]:
        return f"All runs judged the same {shared['shared_samples']} samples."
    return (
        f"The runs judged different samples ({counts}): each row compares them only on the samples every run "
        f"with that condition judged ({shared['shared_samples']} shared by all runs; n in each cell)."
    )


def side_by_side(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Conditions down, runs across; every cell computed on the condition's shared samples."""
    header = ["condition", "shared samples", *(run_label(s) for s in report["runs"])]
    rows = [
        [f"{c['mode']} f={c['frames']} k={c['k']}", str(c["shared"]), *(_acc_cell(cell) for cell in c["cells"])]
        for c in report["side_by_side"]["conditions"]
    ]
    return header, rows


def _markdown_run(summary: dict[str, Any]) -> list[str]:
    run = summary.get("run") or {}
    dataset = run.get("dataset") or {}
    lines = [f"## {run_label(summary)}", ""]
    lines += [f"> **Warning:** {w}\n" for w in summary.get("warnings", [])]
    lines += [
        f"- dataset: {dataset.get('name', '?')} ({dataset.get('path', '?')}), {summary['samples']} samples judged, "
        f"{summary['records']} records, {dataset.get('issue_count', 0)} rows skipped at load",
        f"- config hash: {run.get('identity_hash', '?')}",
        "",
        "### Accuracy by dimension",
        "",
    ]
    lines += _md_table(*accuracy_rows(summary))
    lines += ["### Verdict statuses", ""]
    lines += _md_table(*status_rows(summary))
    for comp in summary["comparisons"]:
        tag = f" (frames={comp['frames']}, k={comp['k']})" if is_sweep(summary) else ""
        lines += [f"### Agentic vs single-pass{tag}", "", f"Overall: {comparison_finding(comp)}.", ""]
        lines += _md_table(COMPARISON_HEADER, comparison_rows(comp))
        lines += [
            "Tool-use gains: among pairs the single pass got wrong, the share agentic fixed; "
            "among pairs it got right, the share agentic broke.",
            "",
        ]
        gains = comp["gains"]
        rows = gain_rows({"all": gains["overall"]}) + gain_rows(gains["by_dimension"])
        lines += _md_table(GAIN_HEADER, rows)
        lines += ["By tool used in the agentic judgment:", ""]
        lines += _md_table(GAIN_HEADER, gain_rows(gains["by_tool"]))
    lines += ["### Tool use and cost", ""]
    lines += _md_table(*tool_rows(summary))
    return lines


# ---- HTML ---------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 18px}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#f3f3f3}td.num{text-align:right}h2{border-bottom:2px solid #3b6fb6;padding-bottom:4px}
.plots{display:flex;flex-wrap:wrap;gap:18px}.ok{color:#2e7d32}.bad{color:#c0392b}.muted{color:#777}
pre{white-space:pre-wrap;background:#f7f7f7;padding:8px;border:1px solid #e3e3e3;font-size:13px}
figure{display:inline-block;margin:6px;vertical-align:top}figcaption{font-size:11px;color:#555;max-width:320px}
.warning{background:#fff3cd;border:1px solid #e0b400;padding:8px 12px}
"""


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell.replace('**', '').replace('`', ''))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )


def _accuracy_plot(summary: dict[str, Any]) -> str:
    sweep = is_sweep(summary)
    conds = summary["conditions"]
    dims = sorted({d for c in conds for d in c["by_dimension"]})
    categories = [*dims, "overall", "macro"]
    series = {}
    for c in conds:
        cells = [c["by_dimension"].get(d) or {} for d in dims] + [c["overall"], c["macro"]]
        series[condition_label(c, sweep)] = [(cell.get("accuracy"), cell.get("ci")) for cell in cells]
    return bar_chart_with_ci(categories, series, "Accuracy by dimension (95% CI)")


def _sweep_plots(summary: dict[str, Any]) -> list[str]:
    conds = summary["conditions"]
    plots = []
    for axis, other in (("frames", "k"), ("k", "frames")):
        values = {c[axis] for c in conds}
        if len(values) < 2:
            continue
        series: dict[str, list[Point]] = {}
        for c in conds:
            overall = c["overall"]
            if overall["accuracy"] is not None:
                point = Point(c[axis], overall["accuracy"], overall["ci"], f" (n={overall['n']})")
                series.setdefault(f"{c['mode']} {other}={c[other]}", []).append(point)
        plots.append(line_chart(axis, series, f"Overall accuracy against {axis} (95% CI)"))
    return plots


def _images_plot(summary: dict[str, Any]) -> str:
    """Accuracy per image-count bin, each bin plotted at the mean image count of its judgments."""
    sweep = is_sweep(summary)
    series: dict[str, list[Point]] = {}
    for c in summary["conditions"]:
        for row in c["accuracy_by_images"]:
            point = Point(row["mean_images"], row["accuracy"], row["ci"], f" (bin {row['images']}, n={row['n']})")
            series.setdefault(condition_label(c, sweep), []).append(point)
    return line_chart("images per verdict (mean of each bin)", series, "Accuracy against images per verdict (95% CI)")


def _tool_plot(summary: dict[str, Any]) -> str | None:
    sweep = is_sweep(summary)
    values = {
        f"{condition_label(c, sweep)} · {tool}": v
        for c in summary["conditions"]
        for tool, v in c["tools"]["calls_per_verdict"].items()
    }
    return simple_bars(values, "Tool calls per verdict") if values else None


def _samples_table(summary: dict[str, Any], out_dir: Path) -> str:
    by_sample: dict[str, list[dict[str, Any]]] = {}
    trace_dirs: dict[str, Path] = {}
    for run_dir in map(Path, summary.get("run_dirs") or [summary["run_dir"]]):  # several when shards merged
        results = run_dir / "results.jsonl"
        for r in read_results(results) if results.is_file() else []:
            by_sample.setdefault(str(r["sample_id"]), []).append(r)
            trace_dirs[str(r["sample_id"])] = run_dir / "traces"
    sweep = is_sweep(summary)
    labels = [condition_label(c, sweep) for c in summary["conditions"]]
    rows = []
    for sample_id, recs in by_sample.items():
        marks = {}
        for r in recs:
            key = condition_label({"mode": r["mode"], "frames": r["frames"], "k": r["k"]}, sweep)
            marks[key] = "✓" if r.get("correct") else ("✗" if r["status"] == "ok" else r["status"])
        href = os.path.relpath(trace_dirs[sample_id] / trace_name(sample_id), out_dir)
        cells = "".join(
            f'<td class="{"ok" if marks.get(lb) == "✓" else "bad"}">{escape(marks.get(lb, "–"))}</td>' for lb in labels
        )
        rows.append(
            f'<tr><td><a href="{escape(href)}">{escape(sample_id)}</a></td>'
            f"<td>{escape(str(recs[0]['dimension']))}</td>{cells}</tr>"
        )
    head = "".join(f"<th>{escape(h)}</th>" for h in ["sample", "dimension", *labels])
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    return f"<details><summary>Per-sample results and trace pages ({len(rows)})</summary>{table}</details>"


def _html_run(summary: dict[str, Any], out_dir: Path) -> str:
    run = summary.get("run") or {}
    dataset = run.get("dataset") or {}
    parts = [f"<h2>{escape(run_label(summary))}</h2>"]
    parts += [f'<p class="warning"><b>Warning:</b> {escape(w)}</p>' for w in summary.get("warnings", [])]
    parts.append(
        f"<p>dataset <b>{escape(str(dataset.get('name', '?')))}</b> ({escape(str(dataset.get('path', '?')))}), "
        f"{summary['samples']} samples, {summary['records']} records, {dataset.get('issue_count', 0)} rows skipped "
        f"at load; config hash {escape(str(run.get('identity_hash', '?')))}</p>"
    )
    plots = [_accuracy_plot(summary)]
    for comp in summary["comparisons"]:
        tag = f" (frames={comp['frames']}, k={comp['k']})" if is_sweep(summary) else ""
        plots.append(flip_chart(comp["by_dimension"], comp["flips"], f"Agentic vs single: flips{tag}"))
    tool_plot = _tool_plot(summary)
    if tool_plot:
        plots.append(tool_plot)
    plots.append(_images_plot(summary))
    plots += _sweep_plots(summary)
    parts.append('<div class="plots">' + "".join(f"<div>{p}</div>" for p in plots) + "</div>")
    parts.append("<h3>Accuracy by dimension (%)</h3>" + _html_table(*accuracy_rows(summary)))
    parts.append("<h3>Verdict statuses</h3>" + _html_table(*status_rows(summary)))
    for comp in summary["comparisons"]:
        tag = f" (frames={comp['frames']}, k={comp['k']})" if is_sweep(summary) else ""
        parts.append(f"<h3>Agentic vs single-pass{escape(tag)}</h3><p>Overall: {escape(comparison_finding(comp))}.</p>")
        parts.append(_html_table(COMPARISON_HEADER, comparison_rows(comp)))
        gains = comp["gains"]
        parts.append("<h4>Tool-use gains by dimension</h4>")
        parts.append(_html_table(GAIN_HEADER, gain_rows({"all": gains["overall"]}) + gain_rows(gains["by_dimension"])))
        parts.append("<h4>Tool-use gains by tool used</h4>" + _html_table(GAIN_HEADER, gain_rows(gains["by_tool"])))
    parts.append("<h3>Tool use and cost</h3>" + _html_table(*tool_rows(summary)))
    parts.append(_samples_table(summary, out_dir))
    return "".join(parts)


def render_html(report: dict[str, Any], out_dir: Path) -> str:
    body = [
        "<h1>vrb-agent benchmark report</h1>",
        f"<p class='muted'>Generated {escape(report['generated'])}. Invalid/tie/refused/error policy: "
        f"<b>{escape(report['invalid_policy'])}</b>. Accuracy in %, 95% bootstrap CI in brackets; "
        f"Δ = agentic − single on the same samples; McNemar p is exact (binomial). {escape(SIGNIFICANCE_RULE)}</p>",
    ]
    if report.get("side_by_side"):
        body.append(
            f"<h2>Runs side by side (overall accuracy)</h2><p>{escape(shared_note(report))}</p>"
            + _html_table(*side_by_side(report))
        )
    body += [_html_run(s, out_dir) for s in report["runs"]]
    return _page("vrb-agent benchmark report", "".join(body))


# ---- trace pages --------------------------------------------------------------------------------


def _evidence_index(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / "evidence" / "index.jsonl"
    if not path.is_file():
        return {}
    entries = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entry = json.loads(line)
            entries[entry["id"]] = entry
    return entries


def _trace_record(record: dict[str, Any], run_dir: Path, trace_dir: Path, index: dict[str, dict[str, Any]]) -> str:
    ok = record.get("correct")
    verdict = (
        f"preferred <b>{escape(str(record.get('preferred')))}</b> (confidence {num(record.get('confidence'))}) — "
        + ('<span class="ok">right</span>' if ok else '<span class="bad">wrong</span>')
        if record["status"] == "ok"
        else f'<span class="bad">status {escape(str(record["status"]))}</span>'
    )
    parts = [
        f"<h2>{escape(str(record['mode']))} · frames={record['frames']} · k={record['k']}</h2>",
        f"<p>{verdict}; latency {num(record.get('latency_s'))} s; {escape(images_note(record))}</p>",
    ]
    if record.get("error"):
        parts.append(f"<p class='bad'>error: {escape(str(record['error']))}</p>")
    if record.get("rationale"):
        parts.append(f"<h3>Rationale</h3><pre>{escape(str(record['rationale']))}</pre>")
    calls = record.get("evidence") or []
    if calls:
        rows = [
            [
                f"#{number}",
                str(c.get("turn", "")),
                str(c.get("name")),
                json.dumps(c.get("arguments") or {}),
                "yes" if c.get("ok", True) else "no",
                str(c.get("message") or ""),
            ]
            for number, c in enumerate(calls, 1)
        ]
        header = ["#", "turn", "tool", "arguments", "valid", "message"]
        parts.append("<h3>Tool sequence</h3>" + _html_table(header, rows))
    images = [i for i in record.get("images") or [] if i in index]
    if images:
        boxes, made = boxes_by_frame(record, index), crop_calls(record)
        evidence = os.path.relpath(run_dir / "evidence", trace_dir)
        figures = "".join(figure(f"{evidence}/{i}.jpg", index[i], boxes.get(i, []), made.get(i)) for i in images)
        parts.append(
            f"<h3>What the judge saw ({len(images)} distinct images; click one for full size)</h3><div>{figures}</div>"
        )
    elif record.get("images"):
        parts.append("<p class='muted'>The images of this judgment were not saved in this RUN_DIR.</p>")
    return "".join(parts)


def write_trace_pages(run_dir: Path, report_html: Path | None = None) -> list[Path]:
    """RUN_DIR/traces/<sample>.html: question, both responses as presented, and each cell's judgment."""
    results = run_dir / "results.jsonl"
    if not results.is_file():
        return []
    samples = {}
    samples_path = run_dir / "samples.jsonl"
    if samples_path.is_file():
        for line in samples_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                samples[str(row["id"])] = row
    index = _evidence_index(run_dir)
    by_sample: dict[str, list[dict[str, Any]]] = {}
    for record in read_results(results):
        by_sample.setdefault(str(record["sample_id"]), []).append(record)
    trace_dir = run_dir / "traces"
    trace_dir.mkdir(exist_ok=True)
    written = []
    for sample_id, records in by_sample.items():
        sample = samples.get(sample_id, {})
        position = sample.get("chosen_position") or records[0].get("chosen_position")
        shown = {"A": sample.get("chosen"), "B": sample.get("rejected")}
        if position == "B":
            shown = {"A": sample.get("rejected"), "B": sample.get("chosen")}
        back = os.path.relpath(report_html or run_dir / "report.html", trace_dir)
        head = [
            f"<p><a href='{escape(back)}'>back to the report</a></p>",
            f"<h1>Sample {escape(sample_id)}</h1>",
            f"<p>dimension {escape(str(records[0]['dimension']))}; media {escape(str(sample.get('media', '?')))}; "
            f"the chosen (correct) response was shown as <b>{escape(str(position))}</b></p>",
            f"<h3>Question</h3><pre>{escape(str(sample.get('question', '(not recorded)')))}</pre>",
        ]
        for letter in ("A", "B"):
            tag = " (chosen)" if letter == position else " (rejected)"
            head.append(f"<h3>Response {letter}{tag}</h3><pre>{escape(str(shown[letter] or '(not recorded)'))}</pre>")
        body = head + [_trace_record(r, run_dir, trace_dir, index) for r in records]
        path = trace_dir / trace_name(sample_id)
        path.write_text(_page(f"trace {sample_id}", "".join(body)), encoding="utf-8")
        written.append(path)
    return written


# ---- entry point --------------------------------------------------------------------------------


def write_report(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    *,
    invalid_policy: str = "wrong",
    n_boot: int = 2000,
    seed: int = 0,
    traces: bool = True,
) -> dict[str, Path]:
    """Summarize the runs and write summary.json, report.md, report.html (into `out`, default the
    first RUN_DIR) and each run's trace pages. Returns the paths written."""
    if not run_dirs:
        raise VrbError("report: give at least one RUN_DIR")
    dirs = [Path(d) for d in run_dirs]
    out_dir = Path(out) if out else dirs[0]
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "invalid_policy": invalid_policy,
        "runs": summarize_runs(dirs, invalid_policy, n_boot=n_boot, seed=seed),  # shards of one run merged
    }
    if len(report["runs"]) > 1:
        records = [run_records(summary) for summary in report["runs"]]
        report["side_by_side"] = shared_comparison(records, invalid_policy, n_boot=n_boot, seed=seed)
    paths = {"summary": out_dir / "summary.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["summary"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report, out_dir), encoding="utf-8")
    if traces:
        for d in dirs:
            write_trace_pages(d, paths["html"])
    return paths
