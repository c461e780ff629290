"""Several runs side by side, compared only on the samples they share.

Runs over different sample sets (a `--limit`, a partial run, another dataset release) would otherwise
be compared on different questions; each condition's accuracies (and its bias and calibration figures)
are recomputed on the samples every run that has the condition judged, and the report says how many
that is.
"""

from __future__ import annotations

from collections.abc import Sequence

from vrb_agent.benchmark.bias import bias_group
from vrb_agent.benchmark.calibration import calibration_panel
from vrb_agent.benchmark.metrics import Record, accuracy_table, condition_of, dedupe
from vrb_agent.benchmark.summary import AccuracyCell, Condition, SharedCondition, SideBySide


def _ids(records: Sequence[Record]) -> set[str]:
    return {str(r["sample_id"]) for r in records}


def _shared_condition(
    key: Condition, unique: list[list[Record]], policy: str, n_boot: int, seed: int
) -> SharedCondition:
    having = [[r for r in records if condition_of(r) == key] for records in unique]
    shared = set.intersection(*[_ids(rows) for rows in having if rows])
    cells: list[AccuracyCell | None] = [
        accuracy_table([r for r in rows if str(r["sample_id"]) in shared], policy, n_boot=n_boot, seed=seed).overall
        if rows
        else None
        for rows in having
    ]
    subsets = [[r for r in rows if str(r["sample_id"]) in shared] if rows else None for rows in having]
    return SharedCondition(
        **key.model_dump(),
        shared=len(shared),
        cells=cells,
        bias=[bias_group(rows, policy, n_boot, seed) if rows is not None else None for rows in subsets],
        calibration=[
            calibration_panel(key, rows, n_boot=n_boot, seed=seed) if rows is not None else None for rows in subsets
        ],
    )


def shared_comparison(
    runs: Sequence[Sequence[Record]], policy: str, *, n_boot: int = 2000, seed: int = 0
) -> SideBySide:
    """Overall accuracy of each condition in each run (None where a run lacks it), computed on the
    samples that all runs having that condition judged; plus the sample counts behind it."""
    unique = [dedupe(records)[0] for records in runs]
    samples = [_ids(records) for records in unique]
    keys = sorted(
        {condition_of(r) for records in unique for r in records}, key=lambda c: (c.frames, c.k, c.mode, c.control or "")
    )
    return SideBySide(
        samples=[len(s) for s in samples],
        shared_samples=len(set.intersection(*samples)) if samples else 0,
        same_samples=all(s == samples[0] for s in samples),
        conditions=[_shared_condition(key, unique, policy, n_boot, seed) for key in keys],
    )
