"""VL-RewardBench as published: the Hugging Face snapshot (`data/test-*.parquet`, or one parquet
file) or VLMEvalKit's `VL_RewardBench.tsv`. Images are written once to a content-addressed cache.

Faithful to the official code (vl-rewardbench/VL_RewardBench, cal.py and inference_hf.py):
- the group comes from the id prefix (text before the first `_` or `-`): RLAIF, RLHF and
  hallucination (POVID) are hallucination, mathverse and mmmu reasoning, the rest general;
  the source is the dataset cal.py names for that prefix;
- cal.py keys an item on id + query + responses, so a repeated id with another pair is another
  sample: it is kept, as `ID~xxxxxx` (a hash of its query and responses), with `meta.original_id`;
- the `<image>` placeholder is stripped from the query, as inference_hf.py does.
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import hashlib
import os
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.datasets.common import Dataset, DatasetError, Sample, count_note, short_hash
from vrb_agent.judges.base import ConfigError

# Samples per group in the full release (paper, Table 1); a different count is reported.
VLRB_GROUPS = {"general": 183, "hallucination": 749, "reasoning": 318}
# cal.py's id prefix -> source dataset; every other prefix is vlfeedback.
VLRB_SOURCES = {
    "rlaif": "rlaif-v",
    "rlhf": "rlhf-v",
    "mathverse": "reasoning_tasks",
    "mmmu": "reasoning_tasks",
    "wildvision": "wildvision-battle",
    "hallucination": "povid",
}
VLRB_SOURCE_GROUPS = {
    "rlaif-v": "hallucination",
    "rlhf-v": "hallucination",
    "povid": "hallucination",
    "reasoning_tasks": "reasoning",
    "wildvision-battle": "general",
    "vlfeedback": "general",
}
IMAGE_PLACEHOLDER = re.compile(r"<image>\s?")
TSV_FIELD_LIMIT = 512 * 1024 * 1024  # one base64 image cell of VLMEvalKit's TSV
FIELDS = {
    "id": "id",
    "question": "query (<image> stripped)",
    "chosen": "response[argmin human_ranking]",
    "rejected": "response[argmax human_ranking]",
    "media": "image",
    "dimension": "id prefix (cal.py)",
}


def vlrb_source(sample_id: str) -> str:
    """The source dataset cal.py derives from the id's prefix (case-insensitive here)."""
    prefix = re.split(r"[_-]", sample_id, maxsplit=1)[0].lower()
    return VLRB_SOURCES.get(prefix, "vlfeedback")


def vlrb_dimension(sample_id: str) -> str:
    """The paper's group (general | hallucination | reasoning) of a sample, from its id prefix."""
    return VLRB_SOURCE_GROUPS[vlrb_source(sample_id)]


def load_vlrewardbench(path: Path, cache: Path) -> Dataset:
    """Every row of the parquet file(s) or TSV as a sample; bad rows as issues."""
    files = _release_files(path)
    loader = _Loader(cache)
    for file in files:
        rows = _tsv_rows(file) if file.suffix == ".tsv" else _parquet_rows(file)
        for number, row in enumerate(rows, start=1):
            loader.add(row, f"{file}:row {number}")
    return Dataset(
        name="vlrewardbench",
        path=path,
        samples=loader.samples,
        issues=loader.issues,
        fields=FIELDS,
        files=files,
        notes=loader.notes(),
    )


def _release_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    for pattern in ("data/*.parquet", "*.parquet", "*.tsv"):
        if found := sorted(path.glob(pattern)):
            return found
    raise DatasetError(f"--data {path}: no data/*.parquet, *.parquet or *.tsv (the HF snapshot or VLMEvalKit's TSV)")


def _parquet_rows(file: Path) -> Iterator[dict[str, Any]]:
    """Rows in batches, so memory holds a batch of images, not the release."""
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only this loader needs pyarrow
    except ImportError:
        raise ConfigError(
            "vlrewardbench parquet needs pyarrow, which is not installed: pip install 'vrb-agent[data]' "
            "(or pass VLMEvalKit's .tsv)"
        ) from None
    try:
        for batch in pq.ParquetFile(file).iter_batches(batch_size=64):
            yield from batch.to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for bad files
        raise DatasetError(f"{file}: not a readable parquet file ({exc.__class__.__name__}: {exc})") from None


def _tsv_rows(file: Path) -> Iterator[dict[str, Any]]:
    """VLMEvalKit's rows in the parquet's shape: question -> query, answer -> human_ranking, base64
    image -> bytes (a short digit string names the row whose image it shares, as VLMEvalKit does)."""
    csv.field_size_limit(max(csv.field_size_limit(), TSV_FIELD_LIMIT))
    images: dict[str, Any] = {}
    try:
        with file.open(encoding="utf-8", newline="") as handle:
            for raw in csv.DictReader(handle, delimiter="\t"):
                index = str(raw.get("index", ""))
                image = raw.get("image") or ""
                image = images.get(image, image) if len(image) <= 64 else image
                images[index] = image
                yield _tsv_row(raw, index, image)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{file}: not a readable UTF-8 TSV ({exc})") from None


def _tsv_row(raw: dict[str, Any], index: str, image: str) -> dict[str, Any]:
    return {
        "id": raw.get("id") or f"vlrb-{index}",
        "query": raw.get("query", raw.get("question")),
        "response": _literal(raw.get("response")),
        "human_ranking": _literal(raw.get("human_ranking", raw.get("answer"))),
        "image": _b64(image) or b"",  # not base64: "image has no bytes"
        "query_source": raw.get("category"),
    }


def _literal(text: Any) -> Any:
    """A Python/JSON list written as text ("['a', 'b']", "[0, 1]"), or None."""
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True) or None
    except (binascii.Error, ValueError):
        return None


class _Loader:
    """Turns rows into samples, keeping cal.py's item identity (id + query + responses)."""

    def __init__(self, cache: Path) -> None:
        self.cache = cache
        self.samples: list[Sample] = []
        self.issues: list[str] = []
        self.keys: set[str] = set()
        self.ids: set[str] = set()
        self.renamed: set[str] = set()
        self.stripped = 0

    def add(self, row: dict[str, Any], where: str) -> None:
        sample, problem = vlrb_sample(row, self.cache)
        if sample is None:
            self.issues.append(f"{where}: {problem}")
            return
        key = "\0".join((sample.id, str(row["query"]), "\t".join(sorted(map(str, row["response"])))))
        if key in self.keys:
            self.issues.append(f"{where}: duplicate row (same id, query and responses as an earlier one)")
            return
        self.keys.add(key)
        if sample.id in self.ids:
            self.renamed.add(sample.id)
            suffixed = f"{sample.id}~{short_hash(key)}"
            sample = sample.model_copy(update={"id": suffixed, "meta": {**sample.meta, "original_id": sample.id}})
        self.ids.add(sample.id)
        self.stripped += sample.meta.get("placeholders_stripped", 0) > 0
        self.samples.append(sample)

    def notes(self) -> list[str]:
        notes = count_note("group", Counter(s.dimension for s in self.samples), VLRB_GROUPS)
        notes += count_note("source", Counter(s.source for s in self.samples), {})
        if self.renamed:
            kept = sum("original_id" in s.meta for s in self.samples)
            notes.append(
                f"{len(self.renamed)} ids occur more than once with different pairs: the {kept} later rows are "
                "kept as ID~xxxxxx (original id in meta.original_id), as cal.py keys items on id + query + responses"
            )
        if self.stripped:
            notes.append(f"stripped the <image> placeholder from {self.stripped} queries")
        return notes


def vlrb_sample(row: dict[str, Any], cache: Path) -> tuple[Sample | None, str | None]:
    """One row as a sample, or why it cannot be one."""
    missing = [f for f in ("id", "query", "response", "image", "human_ranking") if row.get(f) is None]
    if missing:
        return None, f"missing {', '.join(missing)}"
    responses, ranks = row["response"], _ranking(row["human_ranking"])
    if not isinstance(responses, list) or len(responses) != 2:
        return None, "response must hold exactly 2 answers"
    if ranks is None:
        return None, "human_ranking must hold 2 numbers"
    if ranks[0] == ranks[1]:
        return None, "human_ranking is a tie; no preference to test"
    data = _image_bytes(row["image"])
    if data is None:
        return None, "image has no bytes"
    best = 0 if ranks[0] < ranks[1] else 1
    sample_id, query = str(row["id"]), str(row["query"])
    question, stripped = IMAGE_PLACEHOLDER.subn("", query)
    meta: dict[str, Any] = {"human_ranking": ranks, "placeholders_stripped": stripped}
    if row.get("query_source"):
        meta["query_source"] = str(row["query_source"])
    sample = Sample(
        id=sample_id,
        media=write_cached_image(cache, data),
        question=question,
        chosen=str(responses[best]),
        rejected=str(responses[1 - best]),
        dimension=vlrb_dimension(sample_id),
        source=vlrb_source(sample_id),
        meta=meta,
    )
    return sample, None


def _ranking(value: Any) -> list[float] | None:
    try:
        ranks = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return ranks if len(ranks) == 2 else None


def _image_bytes(value: Any) -> bytes | None:
    """HF parquet stores images as {"bytes": ..., "path": ...}; plain bytes also accepted."""
    if isinstance(value, dict):
        value = value.get("bytes")
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) and len(value) else None


def _image_suffix(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return ".png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp"
    return ".jpg"


def write_cached_image(cache: Path, data: bytes) -> Path:
    """Write the image once under its content hash (atomic rename, so concurrent loads are safe)."""
    target = cache / (hashlib.sha256(data).hexdigest()[:24] + _image_suffix(data))
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(target.suffix + f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(target)
    return target
