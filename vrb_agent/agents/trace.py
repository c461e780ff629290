"""The trace of a judgment: what the judge saw and did, in one format for `judge --trace-dir` and for
a benchmark's RUN_DIR (read back by the report's trace pages).

- An image the judge was sent is a `TraceImage` (id, label, timestamp, size, zoom box) stored next to
  its JPEG: a line of RUN_DIR/evidence/index.jsonl (JPEG `<id>.jpg`), or an entry of trace.json's
  `images` (JPEG named by its `file`).
- What the judge did is its tool sequence, `ToolCallRecord`s: a results.jsonl record's `evidence`,
  trace.json's `judgment.evidence`.
- `JudgmentTrace` is one judgment's images (first appearance first) and steps, as a trace page reads them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from vrb_agent.agents.types import Judgment, ToolCallRecord
from vrb_agent.tools.evidence import EvidenceImage, EvidenceStore


class TraceImage(BaseModel):
    """One image the judge was sent, as stored next to its JPEG (`file` names it in a trace dir)."""

    id: str
    label: str
    timestamp: float | None = None
    width: int
    height: int
    box: list[float] | None = None
    file: str | None = Field(default=None, exclude_if=lambda v: v is None)

    @classmethod
    def of(cls, image: EvidenceImage, file: str | None = None) -> TraceImage:
        box = list(image.box) if image.box else None
        return cls(id=image.id, label=image.label, timestamp=image.timestamp, width=image.width, height=image.height,
                   box=box, file=file)  # fmt: skip


class TraceVideo(BaseModel):
    """A native video span the judge was sent (Gemini): no JPEG, only where it came from."""

    type: Literal["video"] = "video"
    media_path: str
    start: float | None = None
    end: float | None = None
    fps: float | None = None


class JudgmentTrace(BaseModel):
    """One judgment's trace: the distinct images it was sent and its tool sequence, with the counts
    that reconcile them ("images sent" is summed over model calls)."""

    images: list[str] = Field(default_factory=list)
    steps: list[ToolCallRecord] = Field(default_factory=list)
    images_sent: int = 0
    model_calls: int = 0

    @classmethod
    def of_record(cls, record: Mapping[str, Any]) -> JudgmentTrace:
        """The trace fields of a results.jsonl record (`images`, `evidence`, `images_sent`, `usage`)."""
        return cls(
            images=list(record.get("images") or []),
            steps=[ToolCallRecord.model_validate(step) for step in record.get("evidence") or []],
            images_sent=int(record.get("images_sent") or 0),
            model_calls=int((record.get("usage") or {}).get("calls") or 0),
        )


def parts_seen(judgment: Judgment) -> list[dict[str, Any]]:
    """Every image and video part the judge was sent, first appearance first, without repeats."""
    seen: dict[str, dict[str, Any]] = {}
    for sample in judgment.transcript:
        for message in sample["messages"]:
            parts = list(message.get("parts", []))
            for result in message.get("tool_results", []):
                parts += result.get("parts", [])
            for part in parts:
                if part["type"] == "image":
                    seen.setdefault(part["evidence_id"], part)
                elif part["type"] == "video":
                    seen.setdefault(f"{part['media_path']}@{part['start']}-{part['end']}", part)
    return list(seen.values())


def images_seen(judgment: Judgment) -> list[str]:
    """Evidence ids of the images the judge was sent, first appearance first."""
    return [p["evidence_id"] for p in parts_seen(judgment) if p["type"] == "image"]


def index_line(image: EvidenceImage) -> str:
    """The RUN_DIR/evidence/index.jsonl line of an image (its JPEG is `<id>.jpg` beside it)."""
    return json.dumps(TraceImage.of(image).model_dump(mode="json")) + "\n"


def read_index(path: Path) -> dict[str, TraceImage]:
    """RUN_DIR/evidence/index.jsonl by image id; empty when the run saved no images."""
    if not path.is_file():
        return {}
    entries = (
        TraceImage.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    )
    return {entry.id: entry for entry in entries}


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", label).strip("_")[:60] or "image"


def write_trace(judgment: Judgment, store: EvidenceStore, directory: Path, inputs: dict[str, Any]) -> Path:
    """Write `NNN_<label>.jpg` for each image the judge saw, and `trace.json` (inputs, image index,
    the Judgment with its transcript and tool sequence). Returns the trace file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    index: list[TraceImage | TraceVideo] = []
    for number, part in enumerate(parts_seen(judgment), start=1):
        if part["type"] == "video":
            index.append(TraceVideo.model_validate(part))
            continue
        image = store.get(part["evidence_id"])
        name = f"{number:03d}_{_slug(image.label)}.jpg"
        (directory / name).write_bytes(image.jpeg)
        index.append(TraceImage.of(image, file=name))
    images = [entry.model_dump(mode="json") for entry in index]
    trace = {"inputs": inputs, "images": images, "judgment": judgment.model_dump(mode="json")}
    path = directory / "trace.json"
    path.write_text(json.dumps(trace, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
