"""Anthropic backend through the real `anthropic` SDK against a loopback Messages API server."""

from __future__ import annotations

import pytest

from tests.fakes.anthropic_fake import anthropic_server, error, message, tool_use
from tests.fakes.conversation import FRAME_SIZE, TOOL_NAMES, ZOOM_SIZE, build_conversation, decoded_size
from tests.fakes.server import Reply
from vrb_agent.judges.anthropic import AnthropicBackend
from vrb_agent.judges.base import AuthError, BackendError, ConfigError, Message, ModelRequest, TextPart
from vrb_agent.judges.registry import get_backend

SECRET = "fake-anthropic-key-SECRET-0123456789"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def backend(url: str, **options: str) -> AnthropicBackend:
    backend = get_backend("anthropic", base_url=url, retry_base_s="0.001", **options)
    assert isinstance(backend, AnthropicBackend)
    return backend


def simple_request(text: str = "hello") -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", parts=[TextPart(text=text)])])


def image_sizes(blocks: list[dict]) -> list[tuple[int, int]]:
    return [decoded_size(b["source"]["data"]) for b in blocks if b["type"] == "image"]


async def test_conversation_translation_on_the_wire() -> None:
    convo = build_conversation()
    with anthropic_server([message("ok")]) as server:
        await backend(server.url).complete(convo.request)
    (sent,) = server.requests
    assert SECRET in (sent.headers.get("x-api-key"), sent.headers.get("authorization", "").removeprefix("Bearer "))
    body = sent.json
    assert body["model"] == "claude-sonnet-5-5"
    assert body["system"] == "You are a careful judge."
    assert body["max_tokens"] == 512
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user", "assistant", "user"]

    first = body["messages"][0]["content"]
    assert image_sizes(first) == [FRAME_SIZE, FRAME_SIZE]
    assert all(b["source"]["media_type"] == "image/jpeg" for b in first if b["type"] == "image")
    assert [b["text"] for b in first if b["type"] == "text"][1:] == ["frame t=1.00s", "frame t=3.00s"]

    assistant = body["messages"][1]["content"]
    assert assistant[0] == {"type": "text", "text": "I will look closer."}
    assert [(b["id"], b["name"], b["input"]) for b in assistant[1:]] == [
        ("call_sel", "select_frames", {"timestamps": [2.0, 4.0]}),
        ("call_bad", "reexamine_clip", {"start": 3.0, "end": 1.0}),
    ]
    results = body["messages"][2]["content"]
    assert [(b["type"], b["tool_use_id"], b["is_error"]) for b in results] == [
        ("tool_result", "call_sel", False),
        ("tool_result", "call_bad", True),
    ]
    assert image_sizes(results[0]["content"]) == [FRAME_SIZE, FRAME_SIZE]  # images inside the tool result
    assert results[0]["content"][0] == {"type": "text", "text": "2 frames"}
    zoom = body["messages"][4]["content"][0]
    assert zoom["tool_use_id"] == "call_zoom" and image_sizes(zoom["content"]) == [ZOOM_SIZE]

    assert [t["name"] for t in body["tools"]] == TOOL_NAMES
    assert body["tools"][1]["input_schema"] == convo.request.tools[1].parameters
    assert body["tool_choice"] == {"type": "auto"}
    assert "temperature" not in body


@pytest.mark.parametrize(
    ("choice", "wire"),
    [("none", {"type": "none"}), ("required", {"type": "any"}), ("zoom", {"type": "tool", "name": "zoom"})],
)
async def test_tool_choice_mapping(choice: str, wire: dict) -> None:
    request = build_conversation(second_round=False).request.model_copy(update={"tool_choice": choice})
    with anthropic_server([message("ok")]) as server:
        await backend(server.url).complete(request)
    assert server.requests[0].json["tool_choice"] == wire


async def test_a_user_note_after_tool_results_joins_their_message() -> None:
    convo = build_conversation(second_round=False)
    convo.request.messages.append(Message(role="user", parts=[TextPart(text="One turn left."), TextPart(text=" ")]))
    with anthropic_server([message("ok")]) as server:
        await backend(server.url).complete(convo.request)
    last = server.requests[0].json["messages"][-1]
    assert last["role"] == "user"
    assert [b["type"] for b in last["content"]] == ["tool_result", "tool_result", "text"]


async def test_reply_tool_calls_usage_cost_and_malformed_input() -> None:
    calls = [
        tool_use("toolu_1", "zoom", {"timestamp": 2.2, "box": [0, 0, 500, 500]}),
        tool_use("toolu_2", "zoom", "{x"),
    ]
    with anthropic_server([message("Zooming.", calls, usage=(3000, 80))]) as server:
        reply = await backend(server.url).complete(build_conversation().request)
    assert reply.stop_reason == "tool_calls" and reply.text == "Zooming."
    assert [(c.id, c.name) for c in reply.tool_calls] == [("toolu_1", "zoom"), ("toolu_2", "zoom")]
    assert reply.tool_calls[0].arguments == {"timestamp": 2.2, "box": [0, 0, 500, 500]}
    assert reply.tool_calls[1].arguments == {} and reply.tool_calls[1].parse_error
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.images) == (3000, 80, 5)
    assert reply.usage.cost_usd == pytest.approx((3000 * 2.0 + 80 * 10.0) / 1e6)
    assert reply.model == "claude-sonnet-5-5" and reply.latency_s > 0


async def test_429_retried_honouring_retry_after_and_overload_retried() -> None:
    replies = [
        error(429, "rate", kind="rate_limit_error", headers={"retry-after": "0.3"}),
        error(529, "busy"),
        message("ok"),
    ]
    with anthropic_server(replies) as server:
        reply = await backend(server.url).complete(simple_request())
    assert reply.text == "ok" and len(server.requests) == 3
    assert server.requests[1].time - server.requests[0].time >= 0.3


async def test_401_and_403_are_not_retried() -> None:
    for status in (401, 403):
        with anthropic_server([error(status, f"invalid x-api-key {SECRET}")] * 2) as server:
            with pytest.raises(AuthError, match="ANTHROPIC_API_KEY") as info:
                await backend(server.url).complete(simple_request())
        assert len(server.requests) == 1
        assert SECRET not in str(info.value)


async def test_refusal_and_truncation_and_empty_content() -> None:
    replies = [message("I won't judge this.", stop_reason="refusal"), message("Overall", stop_reason="max_tokens")]
    replies.append(Reply(200, {**message().body, "content": []}))
    with anthropic_server(replies) as server:
        judge = backend(server.url)
        refused = await judge.complete(simple_request())
        cut = await judge.complete(simple_request())
        empty = await judge.complete(simple_request())
    assert (refused.stop_reason, refused.text) == ("refusal", "I won't judge this.")
    assert (cut.stop_reason, cut.text) == ("length", "Overall")
    assert (empty.stop_reason, empty.text, empty.tool_calls) == ("end", "", [])


async def test_image_limit_is_enforced_before_sending() -> None:
    convo = build_conversation()
    with anthropic_server([message("ok")]) as server:
        with pytest.raises(BackendError, match="over the limit of 3"):
            await backend(server.url, max_images="3").complete(convo.request)
    assert server.requests == []
    assert backend("http://127.0.0.1:9", max_images="500").capabilities().max_images_per_request == 100
    assert backend("http://127.0.0.1:9").capabilities().images_in_tool_results is True


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        get_backend("anthropic")


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
    judge = get_backend("anthropic", model="claude-haiku-4-5")
    assert judge.base_url == "http://127.0.0.1:1" and judge.model == "claude-haiku-4-5"
    assert SECRET not in repr(judge)
