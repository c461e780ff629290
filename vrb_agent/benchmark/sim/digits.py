"""Reading printed digits: template matching against the probe generator's own font (Hershey simplex)."""

from __future__ import annotations

import math
from functools import cache

import numpy as np

from vrb_agent.benchmark.synth import text_scale

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
    blurred = np.asarray(cv2.GaussianBlur(canvas, (5, 5), 1.5), np.float32)
    blurred -= blurred.mean()
    return blurred / (np.linalg.norm(blurred) + 1e-6)


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


def read_glyphs(value: np.ndarray) -> tuple[dict[str, float], ...] | None:
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
