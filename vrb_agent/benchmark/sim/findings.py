"""How the evidence bears on two claims, one rule per claim kind, and what to look at next.

Each `judge_*` returns a `Finding`: support for each answer (+1, -1 or 0), notes for the rationale,
evidence items, and the tool calls that could settle what is still unknown.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vrb_agent.benchmark.sim.grammar import Claim
from vrb_agent.benchmark.sim.perception import ACUITY_PX, Blob, Print, Seen

# How it looks closer.
TILE_GRID = 3  # zoom tiles per side when objects may be below acuity everywhere
TILE_OVERLAP = 40  # per-mille overlap of neighbouring tiles, so each object lies whole in one tile
EVENT_TOLERANCE_S = 0.6  # "at about t seconds": the window a claimed event time stands for
DENSE_GAP_S = 0.1  # frames this close cover an interval: shorter flashes are beyond the sim
CLIP_FRAMES = 16
MERGE_RADIUS = 0.006  # detections closer than this (fraction of frame width) are one object


@dataclass
class Finding:
    """How the evidence bears on the two claims: +1 supported, -1 contradicted, 0 unknown each."""

    support: tuple[int, int]
    notes: list[str]
    evidence: list[dict[str, Any]] = field(default_factory=list)
    actions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _frames(seen: Sequence[Seen]) -> list[Seen]:
    return sorted((s for s in seen if s.kind == "frame"), key=lambda s: s.t)


def _per_mille(box: Sequence[float]) -> list[float]:
    return [round(min(1000.0, max(0.0, float(v) * 1000)), 1) for v in box]


def tile_boxes() -> list[list[float]]:
    """A TILE_GRID x TILE_GRID cover of the frame with overlapping tiles, per mille."""
    edges = [round(i * 1000 / TILE_GRID) for i in range(TILE_GRID + 1)]
    spans = [(max(0, edges[i] - TILE_OVERLAP), min(1000, edges[i + 1] + TILE_OVERLAP)) for i in range(TILE_GRID)]
    return [[float(x0), float(y0), float(x1), float(y1)] for y0, y1 in spans for x0, x1 in spans]


def _tile_actions(seen: Sequence[Seen]) -> list[tuple[str, dict[str, Any]]]:
    frames = _frames(seen)
    if not frames:
        return []
    middle = frames[len(frames) // 2].t
    return [("zoom", {"timestamp": middle, "box": box}) for box in tile_boxes()]


def _covering_sets(seen: Sequence[Seen]) -> dict[float, list[Seen]]:
    """Zoom images grouped by time, for the times whose zooms together cover the whole frame."""
    by_time: dict[float, list[Seen]] = {}
    for s in seen:
        if s.kind == "zoom":
            by_time.setdefault(round(s.t, 2), []).append(s)
    covering = {}
    for t, group in by_time.items():
        grid = np.zeros((50, 50), bool)
        for s in group:
            x0, y0, x1, y1 = (round(v * 50) for v in s.box)
            grid[y0:y1, x0:x1] = True
        if grid.all():
            covering[t] = group
    return covering


def _merge(blobs: Iterable[Blob]) -> list[Blob]:
    """Detections of the same object in overlapping images become one (the sharpest view)."""
    kept: list[Blob] = []
    for blob in sorted(blobs, key=lambda b: -b.px):
        if all(math.hypot(blob.cx - k.cx, blob.cy - k.cy) > MERGE_RADIUS for k in kept):
            kept.append(blob)
    return kept


def _near_acuity(blobs: Iterable[Blob]) -> bool:
    return any(b.px < 2 * ACUITY_PX for b in blobs)


def judge_count(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
    color = claims[0].fields["color"]
    covering = _covering_sets(seen)
    if covering:
        t, group = min(covering.items())
        found = [b for b in _merge(b for s in group for b in s.blobs) if b.color == color]
        where = f"the zoomed tiles at t={t:.2f}s"
        evidence = [{"timestamp": t, "note": f"{len(found)} {color} objects across {len(group)} zoomed tiles"}]
    else:
        frames = _frames(seen)
        counts = [[b for b in s.blobs if b.color == color] for s in frames]
        found = max(counts, key=len, default=[])
        where = f"{len(frames)} frames"
        evidence = [{"note": f"at most {len(found)} {color} objects visible in one frame"}]
    n = len(found)
    support = tuple(1 if c.fields["n"] == n else -1 for c in claims)
    notes = [f"I count {n} {color} object(s) in {where}."]
    actions: list[tuple[str, dict[str, Any]]] = []
    if not covering and (support[0] == support[1] or _near_acuity(found)):
        notes.append("Objects this small may be below what these frames resolve.")
        actions = _tile_actions(seen)
    if n == 0:
        support = (0, 0)
    return Finding((support[0], support[1]), notes, evidence, actions)


def _persistent(frames: Sequence[Seen], blob: Blob) -> bool:
    """Seen at the same place in at least half of the frames: scenery, not an event."""
    same = sum(
        any(b.color == blob.color and math.hypot(b.cx - blob.cx, b.cy - blob.cy) < 0.02 for b in f.blobs)
        for f in frames
    )
    return same >= max(2, len(frames) / 2)


def _covered(times: Sequence[float], lo: float, hi: float) -> bool:
    """Whether frames at `times` sample [lo, hi] with no gap over DENSE_GAP_S."""
    inside = sorted(t for t in times if lo - DENSE_GAP_S <= t <= hi + DENSE_GAP_S)
    if not inside:
        return False
    points = [lo, *inside, hi]
    return (
        inside[0] <= lo + DENSE_GAP_S
        and inside[-1] >= hi - DENSE_GAP_S
        and all(b - a <= DENSE_GAP_S + 1e-6 for a, b in itertools.pairwise(points))
    )


def judge_flash(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
    frames = _frames(seen)
    uniform = [f for f in frames if f.overview] or frames  # scenery is judged on the uniform sample
    flashes = [(f.t, b) for f in frames for b in f.blobs if not _persistent(uniform, b)]
    times = [f.t for f in frames]
    support: list[int] = []
    notes: list[str] = []
    evidence: list[dict[str, Any]] = []
    actions: list[tuple[str, dict[str, Any]]] = []
    for claim in claims:
        color, t = claim.fields["color"], claim.fields["t"]
        lo, hi = t - EVENT_TOLERANCE_S, t + EVENT_TOLERANCE_S
        near = [(ft, b) for ft, b in flashes if lo <= ft <= hi]
        if any(b.color == color for _, b in near):
            support.append(1)
            ft = next(ft for ft, b in near if b.color == color)
            evidence.append({"timestamp": ft, "note": f"a {color} square appears briefly"})
        elif near or _covered(times, max(0.0, lo), hi):
            support.append(-1)
            seen_colors = " and ".join(sorted({b.color for _, b in near})) or "nothing"
            notes.append(f"Around {t:.1f}s what flashes is {seen_colors}, not {color}.")
        else:
            support.append(0)
            action = (
                "reexamine_clip",
                {"start": round(max(0.0, lo), 2), "end": round(hi, 2), "num_frames": CLIP_FRAMES},
            )
            if action not in actions:
                actions.append(action)
    if flashes:
        notes.insert(0, "Brief appearances: " + ", ".join(f"{b.color} at {ft:.2f}s" for ft, b in flashes[:6]) + ".")
    else:
        notes.insert(0, "No brief appearance in the frames I saw.")
    return Finding((support[0], support[1]), notes, evidence, actions)


def _print_box(p: Print) -> list[float]:
    pad_y = (p.y1 - p.y0) * 1.0
    pad_x = max(pad_y, (p.x1 - p.x0) * 0.25)
    return _per_mille((max(0.0, p.x0 - pad_x), max(0.0, p.y0 - pad_y), min(1.0, p.x1 + pad_x), min(1.0, p.y1 + pad_y)))


def judge_number(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
    lengths = {len(c.fields["digits"]) for c in claims}
    readings = sorted(
        ((p.px, s.t, p.reading) for s in seen for p in s.prints if p.reading and len(p.reading) in lengths),
        reverse=True,  # the largest view of the print is the most reliable reading
    )
    if readings:
        _, t, read = readings[0]
        support = tuple(1 if c.fields["digits"] == read else -1 for c in claims)
        evidence = [{"timestamp": t, "note": f"the print reads {read}"}]
        return Finding((support[0], support[1]), [f"The printed number reads {read}."], evidence)
    actions: list[tuple[str, dict[str, Any]]] = []
    places: list[Print] = []
    for s in sorted(seen, key=lambda s: s.kind != "frame"):
        for p in s.prints:
            if any(abs(p.x0 - q.x0) + abs(p.y0 - q.y0) < 0.02 for q in places):
                continue
            places.append(p)
            if not p.glyphs and len(actions) < 3:
                actions.append(("zoom", {"timestamp": s.t, "box": _print_box(p)}))
    if not places:
        return Finding((0, 0), ["I see no print."], [], _tile_actions(seen))
    return Finding((0, 0), [f"I see small print in {len(places)} place(s) but cannot read it."], [], actions)


def judge_order(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
    frames = _frames(seen)
    first_seen: dict[str, float] = {}
    for f in frames:
        for b in f.blobs:
            first_seen.setdefault(b.color, f.t)
    a = claims[0].fields
    c1, c2 = a["c1"], a["c2"]
    if c1 in first_seen and c2 in first_seen and first_seen[c1] != first_seen[c2]:
        holds = first_seen[c1] < first_seen[c2]
        support = (1, -1) if holds else (-1, 1)
        notes = [f"The {c1} shape first appears at {first_seen[c1]:.2f}s, the {c2} one at {first_seen[c2]:.2f}s."]
        evidence = [{"timestamp": first_seen[c], "note": f"{c} shape visible"} for c in (c1, c2)]
        return Finding(support, notes, evidence)
    missing = [c for c in (c1, c2) if c not in first_seen]
    notes = [f"I did not see the {' or the '.join(missing) or 'two'} shape(s) appear in separate frames."]
    times = [f.t for f in frames]
    between = [round((x + y) / 2, 2) for x, y in itertools.pairwise(times) if y - x > 2 * DENSE_GAP_S]
    actions = [("select_frames", {"timestamps": between[i : i + 8]}) for i in range(0, len(between), 8)]
    return Finding((0, 0), notes, [], actions)


def _blob_box(blob: Blob, aspect: float) -> list[float]:
    """A square-in-pixels box of about 8 blob widths around a blob (aspect = width / height)."""
    half_w = max(blob.w, blob.h / aspect) * 4
    half_h = half_w * aspect
    return _per_mille(
        (max(0.0, blob.cx - half_w), max(0.0, blob.cy - half_h), min(1.0, blob.cx + half_w), min(1.0, blob.cy + half_h))
    )


def judge_shape(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
    color = claims[0].fields["color"]
    frames = _frames(seen)
    aspect = frames[0].aspect if frames else 1.0
    views = [(s, b) for s in seen for b in s.blobs if b.color == color]
    resolved = sorted((b.px, s.t, b.shape) for s, b in views if b.shape)
    if resolved:
        _, t, shape = resolved[-1]
        support = tuple(1 if c.fields["shape"] == shape else -1 for c in claims)
        return Finding(
            (support[0], support[1]), [f"The {color} object is a {shape}."], [{"timestamp": t, "note": shape}]
        )
    if views:
        s, blob = max(views, key=lambda v: v[1].px)
        note = f"The {color} object is only {blob.px} px across here: too small to tell its shape."
        return Finding((0, 0), [note], [], [("zoom", {"timestamp": s.t, "box": _blob_box(blob, aspect)})])
    return Finding((0, 0), [f"I see no {color} object."], [], _tile_actions(seen))


JUDGES: dict[str, Callable[[tuple[Claim, Claim], Sequence[Seen]], Finding]] = {
    "count": judge_count,
    "flash": judge_flash,
    "number": judge_number,
    "order": judge_order,
    "shape": judge_shape,
}


def judge_claims(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
    """The finding for two claims of one kind (the grammar's kinds) from everything seen."""
    if not seen:
        return Finding((0, 0), ["I was shown no frames."])
    return JUDGES[claims[0].kind](claims, seen)
