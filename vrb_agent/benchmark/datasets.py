"""Preference datasets, all loaded into the same `Sample`: generic JSONL (DESIGN.md §5), the probe
suite (generic JSONL under a directory), VideoRewardBench (annotation file + videos, with a field
map) and VL-RewardBench (parquet with embedded images, written once to a cache directory).

Loading never stops at a bad row: rows with missing fields or bad JSON are reported with their line
number and skipped; media paths that escape the dataset root become per-sample errors, and missing or
broken media are found when the runner opens them (also a per-sample error).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, Field

from vrb_agent.errors import VrbError

DATASETS = ("generic", "videorewardbench", "vlrewardbench", "probes")
REQUIRED = ("id", "media", "question", "chosen", "rejected", "dimension")
VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")

# Candidate column names tried, in order, when no --field-map entry names the field (VideoRewardBench's
# public field names are not reliably documented).
VRB_CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "sample_id", "uid", "idx", "index", "qid"),
    "media": ("video", "video_path", "video_name", "video_id", "media", "path", "file"),
    "question": ("question", "prompt", "query", "instruction", "input"),
    "chosen": ("chosen", "chosen_response", "response_chosen", "preferred", "better_response", "winner"),
    "rejected": ("rejected", "rejected_response", "response_rejected", "dispreferred", "worse_response", "loser"),
    "dimension": ("dimension", "category", "task_type", "type", "aspect", "domain"),
}
VRB_DIMENSIONS = {
    "longformperception": "long-form perception",
    "longperception": "long-form perception",
    "shortformperception": "short-form perception",
    "shortperception": "short-form perception",
    "knowledge": "knowledge",
    "reasoning": "reasoning",
    "safety": "safety",
}
VLRB_PREFIXES = (
    (("rlaif", "rlhf", "hallucination"), "hallucination"),
    (("mathverse", "mmmu"), "reasoning"),
)


class DatasetError(VrbError):
    """The dataset as a whole cannot be used (missing file, unreadable format, unknown name)."""


class Sample(BaseModel):
    """One preference pair. `error` is set when the sample cannot be judged (e.g. a media path that
    escapes the dataset root); the runner records it as an error row instead of judging it."""

    id: str
    media: Path
    question: str
    chosen: str
    rejected: str
    dimension: str
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class Dataset(BaseModel):
    """The loaded samples, the rows that were skipped (with file:line) and the fields used."""

    name: str
    path: Path
    samples: list[Sample]
    issues: list[str] = Field(default_factory=list)
    fields: dict[str, str] = Field(default_factory=dict)

    def select(self, dims: Iterable[str] | None = None, limit: int | None = None) -> list[Sample]:
        """Samples of the given dimensions (exact names or `prefix/` for a family), at most `limit`."""
        chosen = self.samples
        if dims:
            wanted = [d.strip() for d in dims if d.strip()]
            chosen = [s for s in chosen if any(_dim_matches(s.dimension, d) for d in wanted)]
        return chosen[:limit] if limit is not None else chosen

    def dimensions(self) -> list[str]:
        return sorted({s.dimension for s in self.samples})


def _dim_matches(dimension: str, wanted: str) -> bool:
    return dimension == wanted or (wanted.endswith("/") and dimension.startswith(wanted))


def parse_field_map(text: str | None) -> dict[str, str]:
    """`question=prompt,chosen=responses.0` -> {"question": "prompt", "chosen": "responses.0"}."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise DatasetError(f"--field-map: {item.strip()!r} is not FIELD=COLUMN (e.g. question=prompt)")
        if key not in (*REQUIRED, "source"):
            raise DatasetError(f"--field-map: unknown field {key!r}; fields: {', '.join((*REQUIRED, 'source'))}")
        mapping[key] = value
    return mapping


def load_dataset(
    name: str,
    path: str | os.PathLike[str],
    *,
    field_map: dict[str, str] | str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Dataset:
    """Load a dataset by kind: generic | probes | videorewardbench | vlrewardbench."""
    if isinstance(field_map, str):
        field_map = parse_field_map(field_map)
    p = Path(path).expanduser().absolute()
    if not p.exists():
        raise DatasetError(f"--data {p}: no such file or directory")
    if name == "generic":
        return _load_jsonl("generic", _one_file(p, "*.jsonl", "generic"))
    if name == "probes":
        return _load_jsonl("probes", p / "probes.jsonl" if p.is_dir() else p)
    if name == "videorewardbench":
        return _load_videorewardbench(p, field_map or {})
    if name == "vlrewardbench":
        cache = Path(cache_dir) if cache_dir else _default_cache() / "vlrewardbench-images"
        return _load_vlrewardbench(p, cache)
    raise DatasetError(f"--dataset {name!r} is unknown; choose one of: {', '.join(DATASETS)}")


def _default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vrb-agent"


def _one_file(path: Path, pattern: str, what: str) -> Path:
    if path.is_file():
        return path
    found = sorted(path.glob(pattern))
    if len(found) != 1:
        raise DatasetError(f"--data {path}: expected one {pattern} file for {what}, found {len(found)}; pass the file")
    return found[0]


def resolve_media(root: Path, value: str) -> tuple[Path, str | None]:
    """The media path inside `root`, or an error when the path as written leaves the root.

    The check is on the path written in the annotation: an absolute path outside the root, or `..`
    that climbs out of it, is refused. Symlinks inside the root are followed wherever they point:
    whoever can create files in the dataset directory chooses its media anyway, and a Hugging Face
    snapshot is a tree of links into its blob store. A path with `..` is judged after resolving
    links, so `link/../../x` cannot climb out through one."""
    if not value:
        return root, "empty media path"
    raw = Path(value)
    base = Path(os.path.abspath(root))
    lexical = Path(os.path.normpath(raw if raw.is_absolute() else base / raw))
    if ".." not in raw.parts and (lexical.is_relative_to(base) or _resolves_inside(lexical, base)):
        return lexical, None
    if ".." in raw.parts and _resolves_inside(base / raw, base):
        return (base / raw).resolve(), None
    where = "is absolute and outside" if raw.is_absolute() else "escapes"
    return lexical, f"media path {value!r} {where} the dataset root {base}"


def _resolves_inside(path: Path, base: Path) -> bool:
    """Whether `path`, with every symlink resolved, lies under `base` (also resolved)."""
    try:
        return path.resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


JSONL_LINE_LIMIT_MB = 16  # a longer line is a reported skip, read no further than this (README)


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, row or None, problem) for every non-blank line. Each line is decoded on its
    own, so one that is not UTF-8, not JSON or too long is a skip, never the end of the run."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with handle:
        for number, raw in enumerate(_bounded_lines(handle, JSONL_LINE_LIMIT_MB * 1024 * 1024), start=1):
            if raw is None:
                yield number, None, f"line longer than {JSONL_LINE_LIMIT_MB} MB"
                continue
            if not raw.strip():
                continue
            row, problem = _decode_row(raw)
            yield number, row, problem


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """The file's lines as bytes; None for a line over `limit` bytes, whose rest is skipped unread
    into memory (a multi-GB line costs `limit` bytes at most)."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := handle.readline(limit)) and not rest.endswith(b"\n"):
            pass
        yield None


def _decode_row(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """One JSONL line as a JSON object, or why it is not one."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8"
    try:
        row = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg} at column {exc.colno})"
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"
    if not isinstance(row, dict):
        return None, f"expected a JSON object, got {type(row).__name__}"
    return row, None


def _unusable_text(values: dict[str, Any]) -> str | None:
    """Why a row's fields cannot be sent or opened: a lone surrogate (a `\\ud800` escape, which no
    provider request can encode) in any text, or a NUL character in the media path."""
    for field, value in values.items():
        text = str(value)
        if field == "media" and "\x00" in text:
            return "media path holds a NUL character"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return f"field {field} is not valid Unicode (a lone surrogate escape)"
    return None


def _is_duplicate(sample_id: str, seen: set[str], where: str, issues: list[str]) -> bool:
    """Report a repeated id (the first row wins), else remember it."""
    if sample_id in seen:
        issues.append(f"{where}: duplicate id {sample_id!r} (kept the first)")
        return True
    seen.add(sample_id)
    return False


def _load_jsonl(name: str, path: Path) -> Dataset:
    if not path.is_file():
        raise DatasetError(f"--data {path}: no such file (expected a JSONL file of pairs)")
    root = path.parent
    samples: list[Sample] = []
    issues: list[str] = []
    seen: set[str] = set()
    for number, row, problem in _read_jsonl(path):
        if row is None:
            issues.append(f"{path}:{number}: {problem}")
            continue
        missing = [f for f in REQUIRED if not isinstance(row.get(f), str | int) or str(row.get(f)).strip() == ""]
        if missing:
            issues.append(f"{path}:{number}: missing or empty field(s) {', '.join(missing)}")
            continue
        unusable = _unusable_text({f: row[f] for f in REQUIRED})
        if unusable:
            issues.append(f"{path}:{number}: {unusable}")
            continue
        sample_id = str(row["id"])
        if _is_duplicate(sample_id, seen, f"{path}:{number}", issues):
            continue
        media, error = resolve_media(root, str(row["media"]))
        meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
        samples.append(
            Sample(
                id=sample_id,
                media=media,
                question=str(row["question"]),
                chosen=str(row["chosen"]),
                rejected=str(row["rejected"]),
                dimension=str(row["dimension"]),
                source=str(row.get("source") or name),
                meta={**meta, "line": number},
                error=error,
            )
        )
    if not samples and not issues:
        raise DatasetError(f"{path}: the file holds no rows")
    return Dataset(name=name, path=path, samples=samples, issues=issues, fields={f: f for f in REQUIRED})


# ---- VideoRewardBench ---------------------------------------------------------------------------


def _lookup(row: Any, dotted: str) -> Any:
    """`a.b.0` walks dicts by key and lists by index; None when absent."""
    value = row
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _vrb_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Rows of a .jsonl (line numbers) or a .json list / {"data": [...]} (1-based item numbers)."""
    if path.suffix == ".jsonl":
        yield from _read_jsonl(path)
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: also not UTF-8
        raise DatasetError(f"{path}: cannot read JSON ({exc}); it must be UTF-8 JSON") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        data = lists[0] if len(lists) == 1 else None
    if not isinstance(data, list):
        raise DatasetError(f"{path}: expected a JSON list of samples (or an object holding one list)")
    for number, row in enumerate(data, start=1):
        yield (number, row, None) if isinstance(row, dict) else (number, None, "expected a JSON object")


def _choose_fields(rows: list[dict[str, Any]], field_map: dict[str, str], path: Path) -> dict[str, str]:
    """For each field, the user's mapping or the first candidate present in the first rows."""
    fields: dict[str, str] = {}
    probe = rows[:20]
    for field, candidates in VRB_CANDIDATES.items():
        if field in field_map:
            fields[field] = field_map[field]
            continue
        found = next((c for c in candidates if any(_lookup(r, c) is not None for r in probe)), None)
        if found is None and field != "id":
            columns = sorted({k for r in probe for k in r})
            raise DatasetError(
                f"{path}: no column found for {field!r} (tried {', '.join(candidates)}); columns are "
                f"{', '.join(columns)}; pass --field-map {field}=COLUMN"
            )
        if found is not None:
            fields[field] = found
    if "source" in field_map:
        fields["source"] = field_map["source"]
    return fields


def canonical_vrb_dimension(value: str) -> str:
    """'Long-Form Perception', 'long_perception' -> 'long-form perception'; unknown kept (lowercased)."""
    key = "".join(ch for ch in value.lower() if ch.isalpha())
    return VRB_DIMENSIONS.get(key, value.strip().lower())


def _find_video(root: Path, value: str) -> tuple[Path, str | None]:
    """Videos may be named with or without extension, at the root or under videos/."""
    first, error = resolve_media(root, value)
    if error or first.exists():
        return first, error
    for base in (root, root / "videos"):
        for candidate in (value, *(value + ext for ext in VIDEO_EXTS if not Path(value).suffix)):
            path, err = resolve_media(root, str(Path(base.relative_to(root)) / candidate))
            if err is None and path.exists():
                return path, None
    return first, None


def _load_videorewardbench(path: Path, field_map: dict[str, str]) -> Dataset:
    if path.is_dir():
        candidates = sorted([*path.glob("*.json"), *path.glob("*.jsonl")])
        if len(candidates) != 1:
            names = ", ".join(c.name for c in candidates) or "none"
            raise DatasetError(
                f"--data {path}: expected one annotation .json/.jsonl in the directory (found: {names}); "
                "pass the annotation file"
            )
        path = candidates[0]
    root = path.parent
    numbered = list(_vrb_rows(path))
    rows = [row for _, row, _ in numbered if row is not None]
    if not rows:
        raise DatasetError(f"{path}: no samples")
    fields = _choose_fields(rows, field_map, path)
    samples: list[Sample] = []
    issues = [f"{path}:{n}: {problem}" for n, row, problem in numbered if row is None]
    seen: set[str] = set()
    for number, row, _ in numbered:
        if row is None:
            continue
        values = {f: _lookup(row, col) for f, col in fields.items()}
        values.setdefault("id", None)
        if values["id"] is None:
            values["id"] = f"vrb-{number}"
        missing = [f for f in REQUIRED if values.get(f) is None or str(values[f]).strip() == ""]
        if missing:
            issues.append(f"{path}:{number}: missing or empty {', '.join(f'{f} ({fields[f]})' for f in missing)}")
            continue
        unusable = _unusable_text(values)
        if unusable:
            issues.append(f"{path}:{number}: {unusable}")
            continue
        sample_id = str(values["id"])
        if _is_duplicate(sample_id, seen, f"{path}:{number}", issues):
            continue
        media, error = _find_video(root, str(values["media"]))
        samples.append(
            Sample(
                id=sample_id,
                media=media,
                question=str(values["question"]),
                chosen=str(values["chosen"]),
                rejected=str(values["rejected"]),
                dimension=canonical_vrb_dimension(str(values["dimension"])),
                source=str(values.get("source") or "videorewardbench"),
                meta={"line": number, "raw_dimension": str(values["dimension"])},
                error=error,
            )
        )
    return Dataset(name="videorewardbench", path=path, samples=samples, issues=issues, fields=fields)


# ---- VL-RewardBench -----------------------------------------------------------------------------


def vlrb_dimension(sample_id: str) -> str:
    """Dimension from the id prefix, as in the VL-RewardBench paper's three groups."""
    lowered = sample_id.lower()
    for prefixes, dimension in VLRB_PREFIXES:
        if lowered.startswith(prefixes):
            return dimension
    return "general"


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


def _ranking(value: Any) -> list[float] | None:
    try:
        ranks = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return ranks if len(ranks) == 2 else None


def _load_vlrewardbench(path: Path, cache: Path) -> Dataset:
    try:
        import pyarrow.parquet as pq  # noqa: PLC0415 - only this loader needs pyarrow
    except ImportError:
        raise DatasetError("vlrewardbench needs pyarrow: pip install pyarrow") from None
    files = [path] if path.is_file() else sorted(path.glob("*.parquet"))
    if not files:
        raise DatasetError(f"--data {path}: no .parquet files")
    samples: list[Sample] = []
    issues: list[str] = []
    seen: set[str] = set()
    for file in files:
        try:
            rows = pq.read_table(file).to_pylist()
        except Exception as exc:  # pyarrow raises several unrelated types for bad files
            raise DatasetError(f"{file}: not a readable parquet file ({exc.__class__.__name__}: {exc})") from None
        for number, row in enumerate(rows, start=1):
            sample, problem = _vlrb_sample(row, cache)
            if sample is not None and sample.id in seen:
                problem = f"duplicate id {sample.id!r} (kept the first)"
            if problem or sample is None:
                issues.append(f"{file}:row {number}: {problem}")
                continue
            seen.add(sample.id)
            samples.append(sample)
    fields = {"id": "id", "question": "query", "chosen": "response[argmin human_ranking]", "media": "image"}
    return Dataset(name="vlrewardbench", path=path, samples=samples, issues=issues, fields=fields)


def _vlrb_sample(row: dict[str, Any], cache: Path) -> tuple[Sample | None, str | None]:
    missing = [f for f in ("id", "query", "response", "image", "human_ranking") if row.get(f) is None]
    if missing:
        return None, f"missing {', '.join(missing)}"
    responses = row["response"]
    ranks = _ranking(row["human_ranking"])
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
    sample_id = str(row["id"])
    return (
        Sample(
            id=sample_id,
            media=write_cached_image(cache, data),
            question=str(row["query"]),
            chosen=str(responses[best]),
            rejected=str(responses[1 - best]),
            dimension=vlrb_dimension(sample_id),
            source="vlrewardbench",
            meta={"human_ranking": ranks},
        ),
        None,
    )
