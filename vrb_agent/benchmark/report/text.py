"""The words and numbers every report output shares (report.md, report.html, the terminal
headline): labels of runs and conditions, number formats and the reading of a paired test."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from vrb_agent.benchmark.metrics import SIGNIFICANCE, paired_direction
from vrb_agent.benchmark.summary import AccuracyCell, Condition, PairedRow, Report, RunSummary


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


def condition_label(cond: Condition, sweep: bool) -> str:
    label = f"{cond.mode} f={cond.frames} k={cond.k}" if sweep else cond.mode
    return f"{label} ({cond.control})" if cond.control else label


def run_label(summary: RunSummary) -> str:
    run = summary.run or {}
    identity = run.get("identity") or {}
    name = Path(summary.run_dir or "run").name
    shards = run.get("shards")
    if shards:
        name += f" + {len(shards['indices']) - 1} more, shards {len(shards['indices'])}/{shards['count']}"
    return f"{name} ({identity.get('backend', '?')}/{identity.get('model', '?')})"


def run_names(report: Report) -> list[str]:
    """Each run's label, numbered where two runs would read the same."""
    labels = [run_label(s) for s in report.runs]
    return [label if labels.count(label) == 1 else f"{label} #{i + 1}" for i, label in enumerate(labels)]


def judging_text(summary: RunSummary) -> str:
    """How the run judged, from its run.json: what decides whether its numbers can stand beside a
    benchmark's published ones. A run.json older than `--protocol` judged under vrb-agent's."""
    identity = (summary.run or {}).get("identity")
    if not identity:
        return "a configuration this summary does not have (no run.json)"
    parts = [f"protocol {identity.get('protocol') or 'vrb-agent'}", f"presentation order {identity.get('order')}"]
    parts.append(f"seed {identity.get('seed')}")
    for name in ("temperature", "top_p"):
        value = identity.get(name)
        parts.append(f"{name} {'the protocol default' if value is None else value}")
    return ", ".join(parts)


def trace_name(sample_id: str) -> str:
    """A safe, unique file name for a sample's trace page."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", sample_id)[:60]
    return f"{safe}-{hashlib.sha1(sample_id.encode()).hexdigest()[:8]}.html"


def acc_cell(cell: AccuracyCell | None) -> str:
    if cell is None or cell.accuracy is None:
        return "–"
    return acc_text(cell.accuracy, cell.ci, cell.n)


def acc_text(value: float, ci: Sequence[float] | None, n: int) -> str:
    """A share as report.md and report.html print it: percent, 95 % CI, n."""
    return f"{pct(value)} {ci_text(ci)} (n={n})"


CONFIDENCE_SOURCES = {"stated": "judge's own", "vote share": "vote share", "mixed": "own or vote share", "none": "none"}


READINGS = {1: "agentic beats single-pass", -1: "agentic is worse than single-pass", 0: "no significant difference"}

SIGNIFICANCE_RULE = (
    f"A direction is stated only when McNemar p < {SIGNIFICANCE:g} and the paired 95% CI of Δ excludes 0; "
    "otherwise the difference is not significant."
)


def direction_text(row: PairedRow) -> str:
    """What a paired agentic-vs-single row supports: a direction only when the test is significant."""
    return READINGS[paired_direction(row)]


def comparison_finding(row: PairedRow) -> str:
    """One sentence for a paired comparison: the reading its test supports, then its figures."""
    direction = paired_direction(row)
    reading = READINGS[direction] if direction else "agentic and single-pass show no significant difference"
    return (
        f"{reading}, {pct(row.treatment_accuracy)}% vs {pct(row.baseline_accuracy)}% "
        f"(Δ {pct(row.difference)} pts, 95% CI {ci_text(row.ci)}, McNemar p={p_text(row.mcnemar_p)}, "
        f"n={row.n_pairs})"
    )


def _headline_run(summary: RunSummary, policy: str) -> list[str]:
    sweep = summary.is_sweep
    lines = [f"{run_label(summary)} — policy {policy}"]
    lines += [f"  WARNING: {w}" for w in summary.warnings or []]
    lines.append(f"  {'condition':<28} {'overall % [95% CI]':<24} {'macro %':>8} {'n':>6}")
    for c in summary.conditions:
        text = f"{pct(c.overall.accuracy)} {ci_text(c.overall.ci)}"
        label = condition_label(c, sweep)
        lines.append(f"  {label:<28} {text:<24} {pct(c.macro.accuracy):>8} {c.overall.n:>6}")
    for dep in summary.visual_dependence or []:
        label = f"{condition_label(Condition(mode=dep.mode, frames=dep.frames, k=dep.k), sweep)} - {dep.control}"
        lines.append(f"  visual dependence {label}: {pct(dep.difference)} pts {ci_text(dep.ci)} (n={dep.n_pairs})")
    for comp in summary.comparisons:
        tag = f" f={comp.frames} k={comp.k}" if sweep else ""
        lines.append(
            f"  agentic - single{tag}: {pct(comp.difference)} pts {ci_text(comp.ci)}, "
            f"fixed {comp.fixed} / broken {comp.broken}, McNemar p={p_text(comp.mcnemar_p)}: "
            f"{direction_text(comp)}"
        )
    from vrb_agent.benchmark.report.tradeoff import cascade_lines  # noqa: PLC0415 - tradeoff imports this module

    return lines + cascade_lines(summary)


def headline(report: Report | dict[str, object]) -> str:
    """A plain-text table for terminals: overall and macro accuracy per condition, then Δ with CI and p.
    Takes the report or summary.json as read back."""
    report = report if isinstance(report, Report) else Report.model_validate(report)
    return "\n".join(line for s in report.runs for line in _headline_run(s, report.invalid_policy))
