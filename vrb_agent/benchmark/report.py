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

from vrb_agent.benchmark.metrics import read_results, summarize
from vrb_agent.errors import VrbError

PALETTE = ("#3b6fb6", "#e0823d", "#4a9a5b", "#b64a4a", "#7a5bb0", "#8c6d3b", "#3b9aa8", "#a83b8f")
FLIP_COLOURS = {"fixed": "#4a9a5b", "broken": "#c0392b", "both_right": "#b8c9b8", "both_wrong": "#8a8a8a"}


# ---- formatting ---------------------------------------------------------------------------------


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def ci_text(ci: Sequence[float] | None) -> str:
    return "" if not ci else f"[{pct(ci[0])}, {pct(ci[1])}]"


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
    return f"{name} ({identity.get('backend', '?')}/{identity.get('model', '?')})"


def trace_name(sample_id: str) -> str:
    """A safe, unique file name for a sample's trace page."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)[:60]
    return f"{safe}-{hashlib.sha1(sample_id.encode()).hexdigest()[:8]}.html"


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
                f"fixed {comp['fixed']} / broken {comp['broken']}, McNemar p={p_text(comp['mcnemar_p'])}"
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
        "Accuracy in %, 95% bootstrap CI in brackets; Δ = agentic − single on the same samples.",
        "",
    ]
    if len(report["runs"]) > 1:
        lines += ["## Runs side by side (overall accuracy)", ""]
        lines += _md_table(*side_by_side(report["runs"]))
    for summary in report["runs"]:
        lines += _markdown_run(summary)
    return "\n".join(lines)


def side_by_side(runs: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    keys = sorted(
        {(c["mode"], c["frames"], c["k"]) for s in runs for c in s["conditions"]}, key=lambda t: (t[1], t[2], t[0])
    )
    header = ["condition", *(run_label(s) for s in runs)]
    rows = []
    for mode, frames, k in keys:
        row = [f"{mode} f={frames} k={k}"]
        for s in runs:
            cond = next((c for c in s["conditions"] if (c["mode"], c["frames"], c["k"]) == (mode, frames, k)), None)
            row.append(_acc_cell(cond["overall"]) if cond else "–")
        rows.append(row)
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
        lines += [f"### Agentic vs single-pass{tag}", ""]
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


# ---- SVG plots ----------------------------------------------------------------------------------


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _legend(names: list[str], colours: Sequence[str], x: float, y: float) -> list[str]:
    out = []
    for i, name in enumerate(names):
        out.append(f'<rect x="{x}" y="{y + 16 * i}" width="10" height="10" fill="{colours[i % len(colours)]}"/>')
        out.append(f'<text x="{x + 14}" y="{y + 9 + 16 * i}" font-size="11">{escape(name)}</text>')
    return out


PCT_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)


def _tick(value: float) -> str:
    return f"{100 * value:.0f}%"


def _y_axis(box: tuple[float, float, float, float], ticks: Sequence[float], fmt: Any) -> list[str]:
    """Horizontal grid lines and labels; `box` is (left, top, width, height) of the plot area."""
    left, top, width, height = box
    out = []
    lo, hi = ticks[0], ticks[-1]
    for t in ticks:
        y = top + height - (t - lo) / (hi - lo or 1) * height
        out.append(f'<line x1="{left}" x2="{left + width}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{fmt(t)}</text>')
    return out


def bar_chart_with_ci(
    categories: list[str], series: dict[str, list[tuple[float | None, Sequence[float] | None]]], title: str
) -> str:
    """Grouped bars (accuracy, 0–100 %) with 95 % CI whiskers."""
    names = list(series)
    group_w = max(40, 18 * len(names) + 14)
    left, top, plot_h = 48, 24, 200
    width = left + group_w * len(categories) + 170
    height = top + plot_h + 90
    body = [f'<text x="{left}" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    body += _y_axis((left, top, group_w * len(categories), plot_h), PCT_TICKS, _tick)
    bar_w = (group_w - 14) / max(1, len(names))
    for gi, cat in enumerate(categories):
        x0 = left + gi * group_w + 7
        for si, name in enumerate(names):
            value, ci = series[name][gi]
            if value is None:
                continue
            x = x0 + si * bar_w
            h = value * plot_h
            colour = PALETTE[si % len(PALETTE)]
            tip = f"{name} · {cat}: {pct(value)}% {ci_text(ci)}"
            body.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
                f'fill="{colour}"><title>{escape(tip)}</title></rect>'
            )
            if ci:
                cx = x + (bar_w - 2) / 2
                y_lo, y_hi = top + plot_h - ci[0] * plot_h, top + plot_h - ci[1] * plot_h
                body.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_lo:.1f}" y2="{y_hi:.1f}" stroke="#222"/>')
                for y in (y_lo, y_hi):
                    body.append(f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#222"/>')
        label_x = left + gi * group_w + group_w / 2
        body.append(
            f'<text x="{label_x:.1f}" y="{top + plot_h + 12}" font-size="10" text-anchor="end" '
            f'transform="rotate(-30 {label_x:.1f} {top + plot_h + 12})">{escape(cat)}</text>'
        )
    body += _legend(names, PALETTE, width - 160, top)
    return _svg(width, height, body, title)


def flip_chart(by_dimension: dict[str, dict[str, Any]], overall: dict[str, int], title: str) -> str:
    """Horizontal stacked bars per dimension: fixed / broken / both right / both wrong (share of pairs)."""
    rows = [*by_dimension.items(), ("all", overall)]
    left, top, bar_h, plot_w = 150, 24, 18, 420
    height = top + len(rows) * (bar_h + 6) + 30
    body = [f'<text x="4" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, (dim, flips) in enumerate(rows):
        y = top + i * (bar_h + 6)
        total = sum(flips[k] for k in FLIP_COLOURS) or 1
        body.append(f'<text x="{left - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(dim)}</text>')
        x = float(left)
        for key, colour in FLIP_COLOURS.items():
            w = flips[key] / total * plot_w
            if w > 0:
                tip = f"{dim}: {key.replace('_', ' ')} {flips[key]}"
                body.append(
                    f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
                    f"<title>{escape(tip)}</title></rect>"
                )
                if w > 18:
                    body.append(f'<text x="{x + 3:.1f}" y="{y + 13}" font-size="10">{flips[key]}</text>')
            x += w
    names = [k.replace("_", " ") for k in FLIP_COLOURS]
    legend_y = top + len(rows) * (bar_h + 6) + 6
    for i, (name, colour) in enumerate(zip(names, FLIP_COLOURS.values(), strict=True)):
        body.append(f'<rect x="{left + i * 100}" y="{legend_y}" width="10" height="10" fill="{colour}"/>')
        body.append(f'<text x="{left + i * 100 + 14}" y="{legend_y + 9}" font-size="11">{escape(name)}</text>')
    return _svg(left + plot_w + 20, height, body, title)


def line_chart(xs_label: str, series: dict[str, list[tuple[float, float]]], title: str) -> str:
    """Points joined by lines (x numeric, y accuracy 0–1)."""
    left, top, plot_w, plot_h = 48, 24, 380, 200
    xs = sorted({x for pts in series.values() for x, _ in pts})
    x_lo, x_hi = (xs[0], xs[-1]) if xs else (0.0, 1.0)
    body = [f'<text x="{left}" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    body += _y_axis((left, top, plot_w, plot_h), PCT_TICKS, _tick)

    def x_of(x: float) -> float:
        return left + 10 + (x - x_lo) / ((x_hi - x_lo) or 1) * (plot_w - 20)

    for x in xs:
        body.append(f'<text x="{x_of(x):.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle">{x:g}</text>')
    body.append(
        f'<text x="{left + plot_w / 2}" y="{top + plot_h + 30}" font-size="11" text-anchor="middle">'
        f"{escape(xs_label)}</text>"
    )
    for i, (name, pts) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        coords = [(x_of(x), top + plot_h - y * plot_h) for x, y in sorted(pts)]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            body.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for (cx, cy), (x, y) in zip(coords, sorted(pts), strict=True):
            tip = f"{name}: {xs_label} {x:g} → {pct(y)}%"
            body.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}"><title>{escape(tip)}</title></circle>'
            )
    body += _legend(list(series), PALETTE, left + plot_w + 14, top)
    return _svg(left + plot_w + 170, top + plot_h + 40, body, title)


def simple_bars(values: dict[str, float], title: str, unit: str = "") -> str:
    """Horizontal bars for non-negative values (tool calls per verdict)."""
    left, top, bar_h, plot_w = 200, 24, 16, 320
    peak = max(values.values(), default=0.0) or 1.0
    body = [f'<text x="4" y="14" font-size="13" font-weight="bold">{escape(title)}</text>']
    for i, (name, value) in enumerate(values.items()):
        y = top + i * (bar_h + 5)
        w = value / peak * plot_w
        body.append(f'<text x="{left - 6}" y="{y + 12}" font-size="11" text-anchor="end">{escape(name)}</text>')
        body.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{PALETTE[0]}"/>')
        body.append(f'<text x="{left + w + 4:.1f}" y="{y + 12}" font-size="10">{value:.2f}{escape(unit)}</text>')
    return _svg(left + plot_w + 80, top + len(values) * (bar_h + 5) + 10, body, title)


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
        series: dict[str, list[tuple[float, float]]] = {}
        for c in conds:
            if c["overall"]["accuracy"] is not None:
                series.setdefault(f"{c['mode']} {other}={c[other]}", []).append((c[axis], c["overall"]["accuracy"]))
        plots.append(line_chart(axis, series, f"Overall accuracy against {axis}"))
    return plots


def _images_plot(summary: dict[str, Any]) -> str:
    sweep = is_sweep(summary)
    series: dict[str, list[tuple[float, float]]] = {}
    for c in summary["conditions"]:
        for row in c["accuracy_by_images"]:
            lo, _, hi = row["images"].rstrip("+").partition("-")
            mid = (int(lo) + int(hi or lo)) / 2
            series.setdefault(condition_label(c, sweep), []).append((mid, row["accuracy"]))
    return line_chart("images per verdict (bin centre)", series, "Accuracy against images per verdict")


def _tool_plot(summary: dict[str, Any]) -> str | None:
    sweep = is_sweep(summary)
    values = {
        f"{condition_label(c, sweep)} · {tool}": v
        for c in summary["conditions"]
        for tool, v in c["tools"]["calls_per_verdict"].items()
    }
    return simple_bars(values, "Tool calls per verdict") if values else None


def _samples_table(summary: dict[str, Any], out_dir: Path) -> str:
    run_dir = Path(summary["run_dir"])
    results = run_dir / "results.jsonl"
    records = read_results(results) if results.is_file() else []
    by_sample: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_sample.setdefault(str(r["sample_id"]), []).append(r)
    sweep = is_sweep(summary)
    labels = [condition_label(c, sweep) for c in summary["conditions"]]
    rows = []
    for sample_id, recs in by_sample.items():
        marks = {}
        for r in recs:
            key = condition_label({"mode": r["mode"], "frames": r["frames"], "k": r["k"]}, sweep)
            marks[key] = "✓" if r.get("correct") else ("✗" if r["status"] == "ok" else r["status"])
        href = os.path.relpath(run_dir / "traces" / trace_name(sample_id), out_dir)
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
        parts.append(f"<h3>Agentic vs single-pass{escape(tag)}</h3>")
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
        "Δ = agentic − single on the same samples; McNemar p is exact (binomial).</p>",
    ]
    if len(report["runs"]) > 1:
        body.append("<h2>Runs side by side (overall accuracy)</h2>" + _html_table(*side_by_side(report["runs"])))
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


def _zoom_boxes(record: dict[str, Any]) -> list[tuple[float, list[float]]]:
    """(timestamp, box) of every valid zoom the judge made."""
    boxes = []
    for call in record.get("evidence") or []:
        args = call.get("arguments") or {}
        box = call.get("box") or args.get("box")
        ts = args.get("timestamp", (call.get("timestamps") or [None])[0])
        if call.get("name") == "zoom" and call.get("ok", True) and box and ts is not None:
            boxes.append((float(ts), [float(v) for v in box]))
    return boxes


def _figure(href: str, entry: dict[str, Any], boxes: list[list[float]]) -> str:
    """The image the judge saw, with zoom boxes (0–1000 scale) drawn over it in SVG."""
    w, h = int(entry.get("width") or 320), int(entry.get("height") or 180)
    scale = 320 / max(w, 1)  # every image shown 320 px wide, small crops included
    rects = "".join(
        f'<rect x="{b[0] / 1000 * w:.1f}" y="{b[1] / 1000 * h:.1f}" width="{(b[2] - b[0]) / 1000 * w:.1f}" '
        f'height="{(b[3] - b[1]) / 1000 * h:.1f}" fill="none" stroke="#ff2d2d" stroke-width="{max(2, w / 200):.1f}"/>'
        for b in boxes
    )
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * scale:.0f}" height="{h * scale:.0f}" '
        f'viewBox="0 0 {w} {h}">'
        f'<image href="{escape(href)}" width="{w}" height="{h}"/>{rects}</svg>'
    )
    caption = escape(str(entry.get("label") or entry["id"])) + (" · zoom box drawn" if boxes else "")
    return f"<figure>{svg}<figcaption>{caption}</figcaption></figure>"


def _frames_with_boxes(record: dict[str, Any], index: dict[str, dict[str, Any]]) -> dict[str, list[list[float]]]:
    """For each zoom, the seen full frame (no box of its own) closest in time gets its box drawn."""
    frames = [(i, index[i]) for i in record.get("images") or [] if i in index and not index[i].get("box")]
    drawn: dict[str, list[list[float]]] = {}
    for ts, box in _zoom_boxes(record):
        timed = [(abs(float(e["timestamp"]) - ts), i) for i, e in frames if e.get("timestamp") is not None]
        if timed:
            drawn.setdefault(min(timed)[1], []).append(box)
    return drawn


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
        f"<p>{verdict}; latency {num(record.get('latency_s'))} s; images sent {record.get('images_sent', 0)}</p>",
    ]
    if record.get("error"):
        parts.append(f"<p class='bad'>error: {escape(str(record['error']))}</p>")
    if record.get("rationale"):
        parts.append(f"<h3>Rationale</h3><pre>{escape(str(record['rationale']))}</pre>")
    calls = record.get("evidence") or []
    if calls:
        rows = [
            [
                str(c.get("turn", "")),
                str(c.get("name")),
                json.dumps(c.get("arguments") or {}),
                "yes" if c.get("ok", True) else "no",
                str(c.get("message") or ""),
            ]
            for c in calls
        ]
        parts.append("<h3>Tool sequence</h3>" + _html_table(["turn", "tool", "arguments", "valid", "message"], rows))
    images = [i for i in record.get("images") or [] if i in index]
    if images:
        boxes = _frames_with_boxes(record, index)
        evidence = os.path.relpath(run_dir / "evidence", trace_dir)
        figures = "".join(_figure(f"{evidence}/{i}.jpg", index[i], boxes.get(i, [])) for i in images)
        parts.append(f"<h3>What the judge saw ({len(images)} images)</h3><div>{figures}</div>")
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
    report = {
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        "invalid_policy": invalid_policy,
        "runs": [summarize(d, invalid_policy, n_boot=n_boot, seed=seed) for d in dirs],
    }
    paths = {"summary": out_dir / "summary.json", "markdown": out_dir / "report.md", "html": out_dir / "report.html"}
    paths["summary"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report, out_dir), encoding="utf-8")
    if traces:
        for d in dirs:
            write_trace_pages(d, paths["html"])
    return paths
