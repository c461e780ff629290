"""A backend that wraps another for the runner (failure watch, spend meter, a cell's usage tally): it
passes the model's identity, capabilities and closing through to `inner` and overrides `complete`."""

from __future__ import annotations

from typing import Any

from vrb_agent.judges.base import Backend, Capabilities, ModelReply, ModelRequest, Usage


class WrappedBackend(Backend):
    """The pass-through part of a wrapper; subclasses implement `complete` around `inner`."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner.model)
        self.inner = inner
        self.name = inner.name

    def capabilities(self) -> Capabilities:
        return self.inner.capabilities()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    async def aclose(self) -> None:
        await self.inner.aclose()


class UsageTally(WrappedBackend):
    """One cell's model calls added up, so that a judgment that raises or times out still records
    what it spent (its record's usage; the spend a resumed `--budget-usd` run starts from)."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.usage = Usage()

    async def complete(self, request: ModelRequest) -> ModelReply:
        reply = await self.inner.complete(request)
        self.usage += reply.usage
        return reply

    async def aclose(self) -> None:
        """Nothing to close: one is made per cell, and the run closes the backend it wraps."""
