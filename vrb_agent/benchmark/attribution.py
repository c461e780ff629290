"""Failure attribution: for samples that say where their decisive evidence is (the record's
`decisive_evidence`, from `meta.evidence`: benchmark.datasets.evidence), was a wrong verdict made
without ever seeing it, or after seeing it?

A region is `shown` to a judgment when one of its views (benchmark.views; the frames sent and the
tools' frames, not the windows a clip merely spans) covers it: a frame whose time lies in the
region's [start, end] (COVER_SLACK_S either side, for time rounding: the region names the first and
last frames that show the evidence) or a native-video part overlapping it; a region without times
is in every frame. With a box, the view must show it: a whole frame, or a zoom whose box shares
area with it. The evidence is shown when every region is.

A wrong verdict (an `ok` record that picked the rejected response; invalid, tie, refused and error
records are not verdicts) is
- `never_shown`: no view covered the evidence, and the record lists every view it was sent;
- `shown_misjudged`: the evidence was shown and the verdict is still wrong;
- `not_attributable`: the sample does not say where the evidence is, or the record (an older line)
  lists only its tool calls and none of them covered it.

`rescue` pairs the single-pass and agentic cells of each sample at one (frames, k): of the samples
whose single-pass cell was never shown the evidence (whatever its verdict), how many the agentic
tools showed it to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from vrb_agent.benchmark.audit import ratio_ci
from vrb_agent.benchmark.evidence_models import (
    AttributionCell,
    ConditionAttribution,
    CoverageRescue,
    FailureAttribution,
)
from vrb_agent.benchmark.views import View, as_box, boxes_meet, record_views

COVER_SLACK_S = 0.001
Failure = Literal["never_shown", "shown_misjudged", "not_attributable"]
Coverage = Literal["shown", "never_shown"]
Record = Mapping[str, Any]
FAILURES: tuple[Failure, ...] = ("never_shown", "shown_misjudged", "not_attributable")


def region_shown(region: Mapping[str, Any], views: Sequence[View]) -> bool:
    """Whether a view covers one region (see the module docstring)."""
    start, end = region.get("start"), region.get("end", region.get("start"))
    if isinstance(start, int | float) and isinstance(end, int | float):
        views = [v for v in views if v.meets(start - COVER_SLACK_S, end + COVER_SLACK_S)]
    box = as_box(region.get("box"))
    return any(box is None or v.box is None or boxes_meet(v.box, box) for v in views)


def coverage(record: Record) -> Coverage | None:
    """Whether the record's judgment was shown its sample's decisive evidence; None when unknown."""
    regions = [r for r in record.get("decisive_evidence") or [] if isinstance(r, Mapping)]
    if not regions:
        return None
    known = record_views(record, clip_spans=False)
    if all(region_shown(r, known.views) for r in regions):
        return "shown"
    return "never_shown" if known.complete else None


def is_wrong(record: Record) -> bool:
    return record.get("status") == "ok" and record.get("correct") is False


def failure_class(record: Record) -> Failure | None:
    """A wrong verdict's class; None for a record that is not a wrong verdict."""
    if not is_wrong(record):
        return None
    found = coverage(record)
    if found == "shown":
        return "shown_misjudged"
    return "never_shown" if found == "never_shown" else "not_attributable"


def attribution_cell(classes: Sequence[Failure], n_boot: int = 2000, seed: int = 0) -> AttributionCell:
    """Counts of a group's wrong verdicts and the never-shown share of the attributable ones."""
    attributable = [c for c in classes if c != "not_attributable"]
    never = np.array([c == "never_shown" for c in attributable], dtype=float)
    return AttributionCell(
        wrong=len(classes),
        never_shown=classes.count("never_shown"),
        shown_misjudged=classes.count("shown_misjudged"),
        not_attributable=classes.count("not_attributable"),
        never_shown_share=float(never.mean()) if attributable else None,
        ci=ratio_ci(never, np.ones_like(never), n_boot, seed) if attributable else None,
    )


def _condition_key(record: Record) -> tuple[str, int, int]:
    return str(record.get("mode")), int(record.get("frames") or 0), int(record.get("k") or 1)


def _conditions(records: Sequence[Record], n_boot: int, seed: int) -> list[ConditionAttribution]:
    """Every condition of the records (one without wrong verdicts too), its wrong verdicts by class."""
    groups: dict[tuple[str, int, int], dict[str, list[Failure]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        failure = failure_class(record)
        dims = groups[_condition_key(record)]
        if failure is not None:
            dims[str(record.get("dimension"))].append(failure)
    order = {"single": 0, "agentic": 1}
    return [
        ConditionAttribution(
            mode=mode,
            frames=frames,
            k=k,
            overall=attribution_cell([c for d in sorted(dims) for c in dims[d]], n_boot, seed),
            by_dimension={d: attribution_cell(dims[d], n_boot, seed) for d in sorted(dims)},
        )
        for (mode, frames, k), dims in sorted(groups.items(), key=lambda g: (g[0][1], g[0][2], order.get(g[0][0], 9)))
    ]


def _rescue(records: Sequence[Record]) -> list[CoverageRescue]:
    cells = {(str(r.get("sample_id")), *_condition_key(r)): r for r in records}
    counts: dict[tuple[int, int], list[int]] = {}
    for (sample, mode, frames, k), single in sorted(cells.items()):
        agentic = cells.get((sample, "agentic", frames, k))
        if mode != "single" or agentic is None or coverage(single) != "never_shown":
            continue
        row = counts.setdefault((frames, k), [0, 0, 0])  # never shown single-pass, shown agentic, and right
        shown = coverage(agentic) == "shown"
        row[0] += 1
        row[1] += shown
        row[2] += shown and agentic.get("correct") is True
    return [
        CoverageRescue(frames=f, k=k, single_never_shown=n, agentic_shown=s, agentic_shown_share=s / n,
                       agentic_shown_right=right)
        for (f, k), (n, s, right) in sorted(counts.items())
    ]  # fmt: skip


def failure_attribution(records: Sequence[Record], *, n_boot: int = 2000, seed: int = 0) -> FailureAttribution:
    """Wrong verdicts by class per condition (overall and per dimension), and the coverage rescues.
    Control records are left out: a blind or shuffled judgment is kept from the sample's media on
    purpose, so its misses say nothing of where the judge failed (visual dependence measures them)."""
    located = {str(r.get("sample_id")) for r in records if r.get("decisive_evidence")}
    records = [r for r in records if not r.get("control")]
    return FailureAttribution(
        located_samples=len(located), conditions=_conditions(records, n_boot, seed), rescue=_rescue(records)
    )
