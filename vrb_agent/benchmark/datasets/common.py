"""What every loader shares: the `Sample` and `Dataset` models, the dataset error, media paths kept
inside the dataset root, bounded JSONL reading, case-insensitive column lookup and the per-load
counts (`notes`) that `bench` and `data check` print.

Loading never stops at a bad row: rows with missing fields or bad JSON are reported with their line
number and skipped; media paths that escape the dataset root become per-sample errors, and missing or
broken media are found when the runner opens them (also a per-sample error).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from pydantic import BaseModel, Field

from vrb_agent.errors import VrbError

REQUIRED = ("id", "media", "question", "chosen", "rejected", "dimension")
# Tokens some releases leave in their questions for a model's own image slot (VL-RB's POVID queries
# hold a literal `<image>`); `data check` counts them, the VL-RB loader strips them.
PLACEHOLDER = re.compile(r"<(?:image|video)>", re.IGNORECASE)


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
    """The loaded samples, the rows that were skipped (with file:line), the fields used, the files
    read (for the run's fingerprint), and `notes`: what the loader changed or found suspicious
    (repeated ids kept apart, placeholders stripped, counts that differ from the paper's)."""

    name: str
    path: Path
    samples: list[Sample]
    issues: list[str] = Field(default_factory=list)
    fields: dict[str, str] = Field(default_factory=dict)
    files: list[Path] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

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


def parse_pairs(text: str | None, flag: str, shape: str, example: str) -> dict[str, str]:
    """`a=b, c=d` -> {"a": "b", "c": "d"}; a malformed item is an error naming `flag` and `shape`."""
    if not text:
        return {}
    mapping: dict[str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise DatasetError(f"{flag}: {item.strip()!r} is not {shape} (e.g. {example})")
        mapping[key] = value
    return mapping


def count_note(what: str, counts: Counter[str], expected: dict[str, int]) -> list[str]:
    """'N samples per WHAT: a 3, b 5' and, when the paper's full-set counts differ, a warning line
    that names both (a subset, another release, or a mis-grouped file)."""
    names = [*expected, *sorted(set(counts) - set(expected))] if expected else sorted(counts)
    line = f"{sum(counts.values())} samples per {what}: " + ", ".join(f"{n} {counts[n]}" for n in names)
    if not expected or all(counts[n] == expected[n] for n in names):
        return [line]
    paper = ", ".join(f"{n} {c}" for n, c in expected.items())
    return [line, f"warning: the published full set has {paper} per {what}; this file differs"]


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


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
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


def unusable_text(values: dict[str, Any]) -> str | None:
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


def is_duplicate(sample_id: str, seen: set[str], where: str, issues: list[str]) -> bool:
    """Report a repeated id (the first row wins), else remember it."""
    if sample_id in seen:
        issues.append(f"{where}: duplicate id {sample_id!r} (kept the first)")
        return True
    seen.add(sample_id)
    return False


def lookup(row: Any, dotted: str) -> Any:
    """`a.b.0` walks dicts by key (exact, else case-insensitive) and lists by index; None when absent."""
    value = row
    for part in dotted.split("."):
        if isinstance(value, dict):
            value = value[part] if part in value else _casefold_get(value, part)
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def _casefold_get(row: dict[str, Any], key: str) -> Any:
    wanted = key.casefold()
    return next((v for k, v in row.items() if isinstance(k, str) and k.casefold() == wanted), None)


def short_hash(*texts: str) -> str:
    """6 hex of sha256 over the texts: a stable suffix that tells apart rows sharing an id."""
    return hashlib.sha256("\0".join(texts).encode("utf-8", "surrogatepass")).hexdigest()[:6]
