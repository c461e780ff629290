"""Preference datasets, all loaded into the same `Sample`: generic JSONL (README "Datasets"), the
probe suite (generic JSONL under a directory), VideoRewardBench (annotation file + videos, in any of
several layouts) and VL-RewardBench (the HF parquet snapshot or VLMEvalKit's TSV, images written
once to a cache directory). A new loader is a module here returning a `Dataset`, named in
`DATASETS` and dispatched by `load_dataset`."""

from __future__ import annotations

import os
from pathlib import Path

from vrb_agent.benchmark.datasets.common import REQUIRED, Dataset, DatasetError, Sample, resolve_media
from vrb_agent.benchmark.datasets.generic import load_jsonl, one_file
from vrb_agent.benchmark.datasets.vlrb import load_vlrewardbench, vlrb_dimension, write_cached_image
from vrb_agent.benchmark.datasets.vrb import VrbOptions, load_videorewardbench
from vrb_agent.benchmark.datasets.vrb_layout import (
    VRB_CANDIDATES,
    canonical_vrb_dimension,
    checked_dim_map,
    parse_dim_map,
    parse_field_map,
)

DATASETS = ("generic", "videorewardbench", "vlrewardbench", "probes")

__all__ = [
    "DATASETS",
    "REQUIRED",
    "VRB_CANDIDATES",
    "Dataset",
    "DatasetError",
    "Sample",
    "canonical_vrb_dimension",
    "load_dataset",
    "parse_dim_map",
    "parse_field_map",
    "resolve_media",
    "vlrb_dimension",
    "write_cached_image",
]


def load_dataset(
    name: str,
    path: str | os.PathLike[str],
    *,
    field_map: dict[str, str] | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    question_template: str | None = None,
    dim_map: dict[str, str] | str | None = None,
) -> Dataset:
    """Load a dataset by kind: generic | probes | videorewardbench | vlrewardbench. `field_map`,
    `question_template` and `dim_map` are VideoRewardBench's (see `vrb_layout`)."""
    if isinstance(field_map, str):
        field_map = parse_field_map(field_map)
    dim_map = parse_dim_map(dim_map) if isinstance(dim_map, str) else checked_dim_map(dim_map or {})
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise DatasetError(f"--data {p}: no such file or directory")
    if name == "generic":
        return load_jsonl("generic", one_file(p, "*.jsonl", "generic"))
    if name == "probes":
        return load_jsonl("probes", p / "probes.jsonl" if p.is_dir() else p)
    if name == "videorewardbench":
        options = VrbOptions(field_map or {}, question_template or None, dim_map or {})
        return load_videorewardbench(p, options)
    if name == "vlrewardbench":
        cache = Path(cache_dir) if cache_dir else _default_cache() / "vlrewardbench-images"
        return load_vlrewardbench(p, cache)
    raise DatasetError(f"--dataset {name!r} is unknown; choose one of: {', '.join(DATASETS)}")


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vrb-agent"
