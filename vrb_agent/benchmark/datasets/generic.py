"""The generic JSONL of pairs (README "Datasets"), also the probe suite's format: one pair a line,
media relative to the file, the first row of a repeated id kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vrb_agent.benchmark.datasets.common import (
    REQUIRED,
    Dataset,
    DatasetError,
    Sample,
    is_duplicate,
    read_jsonl,
    resolve_media,
    unusable_text,
)
from vrb_agent.benchmark.datasets.evidence import EvidenceMetaError, parse_evidence_meta


def one_file(path: Path, pattern: str, what: str) -> Path:
    """`path` when it is a file, else the one file matching `pattern` in it."""
    if path.is_file():
        return path
    found = sorted(path.glob(pattern))
    if len(found) != 1:
        raise DatasetError(f"--data {path}: expected one {pattern} file for {what}, found {len(found)}; pass the file")
    return found[0]


def load_jsonl(name: str, path: Path) -> Dataset:
    """Every valid row of a pairs JSONL as a sample; the others as issues with their line number."""
    if not path.is_file():
        raise DatasetError(f"--data {path}: no such file (expected a JSONL file of pairs)")
    samples: list[Sample] = []
    issues: list[str] = []
    seen: set[str] = set()
    for number, row, problem in read_jsonl(path):
        where = f"{path}:{number}"
        if row is None:
            issues.append(f"{where}: {problem}")
            continue
        if unusable := _row_problem(row):
            issues.append(f"{where}: {unusable}")
        elif not is_duplicate(str(row["id"]), seen, where, issues):
            samples.append(_sample(row, name, path.parent, number))
    if not samples and not issues:
        raise DatasetError(f"{path}: the file holds no rows")
    fields = {f: f for f in REQUIRED}
    return Dataset(name=name, path=path, samples=samples, issues=issues, fields=fields, files=[path])


def _row_problem(row: dict[str, Any]) -> str | None:
    missing = [f for f in REQUIRED if not isinstance(row.get(f), str | int) or str(row.get(f)).strip() == ""]
    if missing:
        return f"missing or empty field(s) {', '.join(missing)}"
    return unusable_text({f: row[f] for f in REQUIRED}) or _evidence_problem(row)


def _evidence_problem(row: dict[str, Any]) -> str | None:
    """Why the row's `meta.evidence` (where the decisive evidence is) is malformed, if it is."""
    meta = row.get("meta")
    if not isinstance(meta, dict) or "evidence" not in meta:
        return None
    try:
        parse_evidence_meta(meta["evidence"])
    except EvidenceMetaError as exc:
        return str(exc)
    return None


def _sample(row: dict[str, Any], name: str, root: Path, number: int) -> Sample:
    media, error = resolve_media(root, str(row["media"]))
    meta: dict[str, Any] = row["meta"] if isinstance(row.get("meta"), dict) else {}
    if "evidence" in meta:  # validated by _row_problem; kept as a list of normalised regions
        meta = {**meta, "evidence": parse_evidence_meta(meta["evidence"])}
    return Sample(
        id=str(row["id"]),
        media=media,
        question=str(row["question"]),
        chosen=str(row["chosen"]),
        rejected=str(row["rejected"]),
        dimension=str(row["dimension"]),
        source=str(row.get("source") or name),
        meta={**meta, "line": number},
        error=error,
    )
