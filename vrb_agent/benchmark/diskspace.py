"""Writing into RUN_DIR when the disk may fill up: appends that never leave half a line behind, and
one error type that stops the run with a message saying how to resume (CLI exit 7)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from vrb_agent.errors import VrbError

DISK_FULL = {errno.ENOSPC, errno.EDQUOT}
write = os.write  # the write layer, one name to replace when a test fills the disk


class DiskFullError(VrbError):
    """The disk (or quota) is full: the run stops; what was written is valid and resume works."""


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in DISK_FULL


def disk_full_error(exc: OSError, run_dir: Path) -> DiskFullError:
    where = f" writing {exc.filename}" if exc.filename else ""
    return DiskFullError(
        f"disk full{where} ({exc.strerror}); the run stopped, the results written so far in "
        f"{run_dir / 'results.jsonl'} are intact: free some space and run the same command to resume"
    )


def append_all(fd: int, data: bytes) -> None:
    """Append `data` to the O_APPEND file `fd` completely, or not at all: when a write fails (e.g.
    ENOSPC after a short write) the file is cut back to its old size before the error is raised."""
    start = os.lseek(fd, 0, os.SEEK_END)
    view = memoryview(data)
    try:
        while view:
            written = write(fd, view)
            view = view[written:]
    except OSError:
        os.ftruncate(fd, start)
        raise
