"""A backend that replays scripted replies: the test model for the graph, examples and CI."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from vrb_agent.errors import VrbError
from vrb_agent.judges.base import Backend, Capabilities, ModelReply, ModelRequest

Policy = Callable[[ModelRequest], ModelReply]


class ScriptExhaustedError(VrbError):
    """The script ran out of replies: the graph asked for more calls than the test planned."""


class ScriptedBackend(Backend):
    """Answers each request with the next scripted reply, or with `policy(request)`.

    Every request is recorded in `requests` so tests can check what the model was sent.
    """

    name = "scripted"

    def __init__(
        self,
        replies: Sequence[ModelReply] | Policy | None = None,
        model: str = "scripted",
        capabilities: Capabilities | None = None,
        **_: Any,
    ) -> None:
        super().__init__(model)
        self._policy: Policy | None = replies if callable(replies) else None
        self._replies = list(replies) if replies is not None and not callable(replies) else []
        self._caps = capabilities or Capabilities()
        self.requests: list[ModelRequest] = []

    def capabilities(self) -> Capabilities:
        return self._caps

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        if self._policy is not None:
            reply = self._policy(request)
        elif self._replies:
            reply = self._replies.pop(0)
        else:
            raise ScriptExhaustedError(f"scripted backend has no reply left for call {len(self.requests)}")
        return reply.model_copy(update={"model": reply.model or self.model})
