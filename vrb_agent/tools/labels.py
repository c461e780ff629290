"""The labels the visual tools put on their images, written and read in one place.

A label says what an image shows in the terms the model uses: `frame t=12.40s` for a frame and
`zoom t=12.40s box=[x0,y0,x1,y1]` for a crop (box on the 0-1000 scale of DESIGN's tools). Offline
judges read them back with `parse_label`, so the format has one owner.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

_LABEL = re.compile(
    r"^(?P<kind>frame|zoom)\s+t=(?P<t>[-+\d.eE]+)s(?:\s+box=\[(?P<box>[-+\d.eE,\s]+)\])?", re.IGNORECASE
)


@dataclass(frozen=True)
class ImageLabel:
    """What a label says: the kind of image, its time in seconds, and a zoom's box (0-1000 scale)."""

    kind: Literal["frame", "zoom"]
    timestamp: float
    box: tuple[float, float, float, float] | None = None


def box_text(box: Sequence[float]) -> str:
    """A box as the tools print it: `[x0,y0,x1,y1]`, shortest float form."""
    return "[" + ",".join(f"{v:g}" for v in box) + "]"


def frame_label(timestamp: float) -> str:
    return f"frame t={timestamp:.2f}s"


def zoom_label(timestamp: float, box: Sequence[float]) -> str:
    return f"zoom t={timestamp:.2f}s box={box_text(box)}"


def parse_label(label: str) -> ImageLabel | None:
    """The label's meaning; None when the text is not a tool image label."""
    match = _LABEL.match(label.strip())
    if not match:
        return None
    try:
        timestamp = float(match["t"])
        values = [float(v) for v in match["box"].split(",")] if match["box"] else []
    except ValueError:
        return None
    kind: Literal["frame", "zoom"] = "zoom" if match["kind"].lower() == "zoom" else "frame"
    box = (values[0], values[1], values[2], values[3]) if len(values) == 4 else None
    return ImageLabel(kind, timestamp, box)
