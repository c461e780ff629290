"""What one judgment was shown, as the evidence audit and failure attribution read it.

A `View` is one frame at time `t` (the whole frame, or only `box` of it for a zoom crop) or a span
[start, end] of video (a native-video part, or the window a `reexamine_clip` call re-examined).
The runner writes the record's `shown` field (`shown_of`): every image the judge was sent, with its
frame time and zoom box, and every native-video span, in every presentation of the pair. A record
without `shown` (an older line) still has its tool calls (`evidence`): those views are known, the
overview frames are not, so `RecordViews.complete` is False and nothing may be called unseen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vrb_agent.agents.trace import parts_seen
from vrb_agent.agents.types import Judgment
from vrb_agent.tools.evidence import EvidenceStore

Box = tuple[float, float, float, float]
FRAME_TOOLS = ("select_frames", "zoom", "reexamine_clip")


@dataclass(frozen=True)
class View:
    """A frame at `t` (`box` set: only that 0-1000 crop of it) or a span [start, end] of video."""

    t: float | None = None
    box: Box | None = None
    start: float | None = None
    end: float | None = None

    def meets(self, lo: float, hi: float) -> bool:
        """Whether its frame time lies in [lo, hi], or its span overlaps [lo, hi]."""
        if self.t is not None:
            return lo <= self.t <= hi
        return self.start is not None and self.end is not None and self.start <= hi and lo <= self.end


@dataclass(frozen=True)
class RecordViews:
    """A record's views and whether they are all it was shown (False: only its tool calls are known)."""

    views: tuple[View, ...]
    complete: bool


def as_box(value: Any) -> Box | None:
    """Four finite numbers x0 < x1, y0 < y1 as a box; None for anything else."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    x0, y0, x1, y1 = (float(v) for v in value)
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def boxes_meet(a: Box, b: Box) -> bool:
    """Whether two boxes share some area (touching edges do not count)."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def shown_of(judgment: Judgment, store: EvidenceStore) -> list[dict[str, Any]]:
    """The record's `shown`: each image part's frame time (and zoom box), each video part's span."""
    shown: list[dict[str, Any]] = []
    for part in parts_seen(judgment):
        if part["type"] == "video":
            shown.append({"start": part.get("start") or 0.0, "end": part.get("end")})
        elif part["evidence_id"] in store:
            image = store.get(part["evidence_id"])
            if image.timestamp is not None:
                t = round(image.timestamp, 4)  # 0.1 ms: far below any frame interval or tolerance
                shown.append({"t": t, **({"box": list(image.box)} if image.box else {})})
    return shown


def _view(item: Mapping[str, Any]) -> View | None:
    if isinstance(item.get("t"), int | float):
        return View(t=float(item["t"]), box=as_box(item.get("box")))
    start, end = item.get("start"), item.get("end")
    if isinstance(start, int | float) and isinstance(end, int | float):
        return View(start=float(start), end=float(end))
    return None


def tool_views(steps: list[Mapping[str, Any]], clip_spans: bool) -> list[View]:
    """The frames the valid tool calls returned and, with `clip_spans`, the windows re-examined."""
    views: list[View] = []
    for step in steps:
        if not step.get("ok", True) or step.get("name") not in FRAME_TOOLS:
            continue
        times = [float(t) for t in step.get("timestamps") or [] if isinstance(t, int | float)]
        box = as_box(step.get("box")) if step.get("name") == "zoom" else None
        views += [View(t=t, box=box) for t in times]
        if clip_spans and step.get("name") == "reexamine_clip" and times:
            views.append(View(start=min(times), end=max(times)))
    return views


def record_views(record: Mapping[str, Any], *, clip_spans: bool) -> RecordViews:
    """What a results.jsonl record says it was shown (see the module docstring)."""
    steps = [s for s in record.get("evidence") or [] if isinstance(s, Mapping)]
    views = tool_views(steps, clip_spans)
    shown = record.get("shown")
    if not isinstance(shown, list):
        return RecordViews(tuple(views), complete=False)
    views += [v for v in (_view(s) for s in shown if isinstance(s, Mapping)) if v is not None]
    return RecordViews(tuple(dict.fromkeys(views)), complete=True)
