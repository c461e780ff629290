"""The benchmark runner: judge every sample in every cell (mode x frames x k) with bounded concurrency,
append each result to RUN_DIR/results.jsonl as one complete, fsynced line, and resume by cell.

Robustness rules: a sample that fails (bad media, a backend error, a bug in a judge) becomes an error
record and the run goes on; a run killed at any moment loses at most the judgments in flight; a
re-run skips every finished cell; a RUN_DIR written with another configuration is refused unless
`force_new`, which archives the old results instead of deleting them. One process writes a RUN_DIR
at a time (runlock); a full disk (diskspace) or a backend that keeps failing (failstop) stops the
run with every finished result kept; corrupt result lines are quarantined and their cells redone.

Position: whether the chosen response is shown as A or B is fixed per sample by a seeded hash, so
position cannot leak the answer, and both modes see the same presentation (a fair paired test).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vrb_agent.agents.trace import images_seen, index_line
from vrb_agent.agents.types import JudgeConfig, Judgment, Mode, Order
from vrb_agent.benchmark.cache import CachedBackend
from vrb_agent.benchmark.datasets import Dataset, DatasetError, Sample, load_dataset
from vrb_agent.benchmark.diskspace import append_all, disk_full_error, is_disk_full
from vrb_agent.benchmark.failstop import STOP_AFTER_FAILED_CALLS, FailureWatch
from vrb_agent.benchmark.fingerprint import annotation_files, data_identity, dataset_fingerprint, prompt_hashes
from vrb_agent.benchmark.logroute import BarLogRoute
from vrb_agent.benchmark.pool import MediaPool
from vrb_agent.benchmark.runlock import RunLock
from vrb_agent.benchmark.shards import Shard
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import AuthError, Backend, ConfigError
from vrb_agent.judges.registry import get_backend
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, open_media

JudgeFn = Callable[..., Awaitable[Judgment]]
Cell = tuple[str, int, int]  # (mode, frames, k)

PACKAGES = (
    "vrb-agent",
    "langgraph",
    "pydantic",
    "numpy",
    "av",
    "opencv-python-headless",
    "decord",
    "openai",
    "anthropic",
    "google-genai",
    "torch",
    "transformers",
)
SECRET_ENV = re.compile(r"(API_KEY|TOKEN|SECRET|PASSWORD)$")
# Fields that define what a run measures. The others only say how much of it to do now, so they may
# change between resumes: concurrency, limit, dims, and the sweep axes (modes, frames, k), since every
# record names its own cell, so a sweep that grows resumes its finished cells. The data is identified by
# its content (dataset_fingerprint), not by the path it was named with.
IDENTITY_FIELDS = (
    "dataset",
    "backend",
    "model",
    "base_url",
    "backend_options",
    "order",
    "max_turns",
    "temperature",
    "max_output_tokens",
    "max_side",
    "max_images",
    "seed",
    "field_map",
    "question_template",
    "dim_map",
)


BUDGET_FIELDS = ("max_output_tokens", "max_side", "max_images")


class RunConfigError(ConfigError):
    """The RUN_DIR holds a run with another configuration (CLI exit 3)."""


class OutDirError(VrbError):
    """--out cannot be a RUN_DIR (it names a file, or cannot be created): a usage error (CLI exit 2)."""


class BenchConfig(BaseModel):
    """What to run. Lists sweep: every (mode, frames, k) combination is its own cell."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = "generic"
    data: str
    backend: str = ""
    model: str | None = None
    base_url: str | None = None
    backend_options: dict[str, Any] = Field(default_factory=dict)
    modes: list[Mode] = Field(default_factory=lambda: ["single", "agentic"], min_length=1)
    frames: list[int] = Field(default_factory=lambda: [16], min_length=1)
    k: list[int] = Field(default_factory=lambda: [1], min_length=1)
    order: Order = "fixed"
    max_turns: int = Field(default=6, ge=1, le=50)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    max_output_tokens: int | None = Field(default=None, ge=16)
    max_side: int | None = Field(default=None, ge=64)
    max_images: int | None = Field(default=None, ge=1)
    seed: int = 0
    field_map: dict[str, str] = Field(default_factory=dict)
    question_template: str | None = None  # videorewardbench: e.g. "{question}\nOptions: {options}"
    dim_map: dict[str, str] = Field(default_factory=dict)  # videorewardbench: file's name -> dimension
    concurrency: int = Field(default=8, ge=1, le=1024)
    limit: int | None = Field(default=None, ge=1)
    dims: list[str] | None = None
    shard: str | None = None  # "I/N": judge only the samples of shard I of N (see benchmark.shards)

    @field_validator("frames")
    @classmethod
    def _frames_in_range(cls, value: list[int]) -> list[int]:
        if any(not 1 <= f <= 256 for f in value):
            raise ValueError("every frames value must be in 1..256")
        return list(dict.fromkeys(value))

    @field_validator("k")
    @classmethod
    def _k_positive(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("every k must be >= 1")
        return list(dict.fromkeys(value))

    @field_validator("shard")
    @classmethod
    def _valid_shard(cls, value: str | None) -> str | None:
        return None if value is None else str(Shard.parse(value))

    @field_validator("modes")
    @classmethod
    def _unique_modes(cls, value: list[Mode]) -> list[Mode]:
        return list(dict.fromkeys(value))

    def cells(self) -> list[Cell]:
        return [(m, f, k) for f in self.frames for k in self.k for m in self.modes]

    def identity(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", include=set(IDENTITY_FIELDS))
        data["base_url"] = strip_userinfo(self.base_url)
        data["backend_options"] = public_options(self.backend_options)
        for key in BUDGET_FIELDS:  # unset budgets are the judge's defaults: runs from before them still resume
            if data[key] is None:
                del data[key]
        for key in ("question_template", "dim_map"):  # unset: the identity of runs from before them
            if not data[key]:
                del data[key]
        if self.shard:  # only when sharded, so an unsharded run's identity (and hash) is unchanged
            data["shard"] = self.shard
        return data

    def select(self, dataset: Dataset) -> list[Sample]:
        """The samples this run judges: --dims, then --limit, then this machine's --shard."""
        samples = dataset.select(self.dims, self.limit)
        if self.shard is None:
            return samples
        shard = Shard.parse(self.shard)
        return [s for s in samples if shard.holds(s.id)]

    def judge_config(self, cell: Cell, seed: int) -> JudgeConfig:
        mode, frames, k = cell
        given = {"temperature": self.temperature, **{k: getattr(self, k) for k in BUDGET_FIELDS}}
        extra = {k: v for k, v in given.items() if v is not None}
        return JudgeConfig(
            mode=mode, frames=frames, k=k, max_turns=self.max_turns, order=self.order, seed=seed, **extra
        )


@dataclass
class RunOutcome:
    """What a call of run_benchmark did."""

    run_dir: Path
    total_cells: int
    already_done: int
    done: int = 0
    errors: int = 0
    issues: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    repaired_partial_line: bool = False
    quarantined: list[str] = field(default_factory=list)
    records: int = 0
    error_records: int = 0
    cache_hits: int = 0
    cache_misses: int = 0

    @property
    def results_path(self) -> Path:
        return self.run_dir / "results.jsonl"


# ---- small pure helpers -------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chosen_position(sample_id: str, seed: int) -> str:
    """'A' or 'B': where the chosen response is shown, from a seeded hash of the sample id."""
    return "B" if hashlib.sha256(f"{seed}\0{sample_id}".encode()).digest()[0] & 1 else "A"


def sample_seed(sample_id: str, seed: int) -> int:
    """The judge's seed for one sample (varies across samples, reproducible, same in every mode)."""
    return int.from_bytes(hashlib.sha256(f"judge\0{seed}\0{sample_id}".encode()).digest()[:4], "big") >> 1


def strip_userinfo(url: str | None) -> str | None:
    """A base URL without `user:password@` (credentials never reach run.json)."""
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def public_options(options: dict[str, Any]) -> dict[str, Any]:
    """Backend options with the values of secret-looking keys (api_key, token, ...) replaced by ***."""
    return {k: "***" if SECRET_ENV.search(k.upper()) or "KEY" in k.upper() else v for k, v in options.items()}


def redact(text: str) -> str:
    """Replace the values of secret-looking environment variables (keys, tokens) with ***."""
    for name, value in os.environ.items():
        if SECRET_ENV.search(name) and len(value) >= 8 and value in text:
            text = text.replace(value, "***")
    return text


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def identity_hash(identity: dict[str, Any]) -> str:
    return _digest(json.dumps(identity, sort_keys=True))[:16]


# ---- results file -------------------------------------------------------------------------------


QUARANTINE_NAME = "results.quarantine.jsonl"


class ResultsFile:
    """Append-only JSONL: each record is one os.write of a complete line followed by fsync, so a kill
    at any moment leaves whole lines plus at most one partial line, which `open` cuts away. A failed
    append (disk full) is cut back too, so the file only ever holds whole lines.

    A corrupt line in the middle (not JSON, not UTF-8, not a record) is moved by `records` to
    results.quarantine.jsonl and listed in `quarantined`; its cell then counts as not done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.quarantined: list[str] = []
        self.repaired = self._cut_partial_line()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _cut_partial_line(self) -> bool:
        if not self.path.exists() or self.path.stat().st_size == 0:
            return False
        data = self.path.read_bytes()
        if data.endswith(b"\n"):
            return False
        with self.path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
        return True

    def records(self) -> list[dict[str, Any]]:
        """Every record; corrupt lines are quarantined first (see the class docstring)."""
        out: list[dict[str, Any]] = []
        bad: list[dict[str, Any]] = []
        for number, line in enumerate(self.path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            record, problem = _parse_result_line(line)
            if record is not None:
                out.append(record)
                continue
            self.quarantined.append(f"{self.path}:{number}: corrupt result line ({problem})")
            text = line.decode("utf-8", errors="backslashreplace")
            bad.append({"file": self.path.name, "line": number, "problem": problem, "text": text})
        if bad:
            quarantine = os.open(self.path.with_name(QUARANTINE_NAME), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                append_all(quarantine, "".join(_line(b) for b in bad).encode())
                os.fsync(quarantine)
            finally:
                os.close(quarantine)
            self.rewrite(out)  # only after the bad lines are safe in the quarantine file
        return out

    def append(self, *records: dict[str, Any]) -> None:
        """Write complete lines and fsync once (group commit when several records are ready)."""
        append_all(self._fd, "".join(_line(r) for r in records).encode())
        os.fsync(self._fd)

    def rewrite(self, records: list[dict[str, Any]]) -> None:
        """Replace the file's content with `records` (atomic rename), e.g. to drop error records."""
        tmp = self.path.with_suffix(".jsonl.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.writelines(_line(r) for r in records)
            handle.flush()
            os.fsync(handle.fileno())
        os.close(self._fd)
        tmp.replace(self.path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        os.close(self._fd)
        self._fd = -1  # a late append fails (EBADF) instead of writing into a reused descriptor


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _parse_result_line(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """(record, '') for a usable results.jsonl line, else (None, what is wrong with it)."""
    try:
        record = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return None, f"not UTF-8 at byte {exc.start}"
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at column {exc.colno}"
    if not isinstance(record, dict):
        return None, f"a JSON {type(record).__name__}, not a record"
    try:
        cell_key(record)
    except (KeyError, TypeError, ValueError):
        return None, "not a result record (sample_id, mode, frames or k missing or malformed)"
    return record, ""


def cell_key(record: dict[str, Any]) -> tuple[str, str, int, int]:
    return (str(record["sample_id"]), str(record["mode"]), int(record["frames"]), int(record["k"]))


# ---- records ------------------------------------------------------------------------------------


def judgment_record(
    sample: Sample,
    cell: Cell,
    *,
    dataset: str,
    position: str,
    judgment: Judgment | None,
    error: str | None,
    latency_s: float,
    config_hash: str,
    backend: dict[str, Any],
    images: list[str],
    order: str,
) -> dict[str, Any]:
    """One results.jsonl line (DESIGN.md §5 plus trace fields: position, votes, evidence, images)."""
    mode, frames, k = cell
    base: dict[str, Any] = {
        "sample_id": sample.id,
        "dataset": dataset,
        "dimension": sample.dimension,
        "mode": mode,
        "backend": backend.get("backend", ""),
        "model": backend.get("model", ""),
        "k": k,
        "frames": frames,
        "order": order,
        "chosen_position": position,
        "config_hash": config_hash,
        "latency_s": round(latency_s, 4),
    }
    if judgment is None:
        return {
            **base,
            "status": "error",
            "preferred": None,
            "confidence": None,
            "correct": None,
            "rationale": "",
            "tool_calls": [],
            "images_sent": 0,
            "usage": {},
            "error": redact(error or "unknown error"),
            "votes": [],
            "evidence": [],
            "images": images,
        }
    verdict = judgment.verdict if judgment.status == "ok" else None
    return {
        **base,
        "backend": judgment.backend or base["backend"],
        "model": judgment.model or base["model"],
        "status": judgment.status,
        "preferred": verdict.preferred if verdict else None,
        "confidence": verdict.confidence if verdict else None,
        "correct": (verdict.preferred == position) if verdict else None,
        "rationale": verdict.rationale if verdict else "",
        "tool_calls": [{"name": e.name, "arguments": e.arguments, "ok": e.ok} for e in judgment.evidence],
        "images_sent": judgment.images_sent,
        "usage": judgment.usage.model_dump(mode="json"),
        "error": redact(judgment.error) if judgment.error else None,
        "votes": list(judgment.votes),
        "order_agreement": judgment.order_agreement,
        "verdict_evidence": [e.model_dump(mode="json") for e in verdict.evidence] if verdict else [],
        "evidence": [e.model_dump(mode="json") for e in judgment.evidence],
        "images": images,
        "timings": judgment.timings,
        **({"notes": judgment.notes} if judgment.notes else {}),  # e.g. images shrunk to fit the context
    }


# ---- progress -----------------------------------------------------------------------------------


class Progress:
    """A rich progress bar on a terminal (done/total, running accuracy per mode, errors, tokens,
    provider retries); nothing at all when stderr is not a terminal."""

    def __init__(self, total: int, done: int, enabled: bool | None = None) -> None:
        from rich.console import Console  # noqa: PLC0415 - rich only matters for interactive runs
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn  # noqa: PLC0415
        from rich.progress import Progress as RichProgress  # noqa: PLC0415

        console = Console(stderr=True)
        self.enabled = console.is_terminal if enabled is None else enabled
        self.right: dict[str, int] = {}
        self.judged: dict[str, int] = {}
        self.errors = 0
        self.tokens = 0
        self._bar: Any = None
        self._log: BarLogRoute | None = None
        if self.enabled:
            self._log = BarLogRoute(console, on_retry=self._refresh)
            self._bar = RichProgress(
                TextColumn("[bold]bench"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[stats]}"),
                console=console,
                transient=False,
            )
            self._task = self._bar.add_task("bench", total=total, completed=done, stats="")

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        if self._log is not None:
            self._log.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._log is not None:
            self._log.__exit__()
        if self._bar is not None:
            self._bar.stop()

    @property
    def retries(self) -> int:
        return self._log.retries if self._log is not None else 0

    def add(self, record: dict[str, Any]) -> None:
        mode = str(record["mode"])
        self.judged[mode] = self.judged.get(mode, 0) + 1
        self.right[mode] = self.right.get(mode, 0) + bool(record.get("correct"))
        self.errors += record["status"] == "error"
        usage = record.get("usage") or {}
        self.tokens += int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, stats=self.line())

    def line(self) -> str:
        accs = " ".join(f"{m} {100 * self.right[m] / n:.1f}%" for m, n in sorted(self.judged.items()) if n)
        retries = f" | retries {self.retries}" if self.retries else ""
        return f"{accs} | errors {self.errors} | tokens {self.tokens:,}{retries}"


# ---- the runner ---------------------------------------------------------------------------------


def _default_judge() -> JudgeFn:
    try:
        from vrb_agent.agents.api import ajudge  # noqa: PLC0415 - the graph is imported only when used
    except ImportError as exc:
        raise ConfigError(f"the judge graph is not available ({exc}); install vrb-agent completely") from None
    return ajudge


class _Committer:
    """Appends records from the event loop without blocking it: writes and fsyncs run in a worker
    thread, one batch at a time, each batch holding every record that arrived meanwhile. `write`
    returns once its record is on disk, so a record counts as done only when it is durable."""

    def __init__(self, results: ResultsFile) -> None:
        self.results = results
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, record: dict[str, Any]) -> None:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await asyncio.to_thread(self.results.append, *(record for record, _ in batch))
                except BaseException as exc:  # disk full, cancelled: every waiter must hear of it
                    failed = exc if isinstance(exc, Exception) else asyncio.CancelledError()
                    for _, future in [*batch, *self._pending]:
                        if not future.done():
                            future.set_exception(failed)
                    self._pending = []
                    if not isinstance(exc, Exception):
                        raise
                    return  # the writers raise it (never "Task exception was never retrieved")
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flusher = None

    async def idle(self) -> None:
        """Wait until no batch is being written (its errors were given to its writers)."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher])


class _Run:
    """State of one run_benchmark call."""

    def __init__(
        self,
        config: BenchConfig,
        *,
        run_dir: Path,
        backend: Backend,
        judge: JudgeFn,
        config_hash: str,
        save_evidence: bool,
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.backend = backend
        self.judge = judge
        self.progress = Progress(0, 0, enabled=False)
        self.config_hash = config_hash
        self.save_evidence = save_evidence
        self.identity = backend.describe()
        self.cell_slots = asyncio.Semaphore(config.concurrency)
        self.media = MediaPool(open_media)
        self.committer: _Committer | None = None  # set by _execute with the results file
        self.done = 0
        self.errors = 0

    async def write(self, record: dict[str, Any]) -> None:
        assert self.committer is not None, "results file not open"
        await self.committer.write(record)
        self.done += 1
        self.errors += record["status"] == "error"
        self.progress.add(record)

    def _record(self, sample: Sample, cell: Cell, **kwargs: Any) -> dict[str, Any]:
        return judgment_record(
            sample,
            cell,
            dataset=self.config.dataset,
            position=chosen_position(sample.id, self.config.seed),
            config_hash=self.config_hash,
            backend=self.identity,
            order=self.config.order,
            **kwargs,
        )

    async def run_sample(self, sample: Sample, cells: list[Cell]) -> None:
        """Judge every cell of one sample; its media and evidence are released once they are written."""
        media: Media | None = None
        problem = sample.error
        if problem is None:
            try:
                media = await self.media.acquire(sample.media)
            except Exception as exc:  # MediaError and any decoder surprise: this sample only
                problem = str(exc) if isinstance(exc, VrbError) else f"{exc.__class__.__name__}: {exc}"
        if media is None:
            for cell in cells:
                await self.write(self._record(sample, cell, judgment=None, error=problem, latency_s=0.0, images=[]))
            return
        defaults = JudgeConfig()  # one store per sample: its frames are encoded once for every cell
        store = EvidenceStore(quality=defaults.jpeg_quality, max_side=self.config.max_side or defaults.max_side)
        try:
            await asyncio.gather(*(self.run_cell(sample, media, cell, store) for cell in cells))
        finally:
            store.clear()
            self.media.release(sample.media)

    async def run_cell(self, sample: Sample, media: Media, cell: Cell, store: EvidenceStore) -> None:
        config = self.config.judge_config(cell, sample_seed(sample.id, self.config.seed))
        position = chosen_position(sample.id, self.config.seed)
        a, b = (sample.chosen, sample.rejected) if position == "A" else (sample.rejected, sample.chosen)
        judgment: Judgment | None = None
        error = None
        async with self.cell_slots:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(config.timeout_s * 2):
                    judgment = await self.judge(
                        media, sample.question, a, b, backend=self.backend, mode=cell[0], config=config, store=store
                    )
            except TimeoutError:
                error = f"judgment exceeded {config.timeout_s * 2:.0f} s (twice the judge's own timeout)"
            except (ConfigError, AuthError):
                raise  # wrong key, model or SDK: every sample would fail the same way, so stop the run
            except Exception as exc:  # one sample never kills the run; a full disk stops it
                if is_disk_full(exc):
                    raise
                error = f"{exc.__class__.__name__}: {str(exc)[:2000]}"
            latency = time.perf_counter() - start
        images = images_seen(judgment) if judgment is not None else []
        if self.save_evidence and images:
            self._save_evidence(store, images)
        await self.write(self._record(sample, cell, judgment=judgment, error=error, latency_s=latency, images=images))

    def _save_evidence(self, store: EvidenceStore, ids: list[str]) -> None:
        """Write the JPEGs the judge saw and their labels, for trace pages. An id already on disk is
        not written again: a JPEG exists only with its index line, since when the index append fails
        (disk full) this call's new JPEGs are removed again and written on resume."""
        folder = self.run_dir / "evidence"
        folder.mkdir(exist_ok=True)
        new = [store.get(i) for i in dict.fromkeys(ids) if i in store and not (folder / f"{i}.jpg").exists()]
        written: list[Path] = []
        lines = []
        try:
            for image in new:
                tmp = folder / f"{image.id}.tmp"
                try:
                    tmp.write_bytes(image.jpeg)
                except OSError:
                    tmp.unlink(missing_ok=True)
                    raise
                tmp.replace(folder / f"{image.id}.jpg")
                written.append(folder / f"{image.id}.jpg")
                lines.append(index_line(image))
            if lines:
                index = os.open(folder / "index.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    append_all(index, "".join(lines).encode())
                finally:
                    os.close(index)
        except OSError:
            for path in written:
                path.unlink(missing_ok=True)
            raise


def check_out_dir(out: str | os.PathLike[str]) -> Path:
    """RUN_DIR, created if missing; a path that is a file (or under one) is a usage error."""
    run_dir = Path(out)
    if run_dir.exists() and not run_dir.is_dir():
        raise OutDirError(f"--out {run_dir}: is a file, not a RUN_DIR directory; pass a directory path")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, run_dir) from None
        raise OutDirError(f"--out {run_dir}: cannot create the RUN_DIR ({exc.strerror or exc})") from None
    return run_dir


def _check_run_dir(run_dir: Path, manifest: dict[str, Any], force_new: bool) -> None:
    """Refuse to mix configurations in one RUN_DIR; with force_new archive the old results."""
    results = run_dir / "results.jsonl"
    old_path = run_dir / "run.json"
    has_results = results.exists() and results.stat().st_size > 0
    old = _read_manifest(old_path)
    if old is None and not has_results:
        return
    if old is not None:
        changed = _differences(old.get("identity", {}), manifest["identity"], manifest["config"]["data"])
        if old.get("identity_hash") == manifest["identity_hash"] or not changed:
            return
    if not force_new:
        if old is None:
            raise RunConfigError(
                f"{results} exists but {old_path} is missing or unreadable, so its configuration is unknown; "
                "use another --out or pass --force-new"
            )
        raise RunConfigError(
            f"{run_dir} holds a run with another configuration ({changed}); use another --out, "
            "or pass --force-new to archive its results and start over"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for name in ("results.jsonl", "run.json", "samples.jsonl", QUARANTINE_NAME):
        if (run_dir / name).exists():
            (run_dir / name).replace(run_dir / f"{name}.{stamp}.old")


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _differences(old: dict[str, Any], new: dict[str, Any], data: str) -> str:
    """What makes `old` another measurement than `new` ('' when the run may resume). Keys only one
    side has are skipped: run.json files of older versions lack new keys and keep retired ones
    (the sweep axes); such a file's data is compared by path, as it has no fingerprint."""
    keys = sorted(k for k in set(old) & set(new) | {"shard"} if old.get(k) != new.get(k))  # a shard, or none
    changes = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys]
    if "dataset_fingerprint" in keys:
        changes.append("the data's rows or media files differ from the run's")
    if "dataset_fingerprint" not in old and old.get("data", data) != data:
        changes.append(f"data: {old['data']!r} -> {data!r}")
    return "; ".join(changes)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


def _write_samples(path: Path, samples: Iterable[Sample], seed: int) -> None:
    """The judged samples (texts for trace pages) with where the chosen response was shown."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for s in samples:
            row = s.model_dump(mode="json")
            handle.write(json.dumps({**row, "chosen_position": chosen_position(s.id, seed)}, ensure_ascii=False) + "\n")
    tmp.replace(path)


def _make_backend(config: BenchConfig, backend: Backend | None) -> tuple[Backend, bool]:
    if backend is not None:
        return backend, False
    if not config.backend:
        raise ConfigError("no backend: pass --backend NAME")
    options: dict[str, Any] = dict(config.backend_options)
    if config.model:
        options["model"] = config.model
    if config.base_url:
        options["base_url"] = config.base_url
    return get_backend(config.backend, **options), True


def build_manifest(config: BenchConfig, backend: Backend, dataset: Dataset) -> dict[str, Any]:
    """run.json: what was measured (identity + its hash), with what code and which data."""
    identity = config.identity()
    identity["backend"] = backend.name
    identity["model"] = backend.model
    identity["prompts"] = prompt_hashes().get("prompt_set")
    identity["dataset_fingerprint"] = dataset_fingerprint(dataset)
    files = annotation_files(dataset)
    identity |= data_identity(dataset, files)
    return {
        "identity": identity,
        "identity_hash": identity_hash(identity),
        "config": {**config.model_dump(mode="json"), **{k: identity[k] for k in ("base_url", "backend_options")}},
        "prompt_hashes": prompt_hashes(),
        "packages": package_versions(),
        "backend": {k: v for k, v in backend.describe().items() if not SECRET_ENV.search(k.upper())},
        "dataset": {
            "name": dataset.name,
            "path": str(dataset.path),
            "samples": len(dataset.samples),
            "fields": dataset.fields,
            "files": files,
            "notes": dataset.notes,
            "issues": dataset.issues[:200],
            "issue_count": len(dataset.issues),
        },
        "command": [redact(arg) for arg in sys.argv],
    }


async def arun_benchmark(
    config: BenchConfig,
    out: str | os.PathLike[str],
    *,
    backend: Backend | None = None,
    judge: JudgeFn | None = None,
    dataset: Dataset | None = None,
    force_new: bool = False,
    retry_errors: bool = False,
    progress: bool | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    save_evidence: bool = True,
    stop_after_failures: int = STOP_AFTER_FAILED_CALLS,
) -> RunOutcome:
    """Run (or resume) a benchmark into `out`; see the module docstring for the guarantees.

    Stops early, keeping every finished result, with: BackendUnreachableError after
    `stop_after_failures` consecutive failed model calls, DiskFullError when RUN_DIR's disk is full,
    RunLockedError when another process is writing `out`."""
    dataset = dataset or load_dataset(
        config.dataset,
        config.data,
        field_map=config.field_map,
        question_template=config.question_template,
        dim_map=config.dim_map,
    )
    check_selection(dataset, config)
    run_dir = Path(out)
    model_backend, owned = _make_backend(config, backend)
    watched = FailureWatch(model_backend, stop_after_failures)
    try:
        with RunLock(check_out_dir(run_dir)):
            manifest = build_manifest(config, model_backend, dataset)
            _check_run_dir(run_dir, manifest, force_new)
            run = _Run(
                config,
                run_dir=run_dir,
                backend=CachedBackend(watched, cache_dir) if cache_dir is not None else watched,
                judge=judge or _default_judge(),
                config_hash=manifest["identity_hash"],
                save_evidence=save_evidence,
            )
            return await _execute(run, manifest, dataset, retry_errors=retry_errors, progress=progress)
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, run_dir) from None
        raise
    finally:
        if owned:
            await model_backend.aclose()


def check_selection(dataset: Dataset, config: BenchConfig) -> None:
    """A run with nothing to judge is an error naming why (no valid rows, or --dims matching none)."""
    if not dataset.samples:
        first = f"; first problem: {dataset.issues[0]}" if dataset.issues else ""
        raise DatasetError(
            f"--data {dataset.path}: no valid rows ({len(dataset.issues)} skipped{first}); fix the rows and run again"
        )
    if not dataset.select(config.dims, config.limit):
        raise DatasetError(
            f"--dims {','.join(config.dims or [])}: matches no sample; the dataset's dimensions are "
            f"{', '.join(dataset.dimensions())}"
        )


async def _execute(
    run: _Run, manifest: dict[str, Any], dataset: Dataset, *, retry_errors: bool, progress: bool | None
) -> RunOutcome:
    """Write the manifest, work out the cells still to do and judge them."""
    config, run_dir = run.config, run.run_dir
    samples = config.select(dataset)
    results = ResultsFile(run_dir / "results.jsonl")
    run.committer = _Committer(results)
    try:
        records = results.records()
        quarantined = list(results.quarantined)
        if retry_errors and any(r.get("status") == "error" for r in records):
            records = [r for r in records if r.get("status") != "error"]
            results.rewrite(records)
        done = {cell_key(r) for r in records}
        old = run_dir / "run.json"
        created = (_read_manifest(old) or {}).get("created")
        now = datetime.now(UTC).isoformat(timespec="seconds")
        cells = config.cells()
        total = len(samples) * len(cells)
        _write_json(old, {**manifest, "cells": total, "created": created or now, "updated": now})
        _write_samples(run_dir / "samples.jsonl", samples, config.seed)
        todo = [(s, [c for c in cells if (s.id, *c) not in done]) for s in samples]
        todo = [(s, cs) for s, cs in todo if cs]
        outcome = RunOutcome(
            run_dir, total, total - sum(len(cs) for _, cs in todo), issues=dataset.issues, fields=dataset.fields
        )
        outcome.notes = dataset.notes
        outcome.repaired_partial_line = results.repaired
        outcome.quarantined = quarantined
        with Progress(total, outcome.already_done, progress) as bar:
            run.progress = bar
            try:
                await _drain(run, todo, config.concurrency)
            finally:
                outcome.done, outcome.errors = run.done, run.errors
        outcome.records = len(records) + run.done
        outcome.error_records = sum(r.get("status") == "error" for r in records) + run.errors
        if isinstance(run.backend, CachedBackend):
            outcome.cache_hits, outcome.cache_misses = run.backend.hits, run.backend.misses
        return outcome
    finally:
        try:
            await run.committer.idle()
        finally:
            results.close()


async def _drain(run: _Run, todo: list[tuple[Sample, list[Cell]]], concurrency: int) -> None:
    """`concurrency` workers pull samples (each opens its media once, for all of its cells)."""
    queue: asyncio.Queue[tuple[Sample, list[Cell]]] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            sample, cells = queue.get_nowait()
            await run.run_sample(sample, cells)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(concurrency, len(todo)) or 1)]
    try:
        await asyncio.gather(*workers)
    finally:  # a run that stops (disk full, backend down) stops every worker before the file closes
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        run.media.close()


RUN_OPTIONS = (
    "judge",
    "dataset_obj",
    "force_new",
    "retry_errors",
    "progress",
    "cache_dir",
    "save_evidence",
    "stop_after_failures",
)


def run_benchmark(
    config: BenchConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> RunOutcome:
    """Synchronous `arun_benchmark`. Config fields may be given as keywords instead of a BenchConfig:
    `run_benchmark(out="runs/x", dataset="probes", data="suite", modes=["single", "agentic"], backend=b)`
    where `backend` may be a Backend instance or a registry name."""
    if out is None:
        raise VrbError("run_benchmark needs out= (the RUN_DIR)")
    run_options = {k: kwargs.pop(k) for k in RUN_OPTIONS if k in kwargs}
    instance = kwargs.pop("backend", None) if isinstance(kwargs.get("backend"), Backend) else None
    if config is None:
        config = BenchConfig(**kwargs)
    elif kwargs:
        config = config.model_copy(update=kwargs)
    dataset = run_options.pop("dataset_obj", None)
    return asyncio.run(arun_benchmark(config, out, backend=instance, dataset=dataset, **run_options))
