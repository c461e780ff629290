"""`report` over shards: RUN_DIRs that are shards of one configuration are summarized as one run,
as if one machine had judged every sample; shards whose configurations differ are refused with a
message that names the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.config import identity_hash
from vrb_agent.benchmark.manifest import differences
from vrb_agent.benchmark.metrics import Record, condition_of, read_results, summarize
from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.benchmark.shards import Shard
from vrb_agent.benchmark.summary import RunSummary
from vrb_agent.errors import VrbError


class ShardError(VrbError):
    """Shards that cannot be merged (other configurations, a shard given twice); CLI exit 2."""


@dataclass(frozen=True)
class ReportedRun:
    """A RUN_DIR given to `report`: its run.json and, when it is one, its shard."""

    path: Path
    manifest: dict[str, Any]
    shard: Shard | None

    @property
    def data(self) -> str:
        return str((self.manifest.get("config") or {}).get("data", ""))

    @property
    def base_identity(self) -> dict[str, Any]:
        """The identity without the shard: what every shard of one configuration shares."""
        return {k: v for k, v in (self.manifest.get("identity") or {}).items() if k != "shard"}


def _read_run_dir(path: Path) -> ReportedRun:
    manifest = RunDir(path).read_manifest() or {}
    shard = (manifest.get("identity") or {}).get("shard")
    return ReportedRun(path, manifest, Shard.parse(shard) if shard else None)


def group_runs(run_dirs: Sequence[Path]) -> list[list[ReportedRun]]:
    """The runs to report, in the order given: each unsharded RUN_DIR alone, the shards of one
    configuration together. Refuses shards that cannot belong together (see `_check_groups`)."""
    groups: dict[str, list[ReportedRun]] = {}
    for path in run_dirs:
        run = _read_run_dir(path)
        key = f"shards:{identity_hash(run.base_identity)}" if run.shard else f"run:{len(groups)}"
        groups.setdefault(key, []).append(run)
    _check_groups([g for g in groups.values() if g[0].shard is not None])
    return list(groups.values())


def _check_groups(shard_groups: list[list[ReportedRun]]) -> None:
    """One configuration's shards: one shard count, each index at most once. Several sets of shards
    side by side must each be complete; otherwise they are taken for one run's shards that differ."""
    for group in shard_groups:
        counts = sorted({run.shard.count for run in group if run.shard})
        if len(counts) > 1:
            raise ShardError(f"shards of one configuration were split in different counts ({counts}): " + _where(group))
        seen: dict[int, Path] = {}
        for run in group:
            assert run.shard is not None
            if run.shard.index in seen:
                raise ShardError(f"shard {run.shard} is given twice: {seen[run.shard.index]} and {run.path}")
            seen[run.shard.index] = run.path
    incomplete = [g for g in shard_groups if not _complete(g)]
    if len(shard_groups) > 1 and incomplete:
        one = incomplete[0][0]
        other = next(g[0] for g in shard_groups if g[0] is not one)
        raise ShardError(
            f"{one.path} (shard {one.shard}) and {other.path} (shard {other.shard}) are shards of different "
            f"configurations ({differences(one.base_identity, other.base_identity, one.data) or 'run.json'}); "
            "report the shards of one configuration together"
        )
    for group in shard_groups:
        _check_same_cells(group)


def _check_same_cells(group: list[ReportedRun]) -> None:
    """Shards merge into one run only when each judged the same cells (modes x frames x k)."""
    cells = {run.path: {condition_of(r) for r in read_results(RunDir(run.path).results)} for run in group}
    first = group[0].path
    for run in group[1:]:
        if cells[run.path] != cells[first]:
            differ = sorted(cells[first] ^ cells[run.path], key=lambda c: (c.mode, c.frames, c.k, c.control or ""))
            extra = ", ".join(
                f"{c.mode} frames={c.frames} k={c.k}{f' {c.control}' if c.control else ''}" for c in differ
            )
            raise ShardError(
                f"{first} and {run.path} are shards that judged different cells ({extra} in only one); "
                "run every shard with the same --modes, --frames and --k"
            )


def _complete(group: list[ReportedRun]) -> bool:
    count = group[0].shard.count if group[0].shard else 1
    return {run.shard.index for run in group if run.shard} == set(range(1, count + 1))


def _where(group: list[ReportedRun]) -> str:
    return ", ".join(f"{run.path} ({run.shard})" for run in group)


def summarize_group(group: list[ReportedRun], invalid_policy: str, *, n_boot: int, seed: int) -> RunSummary:
    """One run's summary: a RUN_DIR's own, or the shards' records summarized as one run."""
    if group[0].shard is None:
        return summarize(group[0].path, invalid_policy, n_boot=n_boot, seed=seed)
    records = [r for run in group for r in read_results(RunDir(run.path).results)]
    identity = group[0].base_identity
    shards = {"count": group[0].shard.count, "indices": sorted(r.shard.index for r in group if r.shard)}
    run = {
        **group[0].manifest,
        "identity": identity,
        "identity_hash": identity_hash(identity),
        "shards": {**shards, "complete": _complete(group), "run_dirs": [str(r.path) for r in group]},
    }
    summary = summarize(records, invalid_policy, n_boot=n_boot, seed=seed)
    return summary.model_copy(
        update={"run_dir": str(group[0].path), "run_dirs": [str(r.path) for r in group], "run": run}
    )


def run_records(summary: RunSummary) -> list[Record]:
    """The records behind a run's summary: its RUN_DIR's, or all of its shards'."""
    return [r for d in summary.dirs for r in read_results(RunDir(d).results)]


def summarize_runs(
    run_dirs: Sequence[Path], invalid_policy: str, *, n_boot: int = 2000, seed: int = 0
) -> list[RunSummary]:
    """The summaries `report` shows side by side, shards of one configuration merged into one."""
    return [summarize_group(g, invalid_policy, n_boot=n_boot, seed=seed) for g in group_runs(run_dirs)]
