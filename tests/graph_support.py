"""Helpers for the judge-graph tests: scripted replies and a transcript well-formedness check."""

from __future__ import annotations

import itertools
from typing import Any

from vrb_agent.judges.base import Message, ModelReply, ModelRequest, ToolCall

_ids = itertools.count(1)


def call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(id=f"call-{next(_ids)}", name=name, arguments=arguments)


def tools(*calls: ToolCall) -> ModelReply:
    return ModelReply(tool_calls=list(calls), stop_reason="tool_calls")


def submit(preferred: str = "A", confidence: float = 0.8, **extra: Any) -> ModelReply:
    args = {"preferred": preferred, "confidence": confidence, "rationale": "seen", "evidence": [], **extra}
    return tools(call("submit_verdict", **args))


def text(content: str, stop_reason: str = "end") -> ModelReply:
    return ModelReply(text=content, stop_reason=stop_reason)


def assert_well_formed(request: ModelRequest) -> None:
    """Every tool call answered exactly once, in order, by the tool message right after it;
    tool messages only answer the assistant message before them; the request ends on a user turn."""
    messages: list[Message] = request.messages
    assert messages[0].role == "user"
    for index, message in enumerate(messages):
        if message.role == "assistant" and message.tool_calls:
            assert index + 1 < len(messages), "unanswered tool calls at the end of the request"
            answer = messages[index + 1]
            assert answer.role == "tool"
            assert [r.call_id for r in answer.tool_results] == [c.id for c in message.tool_calls]
            assert [r.name for r in answer.tool_results] == [c.name for c in message.tool_calls]
        if message.role == "tool":
            previous = messages[index - 1]
            assert previous.role == "assistant"
            assert previous.tool_calls
            assert not message.parts, "tool messages carry their content inside tool_results"
    assert messages[-1].role in ("user", "tool")
    ids = [c.id for m in messages for c in m.tool_calls]
    assert len(ids) == len(set(ids))


def image_labels(request: ModelRequest) -> list[str]:
    """Labels of the images a request carries, in order (inside tool results too)."""
    labels = []
    for message in request.messages:
        parts = list(message.parts)
        for result in message.tool_results:
            parts += result.parts
        labels += [p.label for p in parts if p.type == "image"]
    return labels
