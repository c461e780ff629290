"""The benchmark runner: judge every sample under every condition (mode x frames x k) with bounded
concurrency, append each result to RUN_DIR/results.jsonl as one complete, fsynced line, and resume
by cell (one sample under one condition).

Robustness rules: a sample that fails (bad media, a backend error, a bug in a judge) becomes an error
record and the run goes on; a run killed at any moment loses at most the judgments in flight; a
re-run skips every finished cell; a RUN_DIR written with another configuration is refused unless
`force_new`, which archives the old results instead of deleting them. One process writes a RUN_DIR
at a time (runlock); a full disk (diskspace) or a backend that keeps failing (failstop) stops the
run with every finished result kept; corrupt result lines are quarantined and their cells redone.

What a run measures and where the chosen response is shown: benchmark.config; run.json and the
RUN_DIR checks: benchmark.manifest; the files: benchmark.rundir; one line: benchmark.records.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrb_agent.agents.trace import images_seen
from vrb_agent.agents.types import JudgeConfig, Judgment
from vrb_agent.benchmark.cache import CachedBackend
from vrb_agent.benchmark.cascade import CASCADE, Key, StageBoard, StageRecords, judge_cascade, reusable_stages
from vrb_agent.benchmark.committer import Committer
from vrb_agent.benchmark.config import BenchConfig, chosen_position, sample_seed
from vrb_agent.benchmark.controls import BlindBackend, blind_record, donors
from vrb_agent.benchmark.datasets import Dataset, Sample, load_dataset
from vrb_agent.benchmark.diskspace import disk_full_error, is_disk_full
from vrb_agent.benchmark.failstop import STOP_AFTER_FAILED_CALLS, FailureWatch
from vrb_agent.benchmark.manifest import (
    build_manifest,
    check_out_dir,
    check_run_dir,
    check_selection,
    keep_record_meaning,
    write_manifest,
)
from vrb_agent.benchmark.metrics import score
from vrb_agent.benchmark.pool import MediaPool
from vrb_agent.benchmark.progress import Progress
from vrb_agent.benchmark.records import Arm, Cell, CellKey, ResultRecord
from vrb_agent.benchmark.rundir import ResultsFile, RunDir
from vrb_agent.benchmark.runlock import RunLock
from vrb_agent.benchmark.spend import SpendMeter, recorded_spend
from vrb_agent.benchmark.views import shown_of
from vrb_agent.benchmark.wrapped import UsageTally
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import AuthError, Backend, ConfigError
from vrb_agent.judges.registry import get_backend
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, open_media

JudgeFn = Callable[..., Awaitable[Judgment]]
Todo = list[tuple[Sample, list[Arm]]]


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
        return RunDir(self.run_dir).results


def _default_judge() -> JudgeFn:
    try:
        from vrb_agent.agents.api import ajudge  # noqa: PLC0415 - the graph is imported only when used
    except ImportError as exc:
        raise ConfigError(f"the judge graph is not available ({exc}); install vrb-agent completely") from None
    return ajudge


class _Run:
    """State of one run_benchmark call: judges samples and commits their records."""

    def __init__(
        self, config: BenchConfig, *, run_dir: RunDir, backend: Backend, judge: JudgeFn, config_hash: str
    ) -> None:
        self.config = config
        self.run_dir = run_dir
        self.backend = backend
        self.judge = judge
        self.progress = Progress(0, 0, enabled=False)
        self.config_hash = config_hash
        self.save_evidence = True
        self.identity = backend.describe()
        self.cell_slots = asyncio.Semaphore(config.concurrency)
        self.media = MediaPool(open_media)
        self.committer: Committer | None = None  # set by _execute with the results file
        self.donors: dict[str, Sample] = {}  # shuffled control: whose media each sample is shown
        self.done = 0
        self.errors = 0
        self.stages: StageRecords = {}  # resumed records cascades take over
        self.meter: SpendMeter | None = None  # with --budget-usd

    async def write(self, record: ResultRecord) -> None:
        assert self.committer is not None, "results file not open"
        await self.committer.write(record)
        self.done += 1
        self.errors += record.status == "error"
        self.progress.add(record)

    def cell(self, sample: Sample, arm: Arm) -> Cell:
        mode, frames, k, control = arm
        donor = self.donors.get(sample.id) if control == "shuffled" else None
        return Cell(
            sample=sample,
            condition=(mode, frames, k),
            control=control,
            donor=donor.id if donor else None,
            dataset=self.config.dataset,
            position=chosen_position(sample.id, self.config.seed),
            order=self.config.order,
            config_hash=self.config_hash,
            backend=self.identity.get("backend", ""),
            model=self.identity.get("model", ""),
        )

    async def run_sample(self, sample: Sample, conditions: list[Arm]) -> None:
        """Judge one sample under every condition; its media and evidence are released once written."""
        media: Media | None = None
        problem = sample.error
        if problem is None:
            try:
                media = await self.media.acquire(sample.media)
            except Exception as exc:  # MediaError and any decoder surprise: this sample only
                problem = str(exc) if isinstance(exc, VrbError) else f"{exc.__class__.__name__}: {exc}"
        if media is None:
            for condition in conditions:
                await self.write(self.cell(sample, condition).error_record(problem))
            return
        defaults = JudgeConfig()  # one store per sample: its frames are encoded once for every condition
        store = EvidenceStore(quality=defaults.jpeg_quality, max_side=self.config.max_side or defaults.max_side)
        saved: set[str] = set()  # evidence ids this sample's cells wrote already
        board = StageBoard(conditions, self.stages.pop(sample.id, {}))
        try:
            cells = [
                self.run_cascade(self.cell(sample, c), c, media, store, saved, board)
                if c[0] == CASCADE
                else board.track(c, self.run_cell(self.cell(sample, c), media, store, saved))
                for c in conditions
            ]
            await asyncio.gather(*cells)
        finally:
            store.clear()
            self.media.release(sample.media)

    async def run_cascade(  # noqa: PLR0917 - a cell's key and what run_cell gets
        self, cell: Cell, key: Arm, media: Media, store: EvidenceStore, saved: set[str], board: StageBoard
    ) -> None:
        """A cascade cell (benchmark.cascade): its stages come from `board` or are judged here."""

        async def judge_stage(condition: Key) -> ResultRecord:
            return await self.judge_arm(self.cell(cell.sample, condition), media, store, saved)

        when, threshold = self.config.escalate_when, self.config.escalate_threshold
        await self.write(await judge_cascade(cell, key, board, judge_stage, when=when, threshold=threshold))

    async def run_cell(self, cell: Cell, media: Media, store: EvidenceStore, saved: set[str]) -> ResultRecord:
        record = await self.judge_arm(cell, media, store, saved)
        await self.write(record)
        return record

    async def judge_arm(self, cell: Cell, media: Media, store: EvidenceStore, saved: set[str]) -> ResultRecord:
        """A cell judged on the sample's media, or for the shuffled control on its donor's (not yet written)."""
        if cell.control != "shuffled":
            return await self.judge_cell(cell, media, store, saved)
        donor = self.donors.get(cell.sample.id)
        if donor is None:
            return cell.error_record("shuffled control: this sample has no donor")
        try:
            donated = await self.media.acquire(donor.media)
        except Exception as exc:  # the donor's media is unusable: this cell only
            return cell.error_record(f"shuffled control: donor {donor.id}'s media: {exc}")
        try:
            return await self.judge_cell(cell, donated, store, saved)
        finally:
            self.media.release(donor.media)

    async def judge_cell(self, cell: Cell, media: Media, store: EvidenceStore, saved: set[str]) -> ResultRecord:
        """Judge one cell into its record (not yet written); its images are saved as evidence."""
        sample = cell.sample
        blind = cell.control == "blind"
        backend = UsageTally(BlindBackend(self.backend) if blind else self.backend)
        config = self.config.judge_config(cell.condition, sample_seed(sample.id, self.config.seed))
        a, b = (sample.chosen, sample.rejected) if cell.position == "A" else (sample.rejected, sample.chosen)
        judgment: Judgment | None = None
        error = None
        async with self.cell_slots:
            start = time.perf_counter()
            try:
                async with asyncio.timeout(config.timeout_s * 2):
                    judgment = await self.judge(
                        media, sample.question, a, b, backend=backend, mode=config.mode, config=config, store=store
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
        if judgment is None:
            return cell.error_record(error, latency, usage=backend.usage)
        images = [] if blind else images_seen(judgment)
        if self.save_evidence:
            new = [i for i in dict.fromkeys(images) if i not in saved and i in store]
            self.run_dir.save_evidence(store.get(i) for i in new)
            saved.update(new)
        record = cell.judged_record(judgment, latency, images, shown_of(judgment, store))
        return blind_record(record) if blind else record


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
    invalid_policy: str = "wrong",
    cache_dir: str | os.PathLike[str] | None = None,
    save_evidence: bool = True,
    stop_after_failures: int = STOP_AFTER_FAILED_CALLS,
) -> RunOutcome:
    """Run (or resume) a benchmark into `out`; see the module docstring for the guarantees.

    Stops early, keeping every finished result, with: BackendUnreachableError after
    `stop_after_failures` consecutive failed model calls, DiskFullError when RUN_DIR's disk is full,
    RunLockedError when another process is writing `out`. `invalid_policy` scores the progress bar's
    running accuracy the way the run's report will (metrics.score)."""
    score({"status": "ok"}, invalid_policy)  # an unknown policy fails before any work
    dataset = dataset or load_dataset(
        config.dataset,
        config.data,
        field_map=config.field_map,
        question_template=config.question_template,
        dim_map=config.dim_map,
    )
    check_selection(dataset, config)
    model_backend, owned = _make_backend(config, backend)
    watched: Backend = FailureWatch(model_backend, stop_after_failures)
    meter = SpendMeter(watched, config.budget_usd) if config.budget_usd is not None else None
    watched = meter or watched
    try:
        with RunLock(check_out_dir(out)):
            run_dir = RunDir(out)
            manifest = build_manifest(config, model_backend, dataset)
            check_run_dir(run_dir, manifest, force_new)
            manifest = keep_record_meaning(run_dir, manifest)
            run = _Run(
                config,
                run_dir=run_dir,
                backend=CachedBackend(watched, cache_dir) if cache_dir is not None else watched,
                judge=judge or _default_judge(),
                config_hash=manifest["identity_hash"],
            )
            run.save_evidence = save_evidence
            run.meter = meter
            return await _execute(
                run, manifest, dataset, retry_errors=retry_errors, progress=progress, policy=invalid_policy
            )
    except OSError as exc:
        if is_disk_full(exc):
            raise disk_full_error(exc, Path(out)) from None
        raise
    finally:
        if owned:
            await model_backend.aclose()


@dataclass
class _Resumed:
    """What a RUN_DIR already holds: the finished cells and how many records (errors) that is.
    The records themselves are not kept while judging: a resumed run holds only their keys."""

    done: set[CellKey]
    records: int
    errors: int
    stages: StageRecords = field(default_factory=dict)  # for cascade cells
    spend: tuple[float, int] = (0.0, 0)  # estimated USD and priced model calls already paid


def _resume(results: ResultsFile, retry_errors: bool, conditions: list[Arm]) -> _Resumed:
    """Read the finished cells; with retry_errors the error records are dropped (their cells redone)."""
    records = results.records()
    if retry_errors and any(r.status == "error" for r in records):
        records = [r for r in records if r.status != "error"]
        results.rewrite(records)
    errors = sum(r.status == "error" for r in records)
    stages, spend = reusable_stages(records, conditions), recorded_spend(records)
    return _Resumed({r.key for r in records}, len(records), errors, stages, spend)


def _todo(samples: list[Sample], conditions: list[Arm], done: set[CellKey]) -> Todo:
    todo = [(s, [c for c in conditions if (s.id, *c) not in done]) for s in samples]
    return [(s, cs) for s, cs in todo if cs]


async def _execute(
    run: _Run,
    manifest: dict[str, Any],
    dataset: Dataset,
    *,
    retry_errors: bool,
    progress: bool | None,
    policy: str,
) -> RunOutcome:
    """Write the manifest, work out the cells still to do and judge them."""
    config, run_dir = run.config, run.run_dir
    samples = config.select(dataset)
    results = run_dir.open_results()
    run.committer = Committer(results)
    try:
        conditions = config.arms()
        resumed = _resume(results, retry_errors, conditions)
        run.stages = resumed.stages
        if run.meter is not None:
            run.meter.start_from(*resumed.spend)
        run.donors = donors(dataset.samples, config.seed) if "shuffled" in config.controls else {}
        total = len(samples) * len(conditions)
        write_manifest(run_dir, manifest, total)
        run_dir.write_samples((s, chosen_position(s.id, config.seed)) for s in samples)
        todo = _todo(samples, conditions, resumed.done)
        outcome = RunOutcome(
            run_dir.path, total, total - sum(len(cs) for _, cs in todo), issues=dataset.issues, fields=dataset.fields
        )
        outcome.repaired_partial_line, outcome.quarantined = results.repaired, list(results.quarantined)
        outcome.notes = [*dataset.notes, *config.sampling_notes()]
        with Progress(total, outcome.already_done, progress, policy=policy, seed=config.seed) as bar:
            run.progress = bar
            try:
                await _drain(run, todo, config.concurrency)
            finally:
                outcome.done, outcome.errors = run.done, run.errors
        outcome.records, outcome.error_records = resumed.records + run.done, resumed.errors + run.errors
        if isinstance(run.backend, CachedBackend):
            outcome.cache_hits, outcome.cache_misses = run.backend.hits, run.backend.misses
        return outcome
    finally:
        try:
            await run.committer.idle()
        finally:
            results.close()


async def _drain(run: _Run, todo: Todo, concurrency: int) -> None:
    """`concurrency` workers pull samples (each opens its media once, for all of its conditions)."""
    queue: asyncio.Queue[tuple[Sample, list[Arm]]] = asyncio.Queue()
    for item in todo:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            sample, conditions = queue.get_nowait()
            await run.run_sample(sample, conditions)

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
    "invalid_policy",
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
