"""What a run measured, for the resume check and run.json:

- `dataset_fingerprint`: the loaded samples and their media's relative path and size, so `--data dir`
  and `--data dir/probes.jsonl`, or a moved copy of the directory, are the same data while an edited
  row or a replaced video is not;
- `data_identity`: a content hash of the annotation file(s) the loader read (a changed copy of a
  release, even in fields the loader does not use) and of the media list (paths + sizes);
- `prompt_hashes`: a hash of the prompts as rendered and the tool specs the model sees, so an edited
  prompt is another measurement.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from vrb_agent.agents import prompts
from vrb_agent.agents.types import ProtocolName
from vrb_agent.benchmark.datasets import Dataset, Sample

REFERENCE_TURNS = 6  # prompts are rendered at one budget: max_turns is in the identity on its own
_CHUNK = 1 << 20


def _media_entry(media: Path, root: Path) -> list[Any]:
    """[path relative to the root (file name when outside it, e.g. a content-hashed cache), size]."""
    try:
        size = media.stat().st_size
    except OSError:
        size = -1
    name = media.relative_to(root).as_posix() if media.is_relative_to(root) else media.name
    return [name, size]


def _root(dataset: Dataset) -> Path:
    return dataset.path if dataset.path.is_dir() else dataset.path.parent


def _sample_entry(sample: Sample, root: Path) -> dict[str, Any]:
    row = sample.model_dump(mode="json", exclude={"media", "meta"})
    meta = {k: v for k, v in sample.meta.items() if k != "line"}  # where a row sits is not what it says
    return {**row, "meta": meta, "media": _media_entry(sample.media, root)}


def _json_line(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass") + b"\n"


def dataset_fingerprint(dataset: Dataset) -> str:
    """sha256 (16 hex) of every sample's fields and its media's relative path and size."""
    root = _root(dataset)
    digest = hashlib.sha256()
    for sample in dataset.samples:
        digest.update(_json_line(_sample_entry(sample, root)))
    return digest.hexdigest()[:16]


def file_sha256(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks (a release's parquet can be GBs)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def annotation_files(dataset: Dataset) -> list[dict[str, Any]]:
    """{file, bytes, sha256} of every annotation file the loader read (for run.json)."""
    return [{"file": p.name, "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in dataset.files]


def media_list(dataset: Dataset) -> list[list[Any]]:
    """The distinct media the samples use: [relative path, size], sorted."""
    root = _root(dataset)
    return sorted({tuple(_media_entry(s.media, root)) for s in dataset.samples})  # type: ignore[misc]


def data_identity(dataset: Dataset, files: list[dict[str, Any]]) -> dict[str, str]:
    """The identity keys of the data beyond its samples: annotation content (not file names, so a
    renamed copy is the same data) and the media list."""
    annotations = hashlib.sha256("".join(f["sha256"] for f in files).encode()).hexdigest()[:16]
    media = hashlib.sha256(b"".join(_json_line(entry) for entry in media_list(dataset))).hexdigest()[:16]
    return {"annotations": annotations, "media_list": media}


def rendered_prompts(protocol: ProtocolName = "vrb-agent") -> dict[str, Any]:
    """Every text and tool spec the judge model can be sent under a protocol, rendered with
    placeholder inputs (vrb-agent's keys stay as they were, so its hash is comparable over versions)."""
    first_user = (
        prompts.vlrb_user_text("{question}", "{first}", "{second}")
        if protocol == "vlrb"
        else prompts.first_user_text("{question}", "{first}", "{second}", "{media_note}")
    )
    return {
        "system_single": prompts.system_prompt("single", REFERENCE_TURNS, protocol),
        "system_agentic": prompts.system_prompt("agentic", REFERENCE_TURNS, protocol),
        "first_user": first_user,
        "reminder": prompts.REMINDER,
        "conclude": prompts.CONCLUDE,
        "repair": prompts.REPAIR,
        "invalid_json": prompts.invalid_json_message("{tool}", "{problem}"),
        "forgotten_image": prompts.forgotten_image_note("{label}"),
        "tools": [spec.model_dump(mode="json") for spec in prompts.tool_specs("agentic")],
    }


def prompt_hashes(protocol: ProtocolName = "vrb-agent") -> dict[str, str]:
    """sha256 (16 hex) of each rendered prompt and of the tool specs, plus `prompt_set` over all of
    them (the identity's `prompts`)."""
    rendered = rendered_prompts(protocol)
    hashes = {name: hashlib.sha256(_json_line(value)).hexdigest()[:16] for name, value in rendered.items()}
    hashes["prompt_set"] = hashlib.sha256(_json_line(rendered)).hexdigest()[:16]
    return hashes
