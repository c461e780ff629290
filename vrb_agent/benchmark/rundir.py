"""RUN_DIR: the folder `vrb-agent bench` writes and `vrb-agent report` reads. `RunDir` owns every
file name in it and how each file is written, so no other module spells a name of its own:

    results.jsonl             one ResultRecord a line (benchmark.records)
    results.quarantine.jsonl  corrupt result lines moved aside on resume
    run.json                  the manifest: identity, configuration, packages, dataset
    samples.jsonl             the judged samples with where the chosen response was shown
    evidence/<id>.jpg         the images the judge saw, and evidence/index.jsonl their labels
    bench.lock                the one-writer lock (benchmark.runlock)
    traces/, summary.json, report.md, report.html   written by the report
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vrb_agent.agents.trace import index_line
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.diskspace import append_all
from vrb_agent.benchmark.records import RecordLineError, ResultRecord
from vrb_agent.tools.evidence import EvidenceImage


def atomic_write(path: Path, data: bytes | str, *, durable: bool = False) -> None:
    """Write `path` through a temporary file and a rename, so readers (and a kill) see the old file
    or the new one, never half of one; `durable` fsyncs before the rename. The temporary file is
    removed when writing fails (a full disk leaves nothing behind)."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def json_lines(rows: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


class ResultsFile:
    """Append-only JSONL: each record is one os.write of complete lines followed by fsync, so a kill
    at any moment leaves whole lines plus at most one partial line, which opening cuts away. A failed
    append (disk full) is cut back too, so the file only ever holds whole lines.

    A corrupt line in the middle (not JSON, not UTF-8, not a record) is moved by `records` to the
    quarantine file and listed in `quarantined`; its cell then counts as not done."""

    def __init__(self, path: Path, quarantine: Path) -> None:
        self.path = path
        self.quarantine = quarantine
        self.quarantined: list[str] = []
        self.repaired = self._cut_partial_line()
        self._fd = self._open()

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _cut_partial_line(self) -> bool:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return False
        with self.path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
        return True

    def records(self) -> list[ResultRecord]:
        """Every record; corrupt lines are quarantined first (see the class docstring)."""
        out: list[ResultRecord] = []
        bad: list[dict[str, Any]] = []
        for number, line in enumerate(self.path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append(ResultRecord.from_json_line(line))
            except RecordLineError as exc:
                self.quarantined.append(f"{self.path}:{number}: corrupt result line ({exc})")
                text = line.decode("utf-8", errors="backslashreplace")
                bad.append({"file": self.path.name, "line": number, "problem": str(exc), "text": text})
        if bad:
            self._quarantine(bad)
            self.rewrite(out)  # only after the bad lines are safe in the quarantine file
        return out

    def _quarantine(self, bad: list[dict[str, Any]]) -> None:
        fd = os.open(self.quarantine, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            append_all(fd, json_lines(bad).encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, *records: ResultRecord) -> None:
        """Write complete lines and fsync once (group commit when several records are ready)."""
        append_all(self._fd, "".join(r.to_json_line() for r in records).encode())
        os.fsync(self._fd)

    def rewrite(self, records: Iterable[ResultRecord]) -> None:
        """Replace the file's content with `records` (atomic rename), e.g. to drop error records."""
        atomic_write(self.path, "".join(r.to_json_line() for r in records), durable=True)
        os.close(self._fd)
        self._fd = self._open()

    def close(self) -> None:
        os.close(self._fd)
        self._fd = -1  # a late append fails (EBADF) instead of writing into a reused descriptor


class RunDir:
    """Paths and file formats of one RUN_DIR (see the module docstring)."""

    RESULTS = "results.jsonl"
    QUARANTINE = "results.quarantine.jsonl"
    MANIFEST = "run.json"
    SAMPLES = "samples.jsonl"
    EVIDENCE = "evidence"
    EVIDENCE_INDEX = "index.jsonl"
    LOCK = "bench.lock"
    TRACES = "traces"
    SUMMARY = "summary.json"
    REPORT_MD = "report.md"
    REPORT_HTML = "report.html"
    ARCHIVED = (RESULTS, MANIFEST, SAMPLES, QUARANTINE)  # what --force-new moves aside

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._evidence_dir = ""  # evidence/ as a string once created (a stat per image is the hot path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # ---- paths ----------------------------------------------------------------------------------

    @property
    def results(self) -> Path:
        return self.path / self.RESULTS

    @property
    def quarantine(self) -> Path:
        return self.path / self.QUARANTINE

    @property
    def manifest(self) -> Path:
        return self.path / self.MANIFEST

    @property
    def samples(self) -> Path:
        return self.path / self.SAMPLES

    @property
    def evidence(self) -> Path:
        return self.path / self.EVIDENCE

    @property
    def evidence_index(self) -> Path:
        return self.evidence / self.EVIDENCE_INDEX

    @property
    def lock(self) -> Path:
        return self.path / self.LOCK

    @property
    def traces(self) -> Path:
        return self.path / self.TRACES

    def report_files(self) -> dict[str, Path]:
        """Where the report writes: summary.json, report.md, report.html."""
        return {
            "summary": self.path / self.SUMMARY,
            "markdown": self.path / self.REPORT_MD,
            "html": self.path / self.REPORT_HTML,
        }

    # ---- results --------------------------------------------------------------------------------

    def has_results(self) -> bool:
        return self.results.is_file() and self.results.stat().st_size > 0

    def open_results(self) -> ResultsFile:
        return ResultsFile(self.results, self.quarantine)

    # ---- manifest -------------------------------------------------------------------------------

    def read_manifest(self) -> dict[str, Any] | None:
        """run.json's object; None when it is missing or unreadable."""
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        atomic_write(self.manifest, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")

    def archive(self, stamp: str) -> list[Path]:
        """Move a previous run's files aside as NAME.<stamp>.old (--force-new never deletes results)."""
        moved = []
        for name in self.ARCHIVED:
            if (self.path / name).exists():
                moved.append((self.path / name).replace(self.path / f"{name}.{stamp}.old"))
        return moved

    # ---- samples --------------------------------------------------------------------------------

    def write_samples(self, samples: Iterable[tuple[Sample, str]]) -> None:
        """The judged samples (texts for trace pages), each with where its chosen response was shown."""
        rows = ({**s.model_dump(mode="json"), "chosen_position": position} for s, position in samples)
        atomic_write(self.samples, json_lines(rows))

    def read_samples(self) -> dict[str, dict[str, Any]]:
        """samples.jsonl by sample id; empty when the file is missing."""
        return {str(row["id"]): row for row in _read_jsonl(self.samples)}

    # ---- evidence -------------------------------------------------------------------------------

    def has_evidence(self, evidence_id: str) -> bool:
        return os.path.exists(os.path.join(self._evidence_dir or self.evidence, f"{evidence_id}.jpg"))

    def save_evidence(self, images: Iterable[EvidenceImage]) -> None:
        """Write the JPEGs the judge saw and their index lines, for trace pages. An image already on
        disk is skipped. A JPEG exists only with its index line: when the index append fails (disk
        full) this call's new JPEGs are removed again, and written on resume."""
        if not self._evidence_dir:
            self.evidence.mkdir(exist_ok=True)
            self._evidence_dir = str(self.evidence)
        written: list[Path] = []
        lines = []
        try:
            for image in images:
                if self.has_evidence(image.id):
                    continue
                path = self.evidence / f"{image.id}.jpg"
                atomic_write(path, image.jpeg)
                written.append(path)
                lines.append(index_line(image))
            if lines:
                self._append_index("".join(lines))
        except OSError:
            for path in written:
                path.unlink(missing_ok=True)
            raise

    def _append_index(self, text: str) -> None:
        fd = os.open(self.evidence_index, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            append_all(fd, text.encode())
        finally:
            os.close(fd)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
