"""The whole-run panels of runs side by side (`SideBySide.panels` and `.cost`): visual dependence,
evidence audit, failure attribution and accuracy against cost, each run's records of a condition
kept to the samples every run with that condition judged. The tables (one row per run and figure,
the same in report.md and report.html) and the HTML plots, one series per run."""

from __future__ import annotations

from vrb_agent.benchmark.evidence_models import BackendAudit, ConditionAttribution
from vrb_agent.benchmark.report.dependence import DEPENDENCE_NOTE, dependence_rows, series_label, signed_bars
from vrb_agent.benchmark.report.evidence import (
    ATTRIBUTION_NOTE,
    RESCUE_NOTE,
    attribution_plot,
    attribution_rows,
    audit_note,
    audit_plot,
    audit_rows,
    rescue_rows,
)
from vrb_agent.benchmark.report.tables import Section, Table
from vrb_agent.benchmark.report.text import condition_label, run_names
from vrb_agent.benchmark.report.tradeoff import cost_charts, cost_note, cost_rows
from vrb_agent.benchmark.summary import Condition, PairedRow, Report, SideBySide


def _stacked(names: list[str], tables: list[Table | None]) -> Table | None:
    """Each run's table under one header, its rows led by the run's name; None when all are empty."""
    header = next((t[0] for t in tables if t), None)
    if header is None:
        return None
    rows = [[name, *row] for name, table in zip(names, tables, strict=True) if table for row in table[1]]
    return (["run", *header], rows) if rows else None


def _shared(report: Report) -> SideBySide:
    assert report.side_by_side is not None
    return report.side_by_side


def _dependence(report: Report, names: list[str]) -> Section | None:
    deps = [p.visual_dependence for p in _shared(report).panels]
    table = _stacked(names, [dependence_rows(d, True) if d else None for d in deps])
    return ("Visual dependence side by side", DEPENDENCE_NOTE, [("", table)]) if table else None


def _audit(report: Report, names: list[str]) -> Section | None:
    audits = [p.evidence_audit for p in _shared(report).panels]
    table = _stacked(names, [audit_rows(a) for a in audits])
    audit = next((a for a in audits if a), None)
    return ("Evidence audit side by side", audit_note(audit), [("", table)]) if table else None


def _attribution(report: Report, names: list[str]) -> Section | None:
    attributions = [p.failure_attribution for p in _shared(report).panels]
    wrong = _stacked(names, [attribution_rows(a, True) for a in attributions])
    rescued = _stacked(names, [rescue_rows(a) for a in attributions])
    tables = [("", t) for t in (wrong,) if t] + [(RESCUE_NOTE.rstrip(":"), t) for t in (rescued,) if t]
    return ("Failure attribution side by side", ATTRIBUTION_NOTE, tables) if tables else None


def cost_names(report: Report, names: list[str]) -> list[str]:
    """`run · condition` for each point of the side-by-side cost plane."""
    cost = _shared(report).cost
    return [f"{names[p.run]} · {condition_label(p, True)}" for p in cost.points] if cost else []


def _cost(report: Report, names: list[str]) -> Section | None:
    cost = _shared(report).cost
    if not cost or not cost.points:
        return None
    header, rows = cost_rows(cost.points, cost.fronts, cost_names(report, names))
    table = (["run · condition", *header[1:]], rows)
    note = cost_note(cost.fronts) + " The front here is over every run's conditions together."
    return "Accuracy against cost side by side", note, [("", table)]


def shared_sections(report: Report) -> list[Section]:
    """The side-by-side panels that any run has figures for, each a heading, a note and its tables."""
    names = run_names(report)
    made = (make(report, names) for make in (_dependence, _audit, _attribution, _cost))
    return [section for section in made if section]


# ---- plots --------------------------------------------------------------------------------------


def _dependence_plot(shared: SideBySide, names: list[str]) -> str | None:
    deps = [{series_label(d, True): d for d in p.visual_dependence or []} for p in shared.panels]
    cats = sorted({label for by_label in deps for label in by_label})
    if not cats:
        return None
    series: dict[str, list[PairedRow | None]] = {
        name: [by_label.get(cat) for cat in cats] for name, by_label in zip(names, deps, strict=True)
    }
    return signed_bars(cats, series, "Visual dependence, runs side by side (95% CI)", "condition − control")


def _audit_plot(shared: SideBySide, names: list[str]) -> str | None:
    audits: dict[str, BackendAudit] = {}
    for name, panel in zip(names, shared.panels, strict=True):
        backends = panel.evidence_audit.backends if panel.evidence_audit else []
        audits |= {name if len(backends) == 1 else f"{name} · {b.backend}": b for b in backends}
    return audit_plot(audits, "Ungrounded cited items, runs side by side (% of checkable, 95% CI)")


def _attribution_plot(shared: SideBySide, names: list[str]) -> str | None:
    conditions: dict[str, ConditionAttribution] = {
        f"{name} · {condition_label(Condition(mode=c.mode, frames=c.frames, k=c.k), True)}": c
        for name, panel in zip(names, shared.panels, strict=True)
        if panel.failure_attribution and panel.failure_attribution.located_samples
        for c in panel.failure_attribution.conditions
    }
    return attribution_plot(conditions, "Wrong verdicts never shown the evidence, runs side by side (%, 95% CI)")


def shared_panel_plots(report: Report) -> list[str]:
    """The side-by-side panels' plots: dependence, audit, attribution, then accuracy against cost."""
    shared, names = _shared(report), run_names(report)
    plots = [plot(shared, names) for plot in (_dependence_plot, _audit_plot, _attribution_plot)]
    cost = shared.cost
    if cost and cost.points:
        plots += cost_charts(cost.points, cost.fronts, cost_names(report, names), "Runs side by side, accuracy")
    return [p for p in plots if p]
