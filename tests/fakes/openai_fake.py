"""OpenAI Chat Completions (`POST /v1/chat/completions`) on a loopback server."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from tests.fakes.server import FakeServer, Policy, Recorded, Reply, scripted


def _route(server: FakeServer, request: Recorded) -> Reply | None:
    if request.method == "POST" and request.path.rstrip("/").endswith("/v1/chat/completions"):
        server.record(request)
        return server.policy(request)
    return None


def openai_server(replies: Sequence[Reply] | Policy) -> FakeServer:
    """Base URL for the SDK: `server.url + "/v1"`."""
    return FakeServer(_route, scripted(replies))


def tool_call(call_id: str, name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    """A tool call as the API returns it (arguments are a JSON string, possibly malformed)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": raw}}


def completion(
    text: str | None = None,
    calls: Sequence[dict[str, Any]] = (),
    *,
    finish_reason: str | None = None,
    refusal: str | None = None,
    model: str = "gpt-fake",
    usage: tuple[int, int] = (1000, 50),
    extra_choices: Sequence[str] = (),
    reasoning: str | None = None,
) -> Reply:
    """A 200 chat.completion; `extra_choices` add text-only choices (for n > 1); `reasoning` is what
    a vLLM server with `--reasoning-parser` returns beside the content."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": refusal}
    if reasoning is not None:
        message["reasoning"] = reasoning
    if calls:
        message["tool_calls"] = list(calls)
    reason = finish_reason or ("tool_calls" if calls else "stop")
    choices = [{"index": 0, "message": message, "finish_reason": reason, "logprobs": None}]
    for i, extra in enumerate(extra_choices, start=1):
        choices.append(
            {"index": i, "message": {"role": "assistant", "content": extra}, "finish_reason": "stop", "logprobs": None}
        )
    body = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
    }
    return Reply(200, body)


def error(status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    """An API error body in OpenAI's shape."""
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return Reply(status, body, headers or {})
