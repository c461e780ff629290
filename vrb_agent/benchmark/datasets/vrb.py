"""VideoRewardBench: an annotation file (.json list, {"data": [...]}, or .jsonl) next to its videos.
Which columns hold what is worked out by `vrb_layout`; this module reads the rows, finds the videos
(with or without extension, at the root or under videos/) and counts what it loaded."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.datasets.common import (
    Dataset,
    DatasetError,
    Sample,
    count_note,
    is_duplicate,
    lookup,
    read_jsonl,
    resolve_media,
    unusable_text,
)
from vrb_agent.benchmark.datasets.vrb_layout import (
    VRB_PAPER_COUNTS,
    Layout,
    choose_layout,
    derive_pair,
    render_question,
    template_fields,
    unknown_dimensions_error,
    vrb_dimension,
)

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass(frozen=True)
class VrbOptions:
    """What the user told the loader: --field-map, --question-template, --dim-map."""

    field_map: dict[str, str] = field(default_factory=dict)
    question_template: str | None = None
    dim_map: dict[str, str] = field(default_factory=dict)


def annotation_file(path: Path) -> Path:
    """`path`, or the one .json/.jsonl in the directory `path`."""
    if not path.is_dir():
        return path
    candidates = sorted([*path.glob("*.json"), *path.glob("*.jsonl")])
    if len(candidates) != 1:
        names = ", ".join(c.name for c in candidates) or "none"
        raise DatasetError(
            f"--data {path}: expected one annotation .json/.jsonl in the directory (found: {names}); "
            "pass the annotation file"
        )
    return candidates[0]


def vrb_rows(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """Rows of a .jsonl (line numbers) or a .json list / {"data": [...]} (1-based item numbers)."""
    if path.suffix == ".jsonl":
        yield from read_jsonl(path)
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


def find_video(root: Path, value: str) -> tuple[Path, str | None]:
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


def load_videorewardbench(path: Path, options: VrbOptions) -> Dataset:
    """Every row with all fields as a sample; unknown dimension names fail the whole load."""
    path = annotation_file(path)
    numbered = list(vrb_rows(path))
    rows = [row for _, row, _ in numbered if row is not None]
    if not rows:
        raise DatasetError(f"{path}: no samples")
    layout = choose_layout(rows, options.field_map, path)
    _check_template(options.question_template, rows, path)
    reader = _RowReader(path, layout, options)
    for number, row, problem in numbered:
        reader.add(number, row, problem)
    if reader.unknown:
        raise unknown_dimensions_error(path, reader.unknown)
    samples = reader.samples
    notes = count_note("dimension", Counter(s.dimension for s in samples), VRB_PAPER_COUNTS)
    notes += count_note("source", Counter(s.source for s in samples), {})
    return Dataset(
        name="videorewardbench",
        path=path,
        samples=samples,
        issues=reader.issues,
        fields=layout.fields() | ({"question": options.question_template} if options.question_template else {}),
        files=[path],
        notes=notes,
    )


def _check_template(template: str | None, rows: list[dict[str, Any]], path: Path) -> None:
    """A template field that no row of the file has is a mistake in the flag, not in a row."""
    if template is None:
        return
    for name in template_fields(template):
        if name != "question" and all(lookup(r, name) is None for r in rows[:20]):
            columns = sorted({str(k) for r in rows[:20] for k in r})
            raise DatasetError(f"--question-template: {path} has no column {name!r}; columns are {', '.join(columns)}")


class _RowReader:
    """Rows -> samples under one layout, collecting skipped rows and unknown dimension names."""

    def __init__(self, path: Path, layout: Layout, options: VrbOptions) -> None:
        self.path, self.layout, self.options = path, layout, options
        self.samples: list[Sample] = []
        self.issues: list[str] = []
        self.unknown: Counter[str] = Counter()
        self.seen: set[str] = set()

    def add(self, number: int, row: dict[str, Any] | None, problem: str | None) -> None:
        where = f"{self.path}:{number}"
        if row is None:
            self.issues.append(f"{where}: {problem}")
            return
        values, problem = self._values(row, number)
        if problem is None:
            problem = unusable_text(values)
        if problem is not None:
            self.issues.append(f"{where}: {problem}")
            return
        sub = None if _blank(values.get("sub_dimension")) else str(values["sub_dimension"])
        dimension, written = vrb_dimension(str(values["dimension"]), sub, self.options.dim_map)
        if dimension is None:
            self.unknown[written] += 1
        elif not is_duplicate(str(values["id"]), self.seen, where, self.issues):
            self.samples.append(self._sample(values, dimension, written, number))

    def _values(self, row: dict[str, Any], number: int) -> tuple[dict[str, Any], str | None]:
        """The row's field values, or the first problem (a missing field, named with its column)."""
        columns = self.layout.columns
        values: dict[str, Any] = {
            f: lookup(row, columns[f])
            for f in ("id", "media", "question", "dimension", "source", "sub_dimension")
            if f in columns
        }
        values["id"] = values.get("id") if values.get("id") is not None else f"vrb-{number}"
        values["chosen"], values["rejected"], problem = derive_pair(row, self.layout)
        if problem:
            return values, problem
        shown = self.layout.fields()
        missing = [f for f in ("id", "media", "question", "chosen", "rejected", "dimension") if _blank(values.get(f))]
        if missing:
            return values, f"missing or empty {', '.join(f'{f} ({shown[f]})' for f in missing)}"
        if self.options.question_template:
            values["question"], problem = render_question(self.options.question_template, row, values["question"])
        return values, problem

    def _sample(self, values: dict[str, Any], dimension: str, written: str, number: int) -> Sample:
        media, error = find_video(self.path.parent, str(values["media"]))
        return Sample(
            id=str(values["id"]),
            media=media,
            question=str(values["question"]),
            chosen=str(values["chosen"]),
            rejected=str(values["rejected"]),
            dimension=dimension,
            source=str(values.get("source") or "videorewardbench"),
            meta={"line": number, "raw_dimension": written},
            error=error,
        )


def _blank(value: Any) -> bool:
    return value is None or str(value).strip() == ""
