"""Hermes-style tool calls written as text: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`.

Qwen models (in-process, or behind a vLLM server without a tool parser) emit their calls this way.
Model text is unreliable, so parsing is tolerant: several calls, a missing closing tag (truncated
output), malformed JSON. A block that cannot be read still becomes a `ToolCall` with `parse_error`
set, so the judge graph answers it with a corrective tool error instead of silently dropping it.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from vrb_agent.judges.base import ToolCall

OPEN_TAG = "<tool_call>"
CLOSE_TAG = "</tool_call>"
_NAME_RE = re.compile(r'"name"\s*:\s*"([^"]+)"')


def parse_hermes_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split model text into (the text outside tool-call blocks, the calls in order)."""
    calls: list[ToolCall] = []
    kept: list[str] = []
    position = 0
    while True:
        start = text.find(OPEN_TAG, position)
        if start < 0:
            kept.append(text[position:])
            break
        kept.append(text[position:start])
        body_start = start + len(OPEN_TAG)
        end = text.find(CLOSE_TAG, body_start)
        truncated = end < 0
        body = text[body_start:] if truncated else text[body_start:end]
        calls.append(_call_from_body(body, truncated))
        if truncated:
            break
        position = end + len(CLOSE_TAG)
    remaining = "".join(kept).replace(CLOSE_TAG, "")
    return remaining.strip(), calls


def _call_from_body(body: str, truncated: bool) -> ToolCall:
    """One block's JSON as a ToolCall; unreadable blocks keep a name guess and a parse error."""
    call_id = f"call_{uuid.uuid4().hex[:12]}"
    payload, error = _load_json_object(body)
    if payload is None:
        name_match = _NAME_RE.search(body)
        note = " (output ended before </tool_call>)" if truncated else ""
        return ToolCall(
            id=call_id,
            name=name_match.group(1) if name_match else "",
            parse_error=f"tool call is not valid JSON{note}: {error}; body was {_clip(body)}",
        )
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        return ToolCall(id=call_id, name="", parse_error=f'tool call has no "name": {_clip(body)}')
    arguments = payload.get("arguments", payload.get("parameters", {}))
    if isinstance(arguments, str):
        arguments, error = _load_json_object(arguments) if arguments.strip() else ({}, None)
        if arguments is None:
            return ToolCall(id=call_id, name=name, parse_error=f"arguments of {name!r} are not a JSON object: {error}")
    if not isinstance(arguments, dict):
        return ToolCall(id=call_id, name=name, parse_error=f"arguments of {name!r} must be a JSON object")
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _load_json_object(body: str) -> tuple[dict[str, Any] | None, str | None]:
    """The first JSON object in `body` (text around it is ignored), or None and the reason."""
    brace = body.find("{")
    if brace < 0:
        return None, "no JSON object found"
    try:
        value, _ = json.JSONDecoder().raw_decode(body[brace:])
    except json.JSONDecodeError as exc:
        return None, exc.msg + f" at char {exc.pos}"
    if not isinstance(value, dict):
        return None, "expected a JSON object"
    return value, None


def _clip(text: str, limit: int = 200) -> str:
    text = text.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")
