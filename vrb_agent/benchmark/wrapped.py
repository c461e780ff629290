"""A backend that wraps another for the runner (failure watch, spend meter): it passes the model's
identity, capabilities and closing through to `inner` and overrides only `complete`."""

from __future__ import annotations

from typing import Any

from vrb_agent.judges.base import Backend, Capabilities


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
