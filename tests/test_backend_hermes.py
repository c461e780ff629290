"""Hermes-style `<tool_call>` text parsing shared by the vllm and qwen backends."""

from __future__ import annotations

from vrb_agent.judges.base import parse_tool_arguments
from vrb_agent.judges.hermes import parse_hermes_tool_calls


def test_plain_text_is_untouched() -> None:
    assert parse_hermes_tool_calls("Overall Judgment: Answer A is better.") == (
        "Overall Judgment: Answer A is better.",
        [],
    )


def test_two_blocks_in_order_with_surrounding_text() -> None:
    text = (
        "Let me look closer.\n<tool_call>\n"
        '{"name": "select_frames", "arguments": {"timestamps": [1.5, 2.0]}}\n</tool_call>\n'
        '<tool_call>{"name": "zoom", "arguments": "{\\"timestamp\\": 2.2, \\"box\\": [0, 0, 500, 500]}"}</tool_call>'
    )
    rest, calls = parse_hermes_tool_calls(text)
    assert rest == "Let me look closer."
    assert [c.name for c in calls] == ["select_frames", "zoom"]
    assert calls[0].arguments == {"timestamps": [1.5, 2.0]}
    assert calls[1].arguments == {"timestamp": 2.2, "box": [0, 0, 500, 500]}
    assert all(c.parse_error is None for c in calls)
    assert len({c.id for c in calls}) == 2


def test_invalid_json_keeps_the_name_and_reports_the_error() -> None:
    rest, calls = parse_hermes_tool_calls('<tool_call>{"name": "zoom", "arguments": {"timestamp": 2.2,</tool_call>')
    assert rest == ""
    assert len(calls) == 1
    assert calls[0].name == "zoom"
    assert calls[0].arguments == {}
    assert calls[0].parse_error and "not valid JSON" in calls[0].parse_error


def test_truncated_reply_without_closing_tag() -> None:
    _, calls = parse_hermes_tool_calls('<tool_call>\n{"name": "select_frames", "arguments": {"timestamps": [3]}}')
    assert calls[0].name == "select_frames"
    assert calls[0].arguments == {"timestamps": [3]}
    _, cut = parse_hermes_tool_calls('<tool_call>\n{"name": "select_frames", "argu')
    assert cut[0].name == "select_frames" and cut[0].parse_error


def test_missing_name_or_non_object_arguments() -> None:
    _, calls = parse_hermes_tool_calls('<tool_call>{"arguments": {}}</tool_call><tool_call>[1, 2]</tool_call>')
    assert [c.name for c in calls] == ["", ""]
    assert all(c.parse_error for c in calls)
    _, bad_args = parse_hermes_tool_calls('<tool_call>{"name": "zoom", "arguments": [1, 2]}</tool_call>')
    assert bad_args[0].name == "zoom" and "JSON object" in (bad_args[0].parse_error or "")


def test_parse_tool_arguments() -> None:
    assert parse_tool_arguments('{"a": 1}') == ({"a": 1}, None)
    assert parse_tool_arguments("") == ({}, None)
    assert parse_tool_arguments({"a": 1}) == ({"a": 1}, None)
    args, error = parse_tool_arguments("{'a': 1}")
    assert args == {} and error and "not valid JSON" in error
    args, error = parse_tool_arguments("[1]")
    assert args == {} and error and "JSON object" in error
