"""run.json and the checks before a run writes into a RUN_DIR: what was measured (the identity and
its hash, with what code and which data), whether an existing RUN_DIR may be resumed, and whether
--out and the selection make sense at all."""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.config import BenchConfig, identity_hash
from vrb_agent.benchmark.datasets import Dataset, DatasetError
from vrb_agent.benchmark.diskspace import disk_full_error, is_disk_full
from vrb_agent.benchmark.fingerprint import annotation_files, data_identity, dataset_fingerprint, prompt_hashes
from vrb_agent.benchmark.records import SECRET_NAME, redact_env
from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend, ConfigError

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


class RunConfigError(ConfigError):
    """The RUN_DIR holds a run with another configuration (CLI exit 3)."""


class OutDirError(VrbError):
    """--out cannot be a RUN_DIR (it names a file, or cannot be created): a usage error (CLI exit 2)."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[name] = importlib.metadata.version(name)
    return versions


def build_manifest(config: BenchConfig, backend: Backend, dataset: Dataset) -> dict[str, Any]:
    """run.json: what was measured (identity + its hash), with what code and which data."""
    identity = config.identity()
    identity["backend"] = backend.name
    identity["model"] = backend.model
    hashes = prompt_hashes(config.protocol)
    identity["prompts"] = hashes.get("prompt_set")
    identity["dataset_fingerprint"] = dataset_fingerprint(dataset)
    files = annotation_files(dataset)
    identity |= data_identity(dataset, files)
    return {
        "identity": identity,
        "identity_hash": identity_hash(identity),
        "config": {**config.model_dump(mode="json"), **{k: identity[k] for k in ("base_url", "backend_options")}},
        "prompt_hashes": hashes,
        "packages": package_versions(),
        "backend": {k: v for k, v in backend.describe().items() if not SECRET_NAME.search(k.upper())},
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
        "command": [redact_env(arg) for arg in sys.argv],
        **({"notes": notes} if (notes := config.sampling_notes()) else {}),
    }


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


def check_run_dir(run_dir: RunDir, manifest: dict[str, Any], force_new: bool) -> None:
    """Refuse to mix configurations in one RUN_DIR; with force_new archive the old results."""
    has_results = run_dir.has_results()
    old = run_dir.read_manifest()
    if old is None and not has_results:
        return
    if old is not None:
        changed = differences(old.get("identity", {}), manifest["identity"], manifest["config"]["data"])
        if old.get("identity_hash") == manifest["identity_hash"] or not changed:
            return
    if not force_new:
        if old is None:
            raise RunConfigError(
                f"{run_dir.results} exists but {run_dir.manifest} is missing or unreadable, so its configuration "
                "is unknown; use another --out or pass --force-new"
            )
        raise RunConfigError(
            f"{run_dir.path} holds a run with another configuration ({changed}); use another --out, "
            "or pass --force-new to archive its results and start over"
        )
    run_dir.archive(datetime.now(UTC).strftime("%Y%m%dT%H%M%S"))


# Identity keys that say what some of a RUN_DIR's records mean: the cascade's escalation rule and the
# shuffled control's media scheme (BenchConfig.identity adds them only while that mode/control runs).
RECORD_MEANING_KEYS = ("cascade", "shuffle")


def keep_record_meaning(run_dir: RunDir, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest a resume writes: one that runs without cascade (or the shuffled control) keeps the
    rule the RUN_DIR's earlier cascade (shuffled) records were made under, so that a later resume
    under another rule is still refused rather than mixing two rules' records."""
    old = (run_dir.read_manifest() or {}).get("identity") or {}
    kept = {k: old[k] for k in RECORD_MEANING_KEYS if k in old and k not in manifest["identity"]}
    if not kept:
        return manifest
    identity = {**manifest["identity"], **kept}
    return {**manifest, "identity": identity, "identity_hash": identity_hash(identity)}


def differences(old: dict[str, Any], new: dict[str, Any], data: str) -> str:
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


def write_manifest(run_dir: RunDir, manifest: dict[str, Any], cells: int) -> None:
    """run.json with the number of cells and when the run was created (kept across resumes) and updated."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    created = (run_dir.read_manifest() or {}).get("created")
    run_dir.write_manifest({**manifest, "cells": cells, "created": created or now, "updated": now})
