"""The evidence panels of a report (the summary's `evidence_audit` and `failure_attribution`): the
tables both report.md and report.html show, the HTML plots, and the audit of one record for its
trace page (each cited item marked grounded, ungrounded or uncheckable)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from vrb_agent.benchmark.attribution import coverage
from vrb_agent.benchmark.audit import audit_record, is_audited
from vrb_agent.benchmark.evidence_models import (
    AttributionCell,
    AuditCell,
    BackendAudit,
    ConditionAttribution,
    EvidenceAudit,
    FailureAttribution,
)
from vrb_agent.benchmark.report.charts import bar_chart_with_ci
from vrb_agent.benchmark.report.tables import Table
from vrb_agent.benchmark.report.text import ci_text, num, pct
from vrb_agent.benchmark.summary import RunSummary

AUDIT_HEADER = [
    "backend",
    "dimension",
    "verdicts",
    "grounded",
    "ungrounded",
    "uncheckable",
    "cited items",
    "checkable",
    "ungrounded items",
    "ungrounded rate (%)",
    "95% CI",
]
ATTRIBUTION_HEADER = [
    "condition",
    "dimension",
    "wrong verdicts",
    "never shown",
    "shown but misjudged",
    "not attributable",
    "never-shown share (%)",
    "95% CI",
]
RESCUE_HEADER = [
    "frames",
    "k",
    "single-pass never shown",
    "agentic showed it",
    "share (%)",
    "agentic then right",
]


def audit_note(audit: EvidenceAudit | None) -> str:
    """How to read the audit table."""
    tolerance = audit.tolerance_s if audit else 0.0
    return (
        "Each item a submitted verdict cites, checked against what that judgment was shown: grounded when a "
        f"shown frame lies within {tolerance:g} s of the cited time (or a viewed clip spans it) and a cited box "
        "was on a whole frame or a zoom there; ungrounded when checkable and not shown; uncheckable otherwise. "
        "Verdicts: ungrounded if any item is. Rate = ungrounded / checkable items."
    )


ATTRIBUTION_NOTE = (
    "Wrong verdicts on samples that say where their decisive evidence is: never shown (no frame or zoom the "
    "judgment was sent covered it), shown but misjudged, or not attributable (no location, or an older record "
    "that does not list the frames it was sent). Share = never shown / attributable."
)


def _audit_row(backend: str, name: str, cell: AuditCell) -> list[str]:
    counts = (cell.verdicts, cell.grounded, cell.ungrounded, cell.uncheckable)
    items = (cell.citations, cell.checkable, cell.ungrounded_citations)
    return [backend, name, *map(str, counts), *map(str, items), pct(cell.ungrounded_rate), ci_text(cell.ci)]


def audit_rows(audit: EvidenceAudit | None) -> Table | None:
    """Per backend: each dimension, then all; None when no verdict was audited."""
    if audit is None or not audit.backends:
        return None
    rows = []
    for entry in audit.backends:
        rows += [_audit_row(entry.backend, d, cell) for d, cell in entry.by_dimension.items()]
        rows.append(_audit_row(entry.backend, "**all**", entry.overall))
    return AUDIT_HEADER, rows


def _attribution_row(label: str, name: str, cell: AttributionCell) -> list[str]:
    counts = (cell.wrong, cell.never_shown, cell.shown_misjudged, cell.not_attributable)
    return [label, name, *map(str, counts), pct(cell.never_shown_share), ci_text(cell.ci)]


def _label(mode: str, frames: int, k: int, sweep: bool) -> str:
    return f"{mode} f={frames} k={k}" if sweep else mode


def attribution_rows(attribution: FailureAttribution | None, sweep: bool) -> Table | None:
    """Per condition: each dimension, then all; None when no sample says where its evidence is."""
    if attribution is None or not attribution.located_samples:
        return None
    rows = []
    for c in attribution.conditions:
        label = _label(c.mode, c.frames, c.k, sweep)
        rows += [_attribution_row(label, d, cell) for d, cell in c.by_dimension.items()]
        rows.append(_attribution_row(label, "**all**", c.overall))
    return ATTRIBUTION_HEADER, rows


def rescue_rows(attribution: FailureAttribution | None) -> Table | None:
    """How often agentic tools showed evidence the single pass never saw; None without such pairs."""
    if attribution is None or not attribution.rescue:
        return None
    rows = [
        [str(r.frames), str(r.k), str(r.single_never_shown), str(r.agentic_shown), pct(r.agentic_shown_share),
         str(r.agentic_shown_right)]
        for r in attribution.rescue
    ]  # fmt: skip
    return RESCUE_HEADER, rows


def located_note(attribution: FailureAttribution | None) -> str:
    located = attribution.located_samples if attribution else 0
    if not located:
        return "No sample says where its decisive evidence is (`meta.evidence`), so no wrong verdict is attributable."
    return f"{located} samples say where their decisive evidence is."


RESCUE_NOTE = (
    "Samples whose single-pass judgment was never shown the decisive evidence, and how many of them the "
    "agentic judgment's tools showed it to:"
)


# ---- plots --------------------------------------------------------------------------------------


def audit_plot(audits: Mapping[str, BackendAudit], title: str) -> str | None:
    """The ungrounded-citation rate per dimension, a bar per named backend audit, with 95 % CI whiskers."""
    if not any(b.overall.checkable for b in audits.values()):  # no rate to draw
        return None
    dims = sorted({d for b in audits.values() for d in b.by_dimension})
    series: dict[str, list[Bar]] = {
        name: [*(_rate(b.by_dimension.get(d)) for d in dims), _rate(b.overall)] for name, b in audits.items()
    }
    return bar_chart_with_ci([*dims, "all"], series, title)


def run_audit_plot(summary: RunSummary) -> str | None:
    """One run's audit plot: a bar per backend."""
    audit = summary.evidence_audit
    backends = {b.backend: b for b in audit.backends} if audit else {}
    return audit_plot(backends, "Ungrounded cited items (% of checkable, 95% CI)")


def attribution_plot(conditions: Mapping[str, ConditionAttribution], title: str) -> str | None:
    """The never-shown share of wrong verdicts per dimension, a bar per named condition, with 95 % CIs."""
    if not conditions:
        return None
    dims = sorted({d for c in conditions.values() for d in c.by_dimension})
    shares: dict[str, list[Bar]] = {
        name: [*(_share(c.by_dimension.get(d)) for d in dims), _share(c.overall)] for name, c in conditions.items()
    }
    return bar_chart_with_ci([*dims, "all"], shares, title)


def run_attribution_plot(summary: RunSummary) -> str | None:
    """One run's attribution plot: a bar per condition."""
    attribution = summary.failure_attribution
    if not attribution or not attribution.located_samples:
        return None
    named = {_label(c.mode, c.frames, c.k, summary.is_sweep): c for c in attribution.conditions}
    return attribution_plot(named, "Wrong verdicts never shown the evidence (%, 95% CI)")


Bar = tuple[float | None, Sequence[float] | None]


def _rate(cell: AuditCell | None) -> Bar:
    return (cell.ungrounded_rate, cell.ci) if cell else (None, None)


def _share(cell: AttributionCell | None) -> Bar:
    return (cell.never_shown_share, cell.ci) if cell else (None, None)


# ---- one record on its trace page ---------------------------------------------------------------

MARKS = {
    "grounded": '<td class="ok">✓ grounded</td>',
    "ungrounded": '<td class="bad">✗ ungrounded</td>',
    "uncheckable": '<td class="muted">? uncheckable</td>',
}


def _cited(item: Mapping[str, Any]) -> str:
    parts = []
    if item.get("timestamp") is not None:
        parts.append(f"t={num(item['timestamp'])}s")
    if item.get("start") is not None or item.get("end") is not None:
        parts.append(f"{num(item.get('start'))}–{num(item.get('end'))}s")
    if item.get("box") is not None:
        parts.append(f"box={item['box']}")
    return " ".join(parts) or "(nothing)"


def cited_evidence_html(record: Mapping[str, Any]) -> str:
    """The verdict's cited items, each marked grounded / ungrounded / uncheckable with the reason,
    and whether the judgment was shown the sample's decisive evidence."""
    parts = []
    if is_audited(record) and record.get("verdict_evidence"):
        rows = "".join(
            f"<tr><td>{escape(_cited(item))}</td><td>{escape(str(item.get('note') or ''))}</td>{MARKS[cls]}"
            f"<td>{escape(why)}</td></tr>"
            for item, cls, why in audit_record(record)
        )
        head = "".join(f"<th>{h}</th>" for h in ("cited", "note", "audit", "why"))
        parts.append(f"<h3>Cited evidence</h3><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
    regions = record.get("decisive_evidence") or []
    if regions:
        where = "; ".join(_cited(r) for r in regions if isinstance(r, Mapping))
        found = {"shown": "shown to this judgment", "never_shown": "never shown to this judgment"}
        seen = found.get(coverage(record) or "", "not known whether shown (the record does not list every frame)")
        parts.append(f"<p>Decisive evidence (the sample's <code>meta.evidence</code>): {escape(where)} — {seen}.</p>")
    return "".join(parts)
