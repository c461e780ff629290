"""Several runs side by side, compared only on the samples they share.

Runs over different sample sets (a `--limit`, a partial run, another dataset release) would otherwise
be compared on different questions. So each run's records of a condition are kept to the samples
that every run having that condition judged, and everything side by side is computed from those:
each condition's accuracy, bias and calibration; each run's visual dependence, evidence audit and
failure attribution; and accuracy against cost, with the Pareto front over every run's conditions
together. The report says how many samples that is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from vrb_agent.benchmark.attribution import failure_attribution
from vrb_agent.benchmark.audit import evidence_audit
from vrb_agent.benchmark.bias import bias_group
from vrb_agent.benchmark.calibration import calibration_panel
from vrb_agent.benchmark.costs import cost_point, pareto_fronts
from vrb_agent.benchmark.dependence import visual_dependence
from vrb_agent.benchmark.metrics import Record, accuracy_table, condition_of, condition_order, dedupe
from vrb_agent.benchmark.summary import (
    AccuracyCell,
    Condition,
    RunCostPoint,
    SharedCondition,
    SharedCost,
    SharedPanels,
    SideBySide,
)

Groups = dict[Condition, list[Record]]


def _ids(records: Sequence[Record]) -> set[str]:
    return {str(r["sample_id"]) for r in records}


def _by_condition(records: Sequence[Record]) -> Groups:
    groups: Groups = defaultdict(list)
    for record in records:
        groups[condition_of(record)].append(record)
    return groups


def shared_groups(unique: Sequence[Sequence[Record]]) -> tuple[list[Condition], list[Groups]]:
    """Every condition of the runs, and each run's records by condition, each condition's kept to
    the samples every run having that condition judged."""
    grouped = [_by_condition(records) for records in unique]
    keys = sorted({key for groups in grouped for key in groups}, key=lambda c: (c.frames, c.k, c.mode, c.control or ""))
    runs: list[Groups] = [{} for _ in unique]
    for key in keys:
        shared = set.intersection(*[_ids(groups[key]) for groups in grouped if key in groups])
        for kept, groups in zip(runs, grouped, strict=True):
            if key in groups:
                kept[key] = [r for r in groups[key] if str(r["sample_id"]) in shared]
    return keys, runs


def _shared_condition(key: Condition, runs: list[Groups], policy: str, n_boot: int, seed: int) -> SharedCondition:
    subsets = [groups.get(key) for groups in runs]
    cells: list[AccuracyCell | None] = [
        accuracy_table(rows, policy, n_boot=n_boot, seed=seed).overall if rows is not None else None for rows in subsets
    ]
    return SharedCondition(
        **key.model_dump(),
        shared=len(_ids(next(rows for rows in subsets if rows is not None))),
        cells=cells,
        bias=[bias_group(rows, policy, n_boot, seed) if rows is not None else None for rows in subsets],
        calibration=[
            calibration_panel(key, rows, n_boot=n_boot, seed=seed) if rows is not None else None for rows in subsets
        ],
    )


def _shared_panels(groups: Groups, policy: str, n_boot: int, seed: int) -> SharedPanels:
    """One run's whole-run panels on its shared records."""
    rows = [r for records in groups.values() for r in records]
    return SharedPanels(
        visual_dependence=visual_dependence(groups, policy, n_boot=n_boot, seed=seed),
        evidence_audit=evidence_audit(rows, n_boot=n_boot, seed=seed),
        failure_attribution=failure_attribution(rows, n_boot=n_boot, seed=seed),
    )


def _shared_cost(conditions: Sequence[SharedCondition], runs: list[Groups]) -> SharedCost:
    """Every run's normal conditions on the accuracy-vs-cost plane (run by run, each in the order a
    run's own cost table has), with the fronts over all of them."""
    points = []
    for i, groups in enumerate(runs):
        for c in sorted((c for c in conditions if c.control is None), key=condition_order):
            key, cell = Condition(mode=c.mode, frames=c.frames, k=c.k), c.cells[i]
            if cell is not None:
                points.append(RunCostPoint(**cost_point(key, cell, groups[key]).model_dump(), run=i))
    return SharedCost(points=points, fronts=pareto_fronts(points))


def shared_comparison(
    runs: Sequence[Sequence[Record]], policy: str, *, n_boot: int = 2000, seed: int = 0
) -> SideBySide:
    """The runs compared on the samples they share (the module docstring says which), plus the
    sample counts behind it."""
    unique = [dedupe(records)[0] for records in runs]
    samples = [_ids(records) for records in unique]
    keys, groups = shared_groups(unique)
    conditions = [_shared_condition(key, groups, policy, n_boot, seed) for key in keys]
    return SideBySide(
        samples=[len(s) for s in samples],
        shared_samples=len(set.intersection(*samples)) if samples else 0,
        same_samples=all(s == samples[0] for s in samples),
        conditions=conditions,
        panels=[_shared_panels(g, policy, n_boot, seed) for g in groups],
        cost=_shared_cost(conditions, groups) if conditions else None,
    )
