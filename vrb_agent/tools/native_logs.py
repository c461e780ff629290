"""Keeping decoder libraries quiet: their C-level log lines would scramble a progress bar, and every
failure already becomes one `MediaError` naming the file."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_QUIET = False


def quiet_native_logs() -> None:
    """Silence FFmpeg/OpenCV/decord logging to stderr, once per process: their lines would
    scramble a progress bar, and every failure already becomes a `MediaError` naming the file."""
    global _QUIET  # noqa: PLW0603 - one switch for the process, as the libraries' own levels are
    if _QUIET:
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET for OpenCV's bundled FFmpeg
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    try:
        import cv2.utils.logging  # noqa: PLC0415

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except ImportError:
        pass
    try:
        import av.logging  # noqa: PLC0415

        av.logging.set_level(None)  # no Python log handler, and FFmpeg's own printing off
    except ImportError:
        pass
    _QUIET = True


_NATIVE_LINE = re.compile(rb"^\[\d\d:\d\d:\d\d\] \S+\.(cc|h|cpp):\d+: ")


class _HeldStderr:
    """File descriptor 2 pointed at a temporary file while any thread is inside a native call that
    logs with no level switch; shared, so such calls on several threads still run in parallel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = -1
        self._held: object = None

    def enter(self) -> None:
        with self._lock:
            if self._depth == 0:
                sys.stderr.flush()
                self._held = tempfile.TemporaryFile()
                self._saved = os.dup(2)
                os.dup2(self._held.fileno(), 2)
            self._depth += 1

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            sys.stderr.flush()
            os.dup2(self._saved, 2)
            os.close(self._saved)
            held = self._held
            held.seek(0)  # type: ignore[attr-defined]
            kept = b"".join(line for line in held if not _NATIVE_LINE.match(line))  # type: ignore[attr-defined]
            held.close()  # type: ignore[attr-defined]
            if kept:
                os.write(2, kept)


_HELD_STDERR = _HeldStderr()


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hold back C-level stderr around a native call that logs with no level switch (decord's own
    "ERROR opening ..." lines). What other threads wrote meanwhile is passed on afterwards; only
    lines in the native log format are dropped."""
    _HELD_STDERR.enter()
    try:
        yield
    finally:
        _HELD_STDERR.leave()


def quiet_decord() -> None:
    """decord carries its own FFmpeg; its log level is separate (imported only when used)."""
    import decord  # noqa: PLC0415

    decord.logging.set_level(decord.logging.QUIET)


_DECORD_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: (Check failed: .*?ERROR )?")


def short_reason(exc: BaseException) -> str:
    """One plain line from a decoder exception: no source paths, log prefixes or tracebacks."""
    lines = str(exc).strip().splitlines()
    first = _DECORD_PREFIX.sub("", lines[0] if lines else "")
    return first[:160] or exc.__class__.__name__
