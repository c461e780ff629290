"""Hermes-style tool calls written as text: `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`.

Qwen2.5-VL / Qwen3-VL emit this format (their chat templates teach it). An OpenAI-compatible
server started without a tool parser returns it as plain text, and the local `qwen` backend always
gets text, so both parse it here. Malformed blocks become `ToolCall(parse_error=...)`, never an
exception, so the judge can be told how to call the tool correctly.
"""

from __future__ import annotations

import json
import re
from typing import Any

from vrb_agent.judges.base import ToolCall, new_call_id, parse_tool_arguments

# A closed block, or an unclosed one running to the end of a truncated reply.
_BLOCK = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|\Z)", re.DOTALL)
_NAME = re.compile(r'"name"\s*:\s*"([^"]+)"')


def _call_from_block(body: str) -> ToolCall:
    """One `<tool_call>` body -> a ToolCall (with `parse_error` when it is not usable)."""
    try:
        payload: Any = json.loads(body)
    except json.JSONDecodeError as exc:
        guess = _NAME.search(body)
        return ToolCall(
            id=new_call_id(),
            name=guess.group(1) if guess else "",
            parse_error=f"tool call is not valid JSON ({exc.msg} at char {exc.pos}): {body[:200]!r}",
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("name"), str) or not payload["name"]:
        return ToolCall(
            id=new_call_id(),
            name="",
            parse_error=f'tool call must be {{"name": "<tool>", "arguments": {{...}}}}, got {body[:200]!r}',
        )
    raw_arguments = payload.get("arguments", payload.get("parameters"))
    arguments, error = parse_tool_arguments(raw_arguments)
    return ToolCall(id=new_call_id(), name=payload["name"], arguments=arguments, parse_error=error)


def parse_hermes_tool_calls(text: str) -> tuple[str, list[ToolCall]]:
    """Split model text into (text without the tool-call blocks, the tool calls in order).

    Text without any `<tool_call>` tag is returned unchanged with no calls.
    """
    if "<tool_call>" not in text:
        return text, []
    calls = [_call_from_block(match.group(1)) for match in _BLOCK.finditer(text)]
    remaining = _BLOCK.sub("", text).strip()
    return remaining, calls
