"""Where a sample's decisive evidence is: `meta.evidence` of a generic JSONL row (README "Datasets").

One region is `{"start": s, "end": e, "box": [x0, y0, x1, y1]}`: the times (seconds) of the first and
last frame that show the evidence, both included (`end` defaults to `start`), and the box on those
frames on the 0-1000 scale of the tools (optional: without it the whole frame). A region needs
`start` or `box`; a box alone means the evidence is in every frame (a still image, a static print).
`meta.evidence` is one region or a list of them; failure attribution (benchmark.attribution)
counts the evidence as shown only when every region was.
"""

from __future__ import annotations

import math
from typing import Any

REGION_KEYS = ("start", "end", "box")
BOX_SCALE = 1000.0


class EvidenceMetaError(ValueError):
    """A malformed `meta.evidence`; the message names the field and what it must be."""


def parse_evidence_meta(value: Any) -> list[dict[str, Any]]:
    """`meta.evidence` as a list of normalised regions ({"start", "end"} and/or {"box"})."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise EvidenceMetaError("meta.evidence: an empty list; give one region or leave the field out")
    return [_region(item, f"meta.evidence[{i}]" if isinstance(value, list) else "meta.evidence")
            for i, item in enumerate(items)]  # fmt: skip


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EvidenceMetaError(f"{field}: must be a finite number of seconds, got {value!r}")
    if value < 0:
        raise EvidenceMetaError(f"{field}: must be 0 or more seconds, got {value!r}")
    return float(value)


def _box(value: Any, field: str) -> list[float]:
    shape = "[x0, y0, x1, y1] on the 0-1000 scale with x0 < x1 and y0 < y1"
    if not isinstance(value, list) or len(value) != 4:
        raise EvidenceMetaError(f"{field}: must be {shape}, got {value!r}")
    numbers = [v for v in value if not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)]
    if len(numbers) != 4 or min(numbers) < 0 or max(numbers) > BOX_SCALE:
        raise EvidenceMetaError(f"{field}: must be {shape}, got {value!r}")
    x0, y0, x1, y1 = (float(v) for v in numbers)
    if x0 >= x1 or y0 >= y1:
        raise EvidenceMetaError(f"{field}: must be {shape} (an empty box), got {value!r}")
    return [x0, y0, x1, y1]


def _region(item: Any, field: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise EvidenceMetaError(f'{field}: must be an object like {{"start": 2.0, "end": 2.5}}, got {item!r}')
    unknown = sorted(set(item) - set(REGION_KEYS))
    if unknown:
        raise EvidenceMetaError(f"{field}: unknown key(s) {', '.join(unknown)}; known: {', '.join(REGION_KEYS)}")
    if "end" in item and "start" not in item:
        raise EvidenceMetaError(f"{field}.end: given without {field}.start")
    if "start" not in item and "box" not in item:
        raise EvidenceMetaError(f"{field}: needs start (and end) or box")
    region: dict[str, Any] = {}
    if "start" in item:
        start = _number(item["start"], f"{field}.start")
        end = _number(item.get("end", start), f"{field}.end")
        if end < start:
            raise EvidenceMetaError(f"{field}.end: {end} is before start {start}")
        region.update(start=start, end=end)
    if "box" in item:
        region["box"] = _box(item["box"], f"{field}.box")
    return region
