"""What a dataset *is*, for the resume check: a hash of its annotation content and its media list
(paths relative to the dataset root, and sizes), so `--data dir` and `--data dir/probes.jsonl`, or a
moved copy of the directory, are the same data while an edited row or a replaced video is not."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.datasets import Dataset, Sample


def _media_entry(media: Path, root: Path) -> list[Any]:
    """[path relative to the root (file name when outside it, e.g. a content-hashed cache), size]."""
    try:
        size = media.stat().st_size
    except OSError:
        size = -1
    name = media.relative_to(root).as_posix() if media.is_relative_to(root) else media.name
    return [name, size]


def _sample_entry(sample: Sample, root: Path) -> dict[str, Any]:
    row = sample.model_dump(mode="json", exclude={"media", "meta"})
    meta = {k: v for k, v in sample.meta.items() if k != "line"}  # where a row sits is not what it says
    return {**row, "meta": meta, "media": _media_entry(sample.media, root)}


def dataset_fingerprint(dataset: Dataset) -> str:
    """sha256 (16 hex) of every sample's fields and its media's relative path and size."""
    root = dataset.path if dataset.path.is_dir() else dataset.path.parent
    digest = hashlib.sha256()
    for sample in dataset.samples:
        entry = json.dumps(_sample_entry(sample, root), sort_keys=True, ensure_ascii=False, default=str)
        digest.update(entry.encode() + b"\n")
    return digest.hexdigest()[:16]
