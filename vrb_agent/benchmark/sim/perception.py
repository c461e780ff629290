"""What the sim perceives in one image: colour blobs (with a shape from enough pixels) and print.

Perception has explicit limits, in pixels of the image as sent (see the package docstring); an
image's time and the region it shows come from its tool label, read by `tools.labels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from vrb_agent.benchmark.sim.digits import read_glyphs
from vrb_agent.benchmark.synth import NAMED_COLORS
from vrb_agent.tools.labels import parse_label

# Perception limits, in pixels of the image as sent.
ACUITY_PX = 5  # a colour blob's core must span this many pixels in both directions to be seen
SHAPE_PX = 12  # ... and this many to tell a square from a circle
READ_PX = 14  # cap height of printed digits needed to read them
CORE_V = 0.6  # a colour's core: value at least 60 % of the named colour's and saturated
MIN_SATURATION = 110  # of 255: below this a pixel is not "coloured"
HUE_TOLERANCE = 14  # OpenCV hue units (2 degrees each): the named hues are 30 units apart
TEXT_VALUE, TEXT_SATURATION = 110, 60  # bright, neutral pixels are print
CORNER = 0.2  # corner cells of a blob's bounding box: filled for a square, nearly empty for a circle


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


@cache
def _palette() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Named colours, a lookup from OpenCV hue to colour index + 1 (0: no named hue), and the
    core brightness each colour needs."""
    import cv2  # noqa: PLC0415

    names = list(NAMED_COLORS)
    hsv = [cv2.cvtColor(np.array([[NAMED_COLORS[n]]], np.uint8), cv2.COLOR_RGB2HSV)[0, 0] for n in names]
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
            glyphs = read_glyphs(hsv[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad, 2])
        out.append(Print(fx0, fy0, fx1, fy1, text_h, glyphs))
    return out


def perceive(image: np.ndarray, label: str) -> Seen | None:
    """What the sim sees in one RGB image with its tool label (None when the label is unknown)."""
    import cv2  # noqa: PLC0415

    parsed = parse_label(label)
    if parsed is None:
        return None
    x0, y0, x1, y1 = (v / 1000 for v in parsed.box) if parsed.box else (0.0, 0.0, 1.0, 1.0)
    box = (x0, y0, x1, y1)
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    blobs, cut = _blobs(hsv, box)
    aspect = image.shape[1] / image.shape[0]
    return Seen(parsed.kind, parsed.timestamp, box, aspect, tuple(blobs), tuple(_prints(hsv, box, blobs + cut)))
