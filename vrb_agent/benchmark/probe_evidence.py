"""Where each probe's decisive evidence is, as the `meta.evidence` regions of generic JSONL
(benchmark.datasets.evidence): the first and last frame times that show it, and its box on the
0-1000 scale. Failure attribution reads it to tell a wrong verdict that never saw the evidence from
one that saw it and misjudged it.

Static evidence (the counted objects, the print, the asked-about object) is in every frame; the
brief flash and the two ordered shapes only in their windows (a shape is visible for
start <= t < end, so its last frame is end - 1/fps).
"""

from __future__ import annotations

from typing import Any


def _per_mille(knobs: dict[str, Any], x0: float, y0: float, x1: float, y1: float) -> list[float]:
    """A pixel box of the probe's video on the tools' 0-1000 scale, inside the frame."""
    w, h = knobs["width"], knobs["height"]
    scaled = (x0 / w, y0 / h, x1 / w, y1 / h)
    return [round(min(1000.0, max(0.0, v * 1000)), 1) for v in scaled]


def _last_frame(knobs: dict[str, Any], end: float) -> float:
    """The time of the last frame before `end` (an exclusive end, in whole frames)."""
    return round(end - 1 / knobs["fps"], 6)


def probe_evidence(kind: str, knobs: dict[str, Any], truth: dict[str, Any]) -> list[dict[str, Any]]:
    """The decisive evidence regions of one probe, from its knobs and ground truth."""
    whole = {"start": 0.0, "end": _last_frame(knobs, round(knobs["duration"] * knobs["fps"]) / knobs["fps"])}
    if kind == "brief_event":
        x, y, size = truth["box"]
        box = _per_mille(knobs, x, y, x + size, y + size)
        return [{"start": truth["start"], "end": _last_frame(knobs, truth["end"]), "box": box}]
    if kind == "temporal_order":
        windows = (truth["first_window"], truth["second_window"])
        return [{"start": start, "end": _last_frame(knobs, end)} for start, end in windows]
    if kind == "small_text":
        height, pad = knobs["text_height"], 2
        x, y = truth["x"], truth["y"]  # y is the text's baseline
        return [{**whole, "box": _per_mille(knobs, x - pad, y - height - pad, x + truth["width"] + pad, y + pad)}]
    if kind == "attribute":
        x, y, size = truth["box"]
        return [{**whole, "box": _per_mille(knobs, x, y, x + size, y + size)}]
    return [whole]  # count: the objects are spread over the frame, in every frame
