"""`sim`: a deterministic, offline, pixel-grounded simulated judge, for demos and CI.

It is a stand-in so the whole product (graph, tools, benchmark, report) can run without API keys
or GPUs. It is not a reward model: it understands only the response grammar of the perception
probes (`vrb_agent.benchmark.probes`) and perceives only coloured blobs and printed digits.

What it perceives, like a model, comes only from the request: the question and the two answers in
the first user message, and the images it is sent (overview frames, tool results), resolved through
the request's evidence store. Frame times and zoom boxes come from the image labels
("frame t=12.40s", "zoom t=12.40s box=[x0,y0,x1,y1]"). It never sees file names, metadata or the
answer key. Its perception has explicit limits, in pixels of the image as sent:

- a colour blob is seen only when its core spans `ACUITY_PX` pixels in both directions (the core
  is the pixels within `CORE_V` of the named colour's brightness, so a blob blurred into the
  background by downscaling disappears rather than shrinking);
- a blob's shape (square or circle) is told only from `SHAPE_PX` pixels up;
- digits are read (template matching against the generator's Hershey font) only when their cap
  height is at least `READ_PX` pixels; smaller print is seen as a smudge of text, not read.

It extracts each answer's claim, checks both against what it perceived, and prefers the answer
whose claim is supported. In agentic mode (`request.tools` non-empty) it calls visual tools where
its evidence cannot separate the claims: zoom tiles when the objects to count or inspect are below
its acuity, a zoom onto unreadable print or a too-small blob, a dense clip around a claimed event
time, frames between the overview samples when an ordered event was missed. When the evidence is
still insufficient it says so, gives low confidence and picks by a fixed rule seeded from
`request.seed` and the request text: never from the ground truth.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import numpy as np

from vrb_agent.agents.prompts import extract_pair
from vrb_agent.judges.base import (
    Backend,
    Capabilities,
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    ToolCall,
    Usage,
)
from vrb_agent.tools.synth import NAMED_COLORS, text_scale

# ---- perception limits (pixels of the image as sent) --------------------------------------------
ACUITY_PX = 5  # a colour blob's core must span this many pixels in both directions to be seen
SHAPE_PX = 12  # ... and this many to tell a square from a circle
READ_PX = 14  # cap height of printed digits needed to read them
CORE_V = 0.6  # a colour's core: value at least 60 % of the named colour's and saturated
MIN_SATURATION = 110  # of 255: below this a pixel is not "coloured"
HUE_TOLERANCE = 14  # OpenCV hue units (2 degrees each): the named hues are 30 units apart
TEXT_VALUE, TEXT_SATURATION = 110, 60  # bright, neutral pixels are print
CORNER = 0.2  # corner cells of a blob's bounding box: filled for a square, nearly empty for a circle

# ---- how it looks closer -------------------------------------------------------------------------
TILE_GRID = 3  # zoom tiles per side when objects may be below acuity everywhere
TILE_OVERLAP = 40  # per-mille overlap of neighbouring tiles, so each object lies whole in one tile
EVENT_TOLERANCE_S = 0.6  # "at about t seconds": the window a claimed event time stands for
DENSE_GAP_S = 0.1  # frames this close cover an interval: shorter flashes are beyond the sim
CLIP_FRAMES = 16
MERGE_RADIUS = 0.006  # detections closer than this (fraction of frame width) are one object

CONFIDENT, PARTIAL, UNSURE = 0.9, 0.7, 0.5
NUMBER_WORDS = {
    w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve".split())
}
_LABEL = re.compile(r"^(?P<kind>frame|zoom)\s+t=(?P<t>-?[\d.]+)s(?:\s+box=\[(?P<box>[-\d.,\s]+)\])?", re.IGNORECASE)


# ---- perception of one image ----------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """A seen colour blob. Centre and size are fractions of the full frame; `px` is its smaller
    side in pixels of the image it was seen in."""

    color: str
    cx: float
    cy: float
    w: float
    h: float
    px: int
    shape: str | None  # None below SHAPE_PX


@dataclass(frozen=True)
class Print:
    """A patch of printed digits: where it is (fractions of the frame), how tall in the image,
    and, when tall enough, per-glyph template scores (one dict digit -> score per glyph)."""

    x0: float
    y0: float
    x1: float
    y1: float
    px: int
    glyphs: tuple[dict[str, float], ...] | None

    @property
    def reading(self) -> str | None:
        if not self.glyphs:
            return None
        return "".join(max(scores, key=scores.__getitem__) for scores in self.glyphs)


@dataclass(frozen=True)
class Seen:
    """What the sim perceived in one image, in full-frame coordinates."""

    kind: str  # frame | zoom
    t: float
    box: tuple[float, float, float, float]  # fractions of the frame shown by this image
    aspect: float  # width / height of the image
    blobs: tuple[Blob, ...]
    prints: tuple[Print, ...]
    overview: bool = False  # one of the uniform frames of the first user message


def parse_label(label: str) -> tuple[str, float, tuple[float, float, float, float]] | None:
    """(kind, time, box as fractions) from a tool's image label; None if the label is not one."""
    match = _LABEL.match(label.strip())
    if not match:
        return None
    box = (0.0, 0.0, 1.0, 1.0)
    if match["box"]:
        values = [float(v) / 1000 for v in match["box"].split(",")]
        if len(values) == 4:
            box = (values[0], values[1], values[2], values[3])
    return match["kind"].lower(), float(match["t"]), box


@cache
def _palette() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Named colours, a lookup from OpenCV hue to colour index + 1 (0: no named hue), and the
    core brightness each colour needs."""
    import cv2  # noqa: PLC0415

    names = list(NAMED_COLORS)
    hsv = [cv2.cvtColor(np.uint8([[NAMED_COLORS[n]]]), cv2.COLOR_RGB2HSV)[0, 0] for n in names]
    hue_to_color = np.zeros(256, np.uint8)
    for hue in range(180):
        distance = [min(abs(hue - int(c[0])), 180 - abs(hue - int(c[0]))) for c in hsv]
        nearest = int(np.argmin(distance))
        if distance[nearest] <= HUE_TOLERANCE:
            hue_to_color[hue] = nearest + 1
    core_value = np.array([0, *(CORE_V * int(c[2]) for c in hsv)], np.float32)
    return names, hue_to_color, core_value


def _classify_shape(mask: np.ndarray) -> str | None:
    """Square or circle from a blob's mask (cropped to its bounding box): a square fills the corners
    of its bounding box, a circle leaves them empty. None below SHAPE_PX."""
    height, width = mask.shape
    if min(height, width) < SHAPE_PX:
        return None
    cy, cx = max(1, round(height * CORNER)), max(1, round(width * CORNER))
    corners = [mask[:cy, :cx], mask[:cy, -cx:], mask[-cy:, :cx], mask[-cy:, -cx:]]
    return "square" if float(np.mean([c.mean() for c in corners])) >= 0.5 else "circle"


def _blobs(hsv: np.ndarray, box: tuple[float, float, float, float]) -> tuple[list[Blob], list[Blob]]:
    """Colour blobs at or above acuity; those cut by a crop edge inside the frame are kept apart."""
    import cv2  # noqa: PLC0415

    names, hue_to_color, core_value = _palette()
    height, width = hsv.shape[:2]
    color = hue_to_color[hsv[:, :, 0]]
    color[(hsv[:, :, 1] < MIN_SATURATION) | (hsv[:, :, 2] < core_value[color])] = 0
    rows, cols = np.nonzero(color.any(axis=1))[0], np.nonzero(color.any(axis=0))[0]
    if not len(rows):
        return [], []
    top, left = int(rows[0]), int(cols[0])
    core = color[top : rows[-1] + 1, left : cols[-1] + 1]
    count, labels, stats, centroids = cv2.connectedComponentsWithStats((core > 0).astype(np.uint8), connectivity=8)
    bx0, by0, bx1, by1 = box
    seen: list[Blob] = []
    cut: list[Blob] = []
    for i in range(1, count):
        x, y, w, h, _ = (int(v) for v in stats[i])
        if min(w, h) < ACUITY_PX:
            continue
        mask = labels[y : y + h, x : x + w] == i
        name = names[int(np.bincount(core[y : y + h, x : x + w][mask]).argmax()) - 1]
        x, y = x + left, y + top
        blob = Blob(
            name,
            bx0 + (centroids[i][0] + left) / width * (bx1 - bx0),
            by0 + (centroids[i][1] + top) / height * (by1 - by0),
            w / width * (bx1 - bx0),
            h / height * (by1 - by0),
            min(w, h),
            _classify_shape(mask),
        )
        touches = (x == 0 and bx0 > 0) or (y == 0 and by0 > 0)
        touches |= (x + w >= width and bx1 < 1) or (y + h >= height and by1 < 1)
        (cut if touches else seen).append(blob)
    return seen, cut


TEMPLATE_PX = 48


def _render_digits(text: str) -> np.ndarray:
    """`text` drawn in the generator's font (Hershey simplex, its stroke rule) at TEMPLATE_PX, as a mask."""
    import cv2  # noqa: PLC0415

    scale, thick = text_scale(TEMPLATE_PX)
    canvas = np.zeros((TEMPLATE_PX * 2, TEMPLATE_PX * (len(text) + 1)), np.uint8)
    origin = (TEMPLATE_PX // 2, TEMPLATE_PX * 3 // 2)
    cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thick, cv2.LINE_AA)
    return canvas >= 128


def _ink_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


@cache
def _digit_templates() -> dict[str, np.ndarray]:
    """Each digit in the generator's font, normalised like an observed glyph."""
    return {digit: _normalise_glyph(_render_digits(digit)) for digit in "0123456789"}


@cache
def _digit_pitch() -> tuple[float, float]:
    """The font's digit advance and single-digit ink width, as fractions of the ink height
    (Hershey simplex digits are monospaced, so a line of n digits is about n advances wide)."""
    x0, y0, x1, y1 = _ink_box(_render_digits("0" * 8))
    one = _ink_box(_render_digits("0"))
    height = y1 - y0
    single = (one[2] - one[0]) / height
    return ((x1 - x0) / height - single) / 7, single


GLYPH_H, GLYPH_W = 32, 40


def _normalise_glyph(mask: np.ndarray) -> np.ndarray:
    """A glyph mask scaled to GLYPH_H rows keeping its aspect, centred on a GLYPH_W-wide canvas, blurred."""
    import cv2  # noqa: PLC0415

    x0, y0, x1, y1 = _ink_box(mask)
    crop = mask[y0:y1, x0:x1].astype(np.float32)
    width = min(GLYPH_W, max(1, round(crop.shape[1] * GLYPH_H / crop.shape[0])))
    scaled = cv2.resize(crop, (width, GLYPH_H), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((GLYPH_H, GLYPH_W), np.float32)
    left = (GLYPH_W - width) // 2
    canvas[:, left : left + width] = scaled
    canvas = cv2.GaussianBlur(canvas, (5, 5), 1.5)
    canvas -= canvas.mean()
    return canvas / (np.linalg.norm(canvas) + 1e-6)


def _cells(ink: np.ndarray, box: tuple[int, int, int, int], n: int) -> list[dict[str, float]] | None:
    """Template scores of each of `n` equal cells of a line's ink box."""
    x0, y0, x1, y1 = box
    cell = (x1 - x0) / n
    templates = _digit_templates()
    glyphs = []
    for i in range(n):
        part = ink[y0:y1, round(x0 + i * cell) : round(x0 + (i + 1) * cell)]
        if not part.any():
            return None
        glyph = _normalise_glyph(part)
        glyphs.append({d: float((glyph * t).sum()) for d, t in templates.items()})
    return glyphs


def _read_glyphs(value: np.ndarray) -> tuple[dict[str, float], ...] | None:
    """Template scores per glyph of a line of print (brightness channel), left to right. Digits
    of this font are monospaced, so the line is cut into as many equal cells as its width holds
    digit advances; pixel rounding at small sizes leaves that count between two whole numbers, and
    the one whose cells match the font better wins."""
    import cv2  # noqa: PLC0415

    patch = cv2.GaussianBlur(value, (3, 3), 0)
    _, binary = cv2.threshold(patch, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary > 0
    if not ink.any():
        return None
    box = _ink_box(ink)
    pitch, single = _digit_pitch()
    estimate = 1 + ((box[2] - box[0]) / (box[3] - box[1]) - single) / pitch
    best: tuple[float, list[dict[str, float]]] | None = None
    for n in sorted({max(1, math.floor(estimate)), max(1, math.ceil(estimate))}):
        glyphs = _cells(ink, box, n)
        if glyphs:
            score = sum(max(g.values()) for g in glyphs) / n
            if best is None or score > best[0]:
                best = (score, glyphs)
    return tuple(best[1]) if best else None


def _lines(stats: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Group connected components into lines of print: vertically overlapping and at most one
    glyph height apart. Returns (x, y, w, h) per line."""
    boxes = [tuple(int(v) for v in stats[i][:4]) for i in range(1, len(stats)) if max(stats[i][2:4]) >= 3]
    group = list(range(len(boxes)))

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    for i, (xi, yi, wi, hi) in enumerate(boxes):
        for j, (xj, yj, wj, hj) in enumerate(boxes[:i]):
            overlap = min(yi + hi, yj + hj) - max(yi, yj)
            gap = max(xi, xj) - min(xi + wi, xj + wj)
            if overlap >= 0.5 * min(hi, hj) and gap <= max(hi, hj):
                group[root(i)] = root(j)
    lines: dict[int, tuple[int, int, int, int]] = {}
    for i, (x, y, w, h) in enumerate(boxes):
        lx, ly, lw, lh = lines.get(root(i), (x, y, w, h))
        left, top = min(lx, x), min(ly, y)
        lines[root(i)] = (left, top, max(lx + lw, x + w) - left, max(ly + lh, y + h) - top)
    return list(lines.values())


def _prints(hsv: np.ndarray, box: tuple[float, float, float, float], blobs: Sequence[Blob]) -> list[Print]:
    """Lines of bright neutral pixels (print), read when tall enough."""
    import cv2  # noqa: PLC0415

    height, width = hsv.shape[:2]
    bx0, by0, bx1, by1 = box
    mask = ((hsv[:, :, 2] >= TEXT_VALUE) & (hsv[:, :, 1] <= TEXT_SATURATION)).astype(np.uint8)
    if not mask.any():
        return []
    joined = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    out = []
    for x, y, w, h in _lines(stats):
        fx0, fy0 = bx0 + x / width * (bx1 - bx0), by0 + y / height * (by1 - by0)
        fx1, fy1 = bx0 + (x + w) / width * (bx1 - bx0), by0 + (y + h) / height * (by1 - by0)
        if any(fx0 <= b.cx <= fx1 and fy0 <= b.cy <= fy1 for b in blobs):
            continue  # a rim of a coloured object, not print
        text_h = h - 2  # the dilation adds a pixel above and below
        glyphs = None
        if text_h >= READ_PX:
            pad = max(2, h // 4)
            glyphs = _read_glyphs(hsv[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad, 2])
        out.append(Print(fx0, fy0, fx1, fy1, text_h, glyphs))
    return out


def perceive(image: np.ndarray, label: str) -> Seen | None:
    """What the sim sees in one RGB image with its tool label (None when the label is unknown)."""
    import cv2  # noqa: PLC0415

    parsed = parse_label(label)
    if parsed is None:
        return None
    kind, t, box = parsed
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    blobs, cut = _blobs(hsv, box)
    aspect = image.shape[1] / image.shape[0]
    return Seen(kind, t, box, aspect, tuple(blobs), tuple(_prints(hsv, box, blobs + cut)))


# ---- claims ---------------------------------------------------------------------------------------

_COLORS = "|".join(NAMED_COLORS)
_CLAIMS: dict[str, re.Pattern[str]] = {
    "count": re.compile(rf"there (?:are|is) (?P<n>\w+) (?P<color>{_COLORS}) (?P<shape>square|circle)s?\b", re.I),
    "flash": re.compile(rf"an? (?P<color>{_COLORS}) square flashes briefly at about (?P<t>\d+(?:\.\d+)?) s", re.I),
    "number": re.compile(r"number printed in the video is (?P<digits>\d+)\b", re.I),
    "order": re.compile(
        rf"the (?P<c1>{_COLORS}) (?P<s1>square|circle) appears first, then the (?P<c2>{_COLORS}) "
        r"(?P<s2>square|circle)\b",
        re.I,
    ),
    "shape": re.compile(rf"the small (?P<color>{_COLORS}) object is an? (?P<shape>square|circle)\b", re.I),
}


@dataclass(frozen=True)
class Claim:
    """What one answer asserts, in the probe grammar."""

    kind: str
    fields: dict[str, Any] = field(hash=False)


def parse_claim(answer: str) -> Claim | None:
    """The claim of an answer, or None when the answer is not in a grammar the sim knows."""
    for kind, pattern in _CLAIMS.items():
        match = pattern.search(answer)
        if not match:
            continue
        values: dict[str, Any] = {k: v.lower() for k, v in match.groupdict().items()}
        if kind == "count":
            n = values["n"]
            values["n"] = int(n) if n.isdigit() else NUMBER_WORDS.get(n)
            if values["n"] is None:
                return None
        if kind == "flash":
            values["t"] = float(values["t"])
        return Claim(kind, values)
    return None


# ---- judging --------------------------------------------------------------------------------------


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


# ---- the backend ----------------------------------------------------------------------------------


def seeded_pick(seed: int | None, text: str) -> str:
    """The fixed rule for an undecidable pair: a hash of the seed and the pair as presented
    (question and both answers; the whole first message when they cannot be found)."""
    digest = hashlib.sha256(f"{seed}|{text}".encode()).digest()
    return "A" if digest[0] % 2 == 0 else "B"


def _images(request: ModelRequest) -> Iterable[tuple[ImagePart, bool]]:
    """Every image of the conversation, and whether it is an overview frame (first user message)."""
    first = next((i for i, m in enumerate(request.messages) if m.role == "user"), -1)
    for index, message in enumerate(request.messages):
        yield from ((p, index == first) for p in message.parts if isinstance(p, ImagePart))
        for result in message.tool_results:
            yield from ((p, False) for p in result.parts if isinstance(p, ImagePart))


def _done_calls(messages: Sequence[Message]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, c.arguments) for m in messages if m.role == "assistant" for c in m.tool_calls]


@dataclass
class Decision:
    preferred: str
    confidence: float
    rationale: str
    evidence: list[dict[str, Any]]
    actions: list[tuple[str, dict[str, Any]]]


class SimBackend(Backend):
    """The simulated judge; see the module docstring for what it can and cannot perceive."""

    name = "sim"
    CACHE_ENTRIES = 4096

    def __init__(self, model: str = "sim-1", **_: Any) -> None:
        super().__init__(model)
        self._seen: OrderedDict[str, Seen | None] = OrderedDict()

    def capabilities(self) -> Capabilities:
        return Capabilities(images_in_tool_results=True, max_images_per_request=1000)

    def _perceive(self, request: ModelRequest, part: ImagePart) -> Seen | None:
        if part.evidence_id in self._seen:
            return self._seen[part.evidence_id]
        image = request.evidence_store().get(part.evidence_id)
        result = perceive(image.to_array(), part.label or image.label)
        self._seen[part.evidence_id] = result
        while len(self._seen) > self.CACHE_ENTRIES:
            self._seen.popitem(last=False)
        return result

    def decide(self, request: ModelRequest) -> Decision:
        """Perceive every image of the conversation, check both claims, and say what to do next."""
        first_user = next((m.text for m in request.messages if m.role == "user"), "")
        pair = extract_pair(first_user)
        pick = seeded_pick(request.seed, "\x1f".join(pair) if pair else first_user)
        if pair is None:
            return Decision(pick, UNSURE, "I could not find the question and the two answers.", [], [])
        _, answer_a, answer_b = pair
        claim_a, claim_b = parse_claim(answer_a), parse_claim(answer_b)
        if claim_a is None or claim_b is None or claim_a.kind != claim_b.kind:
            return Decision(pick, UNSURE, "I cannot extract comparable visual claims from the answers.", [], [])
        seen = [
            replace(s, overview=first) if first else s
            for s, first in ((self._perceive(request, p), first) for p, first in _images(request))
            if s is not None
        ]
        finding = self._judge((claim_a, claim_b), seen)
        done = _done_calls(request.messages)
        actions = [a for a in finding.actions if a not in done]
        rationale = " ".join(finding.notes)
        support_a, support_b = finding.support
        if support_a != support_b:
            preferred = "A" if support_a > support_b else "B"
            confidence = CONFIDENT if abs(support_a - support_b) == 2 else PARTIAL
            verdict = f"Answer {preferred}'s claim matches what I see."
            return Decision(preferred, confidence, f"{rationale} {verdict}", finding.evidence, actions)
        rationale += " The evidence does not separate the two answers; this pick is a fixed seeded guess."
        return Decision(pick, UNSURE, rationale, finding.evidence, actions)

    @staticmethod
    def _judge(claims: tuple[Claim, Claim], seen: Sequence[Seen]) -> Finding:
        if not seen:
            return Finding((0, 0), ["I was shown no frames."])
        kind = claims[0].kind
        if kind == "count":
            return judge_count(claims, seen)
        if kind == "flash":
            return judge_flash(claims, seen)
        if kind == "number":
            return judge_number(claims, seen)
        if kind == "order":
            return judge_order(claims, seen)
        return judge_shape(claims, seen)

    async def complete(self, request: ModelRequest) -> ModelReply:
        decision = self.decide(request)
        usage = Usage(images=request.image_count(), calls=1)
        tools = {t.name for t in request.tools}
        if not tools or request.tool_choice == "none":
            text = f"{decision.rationale}\n\nOverall Judgment: Answer {decision.preferred} is better."
            return ModelReply(text=text, usage=usage, model=self.model)
        turn = sum(m.role == "assistant" for m in request.messages)
        forced = request.tool_choice == "submit_verdict" or tools == {"submit_verdict"}
        calls = [a for a in decision.actions if a[0] in tools] if not forced and decision.confidence < CONFIDENT else []
        if calls:
            tool_calls = [ToolCall(id=f"sim-{turn}-{i}", name=n, arguments=a) for i, (n, a) in enumerate(calls)]
            return ModelReply(
                text="Looking closer.", tool_calls=tool_calls, usage=usage, stop_reason="tool_calls", model=self.model
            )
        verdict = {
            "preferred": decision.preferred,
            "confidence": decision.confidence,
            "rationale": decision.rationale,
            "evidence": [
                {"note": e.get("note", "")} | {k: v for k, v in e.items() if k != "note"} for e in decision.evidence
            ],
        }
        call = ToolCall(id=f"sim-{turn}-verdict", name="submit_verdict", arguments=verdict)
        return ModelReply(text="", tool_calls=[call], usage=usage, stop_reason="tool_calls", model=self.model)
