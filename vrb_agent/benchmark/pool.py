"""Opened media for a benchmark run, bounded so memory stays flat however many samples there are.

A decoder handle is the expensive part of a sample (a live decord reader holds ~200 MB of decoded
frames ahead of the one asked for), so the pool keeps open only the media samples are using now plus
a few idle ones (consecutive samples often ask about the same video), and closes a medium as soon as
it leaves the pool. Open handles are therefore at most `concurrency + idle`, never one per sample.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vrb_agent.tools.media import Media


@dataclass
class _Entry:
    opening: asyncio.Future[Media]
    users: int = 0


class MediaPool:
    """Media by path, shared by every sample and cell that uses the file at the same time or soon
    after; an idle medium beyond the `idle` most recent is closed (its decoder and buffers freed)."""

    def __init__(self, opener: Callable[[Path], Media], idle: int = 2) -> None:
        self.opener = opener
        self.idle = idle
        self._entries: dict[Path, _Entry] = {}
        self._idle: OrderedDict[Path, None] = OrderedDict()  # unused entries, least recent first
        self.opens = 0
        self.closes = 0
        self.peak_open = 0

    @property
    def open_count(self) -> int:
        """Media opened (or opening) and not yet closed."""
        return len(self._entries)

    async def acquire(self, path: Path) -> Media:
        """The opened media for `path`, counted as in use until `release(path)`; raises what
        opening raised (and then needs no release)."""
        entry = self._entries.get(path)
        if entry is None:
            entry = _Entry(asyncio.ensure_future(asyncio.to_thread(self.opener, path)))
            self._entries[path] = entry
            self.opens += 1
            self.peak_open = max(self.peak_open, len(self._entries))
        self._idle.pop(path, None)
        entry.users += 1
        try:
            return await asyncio.shield(entry.opening)
        except BaseException:
            self.release(path)
            raise

    def release(self, path: Path) -> None:
        """One user is done with `path`; the last one makes it idle (or closes it, see `idle`)."""
        entry = self._entries[path]
        entry.users -= 1
        if entry.users == 0:
            self._set_idle(path, entry)

    def _set_idle(self, path: Path, entry: _Entry) -> None:
        """Keep a usable medium for the next sample; drop failures and what exceeds `idle`."""
        if entry.opening.done() and not _opened(entry.opening):
            del self._entries[path]
            return
        self._idle[path] = None
        while len(self._idle) > self.idle:
            oldest, _ = self._idle.popitem(last=False)
            self._close(oldest)

    def _close(self, path: Path) -> None:
        opening = self._entries.pop(path).opening
        if opening.done():
            self._close_opened(opening)
        else:  # its opener was cancelled mid-open: close it once the thread is done
            opening.add_done_callback(self._close_opened)

    def _close_opened(self, opening: asyncio.Future[Media]) -> None:
        """Close in a worker thread: a decoder's teardown and the heap trim take milliseconds that
        the event loop (hundreds of model calls in flight) should not wait for."""
        if _opened(opening):
            self.closes += 1
            asyncio.get_running_loop().run_in_executor(None, _close_and_trim, opening.result())

    def close(self) -> None:
        """Close every idle medium (at the end of a run; media in use are closed by their users)."""
        while self._idle:
            oldest, _ = self._idle.popitem(last=False)
            self._close(oldest)


def _opened(opening: asyncio.Future[Media]) -> bool:
    return opening.done() and not opening.cancelled() and opening.exception() is None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None  # glibc only


def _close_and_trim(media: Media) -> None:
    """Close the decoder, then give freed heap memory back to the OS: glibc keeps what a decoder
    freed (frame buffers allocated by several threads) in its arenas, and without the trim a bench's
    RSS grows by hundreds of MB per video judged although nothing holds that memory any more."""
    media.close()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
