"""The real local Qwen backend, recording each request and reply, for tests that follow a conversation."""

from __future__ import annotations

from vrb_agent.judges.base import ModelReply, ModelRequest
from vrb_agent.judges.qwen import QwenBackend


class RecordingQwen(QwenBackend):
    """The real backend, keeping each request and reply so a test can follow the conversation."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.exchanges: list[tuple[ModelRequest, ModelReply]] = []

    async def complete(self, request: ModelRequest) -> ModelReply:
        reply = await super().complete(request)
        self.exchanges.append((request, reply))
        return reply
