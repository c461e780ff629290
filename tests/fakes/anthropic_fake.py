"""Anthropic Messages API (`POST /v1/messages`) on a loopback server."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.fakes.server import FakeServer, Policy, Recorded, Reply, scripted


def _route(server: FakeServer, request: Recorded) -> Reply | None:
    if request.method == "POST" and request.path.split("?")[0].rstrip("/").endswith("/v1/messages"):
        server.record(request)
        return server.policy(request)
    return None


def anthropic_server(replies: Sequence[Reply] | Policy) -> FakeServer:
    """Base URL for the SDK: `server.url` (the SDK appends /v1/messages)."""
    return FakeServer(_route, scripted(replies))


def tool_use(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """A tool_use block; `arguments` is normally a dict (a string simulates a malformed input)."""
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def message(
    text: str | None = None,
    calls: Sequence[dict[str, Any]] = (),
    *,
    stop_reason: str | None = None,
    model: str = "claude-sonnet-5-5",
    usage: tuple[int, int] = (1500, 60),
) -> Reply:
    """A 200 Messages API response."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text is not None else []
    content.extend(calls)
    body = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if calls else "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }
    return Reply(200, body)


def error(status: int, message: str, *, kind: str = "api_error", headers: dict[str, str] | None = None) -> Reply:
    """An API error body in Anthropic's shape."""
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}}, headers or {})
