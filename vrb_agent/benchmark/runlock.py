"""One writer per RUN_DIR: `bench` holds an advisory lock on RUN_DIR/bench.lock for the whole run.

The lock is an flock(2) on the file, so the kernel releases it when the holder dies, even by SIGKILL:
a lock file left behind by a killed run is stale by construction and the next run takes it over.
The file's content (pid, host, start time) is only there to name the holder in the refusal.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from vrb_agent.benchmark.rundir import RunDir
from vrb_agent.errors import VrbError


class RunLockedError(VrbError):
    """Another `bench` is writing this RUN_DIR (CLI exit 6)."""


def describe_holder(path: Path) -> str:
    """'pid 123 on host h since 2026-01-01T00:00:00+00:00' from a lock file, as well as it can be read."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {holder['pid']} on host {holder['host']} since {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not written its pid yet"


class RunLock:
    """`with RunLock(run_dir):` refuses with RunLockedError while another process holds the lock."""

    def __init__(self, run_dir: Path) -> None:
        self.path = RunDir(run_dir).lock
        self._fd: int | None = None

    def acquire(self) -> None:
        for _ in range(10):  # the holder may unlink the file between our open and our flock: retry
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLockedError(
                    f"{self.path.parent} is being written by another `vrb-agent bench` "
                    f"({describe_holder(self.path)}); wait for it to finish or use another --out"
                ) from None
            if self._is_current(fd):
                self._fd = fd
                self._write_holder()
                return
            os.close(fd)
        raise RunLockedError(f"{self.path}: could not take the run lock (it keeps being replaced)")

    def _is_current(self, fd: int) -> bool:
        """True when `fd` is still the file at self.path (not one a releasing holder just unlinked)."""
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def _write_holder(self) -> None:
        assert self._fd is not None
        started = datetime.now(UTC).isoformat(timespec="seconds")
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}) + "\n"
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # still locked here, so no other process can be holding this inode
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
