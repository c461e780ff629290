"""Writing what a judge saw: the images it was shown (as JPEG files) and a JSON trace of the run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vrb_agent.agents.types import Judgment
from vrb_agent.tools.evidence import EvidenceStore


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


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=-]+", "_", label).strip("_")[:60] or "image"


def write_trace(judgment: Judgment, store: EvidenceStore, directory: Path, inputs: dict[str, Any]) -> Path:
    """Write `NNN_<label>.jpg` for each image the judge saw, and `trace.json` (inputs, image index,
    the Judgment with its transcript). Returns the trace file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    index = []
    for number, part in enumerate(parts_seen(judgment), start=1):
        if part["type"] == "video":
            index.append({k: part[k] for k in ("type", "media_path", "start", "end", "fps")})
            continue
        image = store.get(part["evidence_id"])
        name = f"{number:03d}_{_slug(image.label)}.jpg"
        (directory / name).write_bytes(image.jpeg)
        index.append(
            {
                "type": "image",
                "file": name,
                "evidence_id": image.id,
                "label": image.label,
                "timestamp": image.timestamp,
                "box": list(image.box) if image.box else None,
                "width": image.width,
                "height": image.height,
            }
        )
    trace = {"inputs": inputs, "images": index, "judgment": judgment.model_dump(mode="json")}
    path = directory / "trace.json"
    path.write_text(json.dumps(trace, indent=2, ensure_ascii=False), encoding="utf-8")
    return path
