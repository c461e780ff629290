"""Group commit of result records from the event loop (see `Committer`)."""

from __future__ import annotations

import asyncio

from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.rundir import ResultsFile


class Committer:
    """Appends records from the event loop without blocking it: writes and fsyncs run in a worker
    thread, one batch at a time, each batch holding every record that arrived meanwhile. `write`
    returns once its record is on disk, so a record counts as done only when it is durable."""

    def __init__(self, results: ResultsFile) -> None:
        self.results = results
        self._pending: list[tuple[ResultRecord, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, record: ResultRecord) -> None:
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
                    self._fail([*batch, *self._pending], exc)
                    if not isinstance(exc, Exception):
                        raise
                    return  # the writers raise it (never "Task exception was never retrieved")
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
        finally:
            self._flusher = None

    def _fail(self, waiting: list[tuple[ResultRecord, asyncio.Future[None]]], exc: BaseException) -> None:
        failed = exc if isinstance(exc, Exception) else asyncio.CancelledError()
        for _, future in waiting:
            if not future.done():
                future.set_exception(failed)
        self._pending = []

    async def idle(self) -> None:
        """Wait until no batch is being written (its errors were given to its writers)."""
        if self._flusher is not None:
            await asyncio.wait([self._flusher])
