"""Visual dependence: how much of a condition's accuracy needs the media. For each condition run
under a control (`blind`: no media; `shuffled`: another sample's media; benchmark.controls), the
normal cells against the control cells on the samples both scored: normal − control accuracy with
a paired bootstrap CI and exact McNemar, overall and per dimension (metrics.compare, the control as
its baseline). A judge that reads the pixels loses accuracy without them; one that does not, or
that guesses from the text, shows a dependence near 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from vrb_agent.benchmark.metrics import Record, compare, condition_order
from vrb_agent.benchmark.summary import Condition, PairedRow, VisualDependence


def dependence_of(
    condition: Condition, normal: Sequence[Record], controlled: Sequence[Record], policy: str, *, n_boot: int, seed: int
) -> VisualDependence:
    """Normal (treatment) against its control (baseline) on the same samples."""
    paired = compare(controlled, normal, policy, n_boot=n_boot, seed=seed)
    row = {name: getattr(paired, name) for name in PairedRow.model_fields}
    return VisualDependence(
        mode=condition.mode,
        frames=condition.frames,
        k=condition.k,
        control=condition.control or "",
        **row,
        by_dimension=paired.by_dimension,
    )


def visual_dependence(
    groups: Mapping[Condition, Sequence[Record]], policy: str, *, n_boot: int = 2000, seed: int = 0
) -> list[VisualDependence] | None:
    """One row per controlled condition whose normal condition ran too; None when the run has no
    controls (so summary.json of runs without them is unchanged)."""
    rows = []
    for condition in sorted(groups, key=condition_order):
        normal = groups.get(condition.model_copy(update={"control": None}))
        if condition.control and normal:
            rows.append(dependence_of(condition, normal, groups[condition], policy, n_boot=n_boot, seed=seed))
    return rows or None
