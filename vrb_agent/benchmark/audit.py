"""Evidence audit: was each item a submitted verdict cites (`verdict_evidence`) something that
judgment was actually shown (benchmark.views)?

One cited item is
- `grounded` when its time matches a view and, if it cites a box, that view shows the box: a cited
  `timestamp` lies within TIME_TOLERANCE_S of a shown frame's time or inside a viewed span
  (a re-examined clip's window, a native-video part) widened by it; a cited span [start, end]
  (widened by it) holds a shown frame's time or overlaps a viewed span. A cited box is shown by a
  whole frame or span at a matching time, or by a zoom there whose box shares area with it. A
  citation with no time refers to the one time of a still image (every view at one time).
- `ungrounded` when it can be checked and no view matches: a time the judge never saw, or a box
  on a frame it saw only zoomed elsewhere.
- `uncheckable` when neither can be said: it cites no time (on a video) and no box, its time or
  box is malformed, or the record does not list every view (an older line: only the tool calls are
  known) and no tool view matches.

TIME_TOLERANCE_S is 0.1 s: frame labels carry times to 0.01 s and a model may round a time to
0.1 s, while a 16-frame overview of an 8-s video shows frames 0.5 s apart.

A verdict is `ungrounded` when any item is, `grounded` when none is and at least one item is
grounded, else `uncheckable` (nothing cited, or nothing checkable). Audited: every `ok` agentic
record, and any other `ok` record that cites evidence (single-pass text verdicts cite none). With
k > 1 or order=both the views of every presentation count. The ungrounded-citation rate is
ungrounded / checkable items, with a 95 % bootstrap CI that resamples verdicts (a verdict's items
are not independent).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from vrb_agent.benchmark.evidence_models import AuditCell, BackendAudit, EvidenceAudit
from vrb_agent.benchmark.views import Box, RecordViews, View, as_box, boxes_meet, record_views

TIME_TOLERANCE_S = 0.1
Grounding = Literal["grounded", "ungrounded", "uncheckable"]
Record = Mapping[str, Any]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _at_time(views: Sequence[View], lo: float, hi: float) -> list[View]:
    """The views whose frame time lies in [lo, hi] or whose span overlaps it."""
    return [v for v in views if v.meets(lo, hi)]


def _still_time(views: Sequence[View]) -> float | None:
    """The one frame time of a still image's views (no spans, every frame at one time)."""
    times = {v.t for v in views}
    return times.pop() if len(times) == 1 and None not in times else None


def _cited_window(item: Mapping[str, Any], known: RecordViews) -> tuple[float, float] | str:
    """The time window an item cites, widened by the tolerance, or why it has none."""
    t, start, end = (_number(item.get(k)) for k in ("timestamp", "start", "end"))
    if t is None and start is None and end is None and item.get("box") is not None and known.complete:
        t = _still_time(known.views)
    if t is not None:
        return t - TIME_TOLERANCE_S, t + TIME_TOLERANCE_S
    if start is None and end is None:
        return "no time cited" if item.get("box") is not None else "no time or box cited"
    lo, hi = start if start is not None else end, end if end is not None else start
    assert lo is not None and hi is not None
    if hi < lo:
        return f"the cited span ends ({hi:g} s) before it starts ({lo:g} s)"
    return lo - TIME_TOLERANCE_S, hi + TIME_TOLERANCE_S


def _shows_box(view: View, box: Box) -> bool:
    return view.box is None or boxes_meet(view.box, box)


def cite_class(item: Mapping[str, Any], known: RecordViews) -> tuple[Grounding, str]:
    """One cited item's class and the reason, against what the judgment was shown."""
    window = _cited_window(item, known)
    if isinstance(window, str):
        return "uncheckable", window
    box = as_box(item.get("box"))
    if item.get("box") is not None and box is None:
        return "uncheckable", f"malformed box {item.get('box')!r}"
    lo, hi = window
    matched = _at_time(known.views, lo, hi)
    when = f"{lo + TIME_TOLERANCE_S:g}" + (f"-{hi - TIME_TOLERANCE_S:g}" if hi - lo > 2 * TIME_TOLERANCE_S else "")
    if matched and (box is None or any(_shows_box(v, box) for v in matched)):
        return "grounded", f"shown at {when} s"
    if not known.complete:
        return "uncheckable", f"not among the tool results at {when} s, and the overview frames are not recorded"
    if matched:
        return "ungrounded", f"the frame at {when} s was only zoomed elsewhere, never on the cited box"
    return "ungrounded", f"no frame within {TIME_TOLERANCE_S:g} s of {when} s was shown"


def verdict_class(classes: Sequence[Grounding]) -> Grounding:
    """A verdict's class from its items' (see the module docstring)."""
    if "ungrounded" in classes:
        return "ungrounded"
    return "grounded" if "grounded" in classes else "uncheckable"


def is_audited(record: Record) -> bool:
    """A submitted verdict (ok) that could cite evidence (agentic) or does."""
    return record.get("status") == "ok" and (record.get("mode") == "agentic" or bool(record.get("verdict_evidence")))


def audit_record(record: Record) -> list[tuple[Mapping[str, Any], Grounding, str]]:
    """Each cited item of a record's verdict with its class and reason."""
    known = record_views(record, clip_spans=True)
    items = [i for i in record.get("verdict_evidence") or [] if isinstance(i, Mapping)]
    return [(item, *cite_class(item, known)) for item in items]


def ratio_ci(num: np.ndarray, den: np.ndarray, n_boot: int, seed: int) -> list[float] | None:
    """95 % percentile bootstrap CI of sum(num) / sum(den), resampling the units (verdicts) in
    chunks so memory stays bounded; None when nothing is in the denominator."""
    n = len(den)
    if n == 0 or den.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    rates: list[np.ndarray] = []
    chunk = max(1, 2_000_000 // n)
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))
        tops, bottoms = num[idx].sum(axis=1), den[idx].sum(axis=1)
        rates.append(tops[bottoms > 0] / bottoms[bottoms > 0])
    lo, hi = np.quantile(np.concatenate(rates), [0.025, 0.975])
    return [float(lo), float(hi)]


def audit_cell(audits: Sequence[Sequence[Grounding]], n_boot: int = 2000, seed: int = 0) -> AuditCell:
    """The counts, rate and CI of a group of audited verdicts (each a list of item classes)."""
    verdicts = [verdict_class(a) for a in audits]
    bad = np.array([a.count("ungrounded") for a in audits], dtype=float)
    checkable = np.array([len(a) - a.count("uncheckable") for a in audits], dtype=float)
    total = int(checkable.sum())
    return AuditCell(
        verdicts=len(audits),
        grounded=verdicts.count("grounded"),
        ungrounded=verdicts.count("ungrounded"),
        uncheckable=verdicts.count("uncheckable"),
        citations=sum(len(a) for a in audits),
        checkable=total,
        ungrounded_citations=int(bad.sum()),
        ungrounded_rate=float(bad.sum()) / total if total else None,
        ci=ratio_ci(bad, checkable, n_boot, seed),
    )


def evidence_audit(records: Sequence[Record], *, n_boot: int = 2000, seed: int = 0) -> EvidenceAudit:
    """The audit of a run's records: per backend, overall and per dimension."""
    groups: dict[str, dict[str, list[list[Grounding]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if is_audited(record):
            classes = [c for _, c, _ in audit_record(record)]
            groups[str(record.get("backend") or "?")][str(record.get("dimension"))].append(classes)
    backends = [
        BackendAudit(
            backend=backend,
            overall=audit_cell([a for d in sorted(dims) for a in dims[d]], n_boot, seed),
            by_dimension={d: audit_cell(dims[d], n_boot, seed) for d in sorted(dims)},
        )
        for backend, dims in sorted(groups.items())
    ]
    return EvidenceAudit(tolerance_s=TIME_TOLERANCE_S, backends=backends)
