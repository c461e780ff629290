"""OpenAI / vLLM backends through the real `openai` SDK against a loopback Chat Completions server."""

from __future__ import annotations

import time

import pytest

from tests.fakes.conversation import FRAME_SIZE, TOOL_NAMES, ZOOM_SIZE, build_conversation, decoded_size
from tests.fakes.openai_fake import completion, error, openai_server, tool_call
from tests.fakes.server import Reply
from vrb_agent.judges.base import (
    AuthError,
    BackendError,
    ConfigError,
    Message,
    ModelRequest,
    RateLimitError,
    RefusalError,
    TextPart,
    TransientError,
    VideoPart,
)
from vrb_agent.judges.openai import OpenAIBackend, VLLMBackend
from vrb_agent.judges.registry import get_backend

SECRET = "fake-openai-key-SECRET-0123456789"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)


def backend(url: str, **options: str) -> OpenAIBackend:
    backend = get_backend("openai", base_url=url + "/v1", retry_base_s="0.001", **options)
    assert isinstance(backend, OpenAIBackend)
    return backend


def simple_request(text: str = "hello", **fields: object) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", parts=[TextPart(text=text)])], **fields)


async def test_conversation_translation_on_the_wire() -> None:
    convo = build_conversation()
    with openai_server([completion("ok")]) as server:
        await backend(server.url, model="gpt-4.1", detail="high").complete(convo.request)
    (sent,) = server.requests
    body = sent.json
    assert sent.headers["authorization"] == f"Bearer {SECRET}"
    assert body["model"] == "gpt-4.1"
    assert body["temperature"] == 0.0 and body["seed"] == 7 and body["max_completion_tokens"] == 512
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool", "user", "assistant", "tool", "user"]
    assert body["messages"][0]["content"] == "You are a careful judge."

    first_user = body["messages"][1]["content"]
    images = [b for b in first_user if b["type"] == "image_url"]
    assert [decoded_size(b["image_url"]["url"]) for b in images] == [FRAME_SIZE, FRAME_SIZE]
    assert all(b["image_url"]["detail"] == "high" for b in images)
    labels = [b["text"] for b in first_user if b["type"] == "text"]
    assert labels[1:] == ["frame t=1.00s", "frame t=3.00s"]

    assistant = body["messages"][2]
    assert assistant["content"] == "I will look closer."
    assert [(c["id"], c["function"]["name"]) for c in assistant["tool_calls"]] == [
        ("call_sel", "select_frames"),
        ("call_bad", "reexamine_clip"),
    ]
    assert assistant["tool_calls"][0]["function"]["arguments"] == '{"timestamps": [2.0, 4.0]}'
    # results answer the calls in order; tool messages are text, images follow in one user message
    assert [m["tool_call_id"] for m in body["messages"][3:5]] == ["call_sel", "call_bad"]
    assert body["messages"][3]["content"].startswith("2 frames")
    assert "end must be greater than start" in body["messages"][4]["content"]
    follow = body["messages"][5]["content"]
    assert follow[0]["text"] == "Images returned by select_frames (call call_sel):"
    assert [decoded_size(b["image_url"]["url"]) for b in follow if b["type"] == "image_url"] == [FRAME_SIZE] * 2
    assert body["messages"][7]["tool_call_id"] == "call_zoom"
    zoom_images = [b for b in body["messages"][8]["content"] if b["type"] == "image_url"]
    assert [decoded_size(b["image_url"]["url"]) for b in zoom_images] == [ZOOM_SIZE]

    assert [t["function"]["name"] for t in body["tools"]] == TOOL_NAMES
    assert body["tools"][0]["function"]["parameters"] == convo.request.tools[0].parameters
    assert body["tool_choice"] == "auto"


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("none", "none"),
        ("required", "required"),
        ("submit_verdict", {"type": "function", "function": {"name": "submit_verdict"}}),
    ],
)
async def test_tool_choice_mapping(choice: str, wire: object) -> None:
    request = build_conversation(second_round=False).request.model_copy(update={"tool_choice": choice})
    with openai_server([completion("ok")]) as server:
        await backend(server.url).complete(request)
    assert server.requests[0].json["tool_choice"] == wire


async def test_reply_tool_calls_usage_and_cost() -> None:
    calls = [tool_call("c1", "select_frames", {"timestamps": [1.5]}), tool_call("c2", "zoom", "{bad json")]
    convo = build_conversation(second_round=False)
    with openai_server([completion("looking", calls, model="gpt-4.1-2025-04-14", usage=(2000, 100))]) as server:
        reply = await backend(server.url, model="gpt-4.1").complete(convo.request)
    assert reply.stop_reason == "tool_calls"
    assert reply.text == "looking"
    assert [(c.id, c.name) for c in reply.tool_calls] == [("c1", "select_frames"), ("c2", "zoom")]
    assert reply.tool_calls[0].arguments == {"timestamps": [1.5]} and reply.tool_calls[0].parse_error is None
    assert reply.tool_calls[1].arguments == {} and "not valid JSON" in (reply.tool_calls[1].parse_error or "")
    assert reply.model == "gpt-4.1-2025-04-14"
    assert (reply.usage.input_tokens, reply.usage.output_tokens, reply.usage.calls) == (2000, 100, 1)
    assert reply.usage.images == 4
    assert reply.usage.cost_usd == pytest.approx((2000 * 2.0 + 100 * 8.0) / 1e6)
    assert reply.latency_s > 0


async def test_429_is_retried_honouring_retry_after() -> None:
    replies = [error(429, "slow down", headers={"retry-after": "0.3"}), completion("done")]
    with openai_server(replies) as server:
        reply = await backend(server.url).complete(simple_request())
    assert reply.text == "done"
    assert len(server.requests) == 2
    assert server.requests[1].time - server.requests[0].time >= 0.3


async def test_429_gives_up_after_bounded_attempts() -> None:
    with openai_server([error(429, "slow down")] * 5) as server:
        with pytest.raises(RateLimitError, match="gave up after 3 attempts"):
            await backend(server.url, max_retries="2").complete(simple_request())
    assert len(server.requests) == 3


async def test_401_is_not_retried_and_hides_the_key() -> None:
    with openai_server([error(401, f"Incorrect API key provided: {SECRET}")] * 3) as server:
        with pytest.raises(AuthError) as info:
            await backend(server.url).complete(simple_request())
    assert len(server.requests) == 1
    assert "OPENAI_API_KEY" in str(info.value)
    assert SECRET not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


async def test_5xx_and_dropped_connection_are_retried() -> None:
    replies = [error(503, "overloaded"), Reply(drop=True), completion("fine")]
    with openai_server(replies) as server:
        reply = await backend(server.url).complete(simple_request())
    assert reply.text == "fine" and len(server.requests) == 3


async def test_timeouts_are_retried_then_reported() -> None:
    def slow(_: object) -> Reply:
        time.sleep(0.6)
        return completion("too late")

    with openai_server(slow) as server:
        with pytest.raises(TransientError, match="timeout"):
            await backend(server.url, timeout_s="0.2", max_retries="1").complete(simple_request())
    assert len(server.requests) == 2


async def test_unreachable_server_is_a_transient_error() -> None:
    with openai_server([]) as server:
        url = server.url
    with pytest.raises(TransientError, match="connection failed"):
        await backend(url, max_retries="1").complete(simple_request())


async def test_refusals() -> None:
    replies = [
        completion(None, refusal="I can't help with that."),
        completion("partial", finish_reason="content_filter"),
        error(400, "Your request was rejected by the safety system.", code="content_policy_violation"),
    ]
    with openai_server(replies) as server:
        judge = backend(server.url)
        first = await judge.complete(simple_request())
        second = await judge.complete(simple_request())
        with pytest.raises(RefusalError, match="safety system"):
            await judge.complete(simple_request())
    assert (first.stop_reason, first.text) == ("refusal", "I can't help with that.")
    assert second.stop_reason == "refusal"
    assert len(server.requests) == 3


async def test_empty_and_truncated_replies() -> None:
    empty = completion("x")
    empty.body["choices"] = []
    with openai_server([empty, completion("Overall Judg", finish_reason="length"), completion(None)]) as server:
        judge = backend(server.url)
        with pytest.raises(BackendError, match="no choices"):  # no reply at all: an error, not a blank answer
            await judge.complete(simple_request())
        cut = await judge.complete(simple_request())
        blank = await judge.complete(simple_request())
    assert (cut.text, cut.stop_reason) == ("Overall Judg", "length")
    assert (blank.text, blank.stop_reason) == ("", "end")


async def test_n_samples_come_back_as_alternatives() -> None:
    with openai_server([completion("A", extra_choices=["B", "A"])]) as server:
        judge = backend(server.url)
        replies = await judge.complete_n(simple_request(n=3, temperature=1.0))
    assert [r.text for r in replies] == ["A", "B", "A"]
    assert server.requests[0].json["n"] == 3 and len(server.requests) == 1
    assert sum(r.usage.input_tokens for r in replies) == 1000


async def test_reasoning_models_get_effort_and_no_temperature() -> None:
    with openai_server([completion("ok"), completion("ok")]) as server:
        await backend(server.url).complete(simple_request())  # default model gpt-6.1-sol
        await backend(server.url, reasoning_effort="high", reasoning_tokens="1000").complete(simple_request())
    default, high = (r.json for r in server.requests)
    assert default["model"] == "gpt-6.1-sol"
    assert "temperature" not in default and default["reasoning_effort"] == "none"
    assert default["max_completion_tokens"] == 2048
    assert high["reasoning_effort"] == "high" and high["max_completion_tokens"] == 2048 + 1000


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        get_backend("openai")
    with pytest.raises(ConfigError, match="detail"):
        get_backend("openai", api_key="k", detail="ultra")
    with pytest.raises(ConfigError, match="no option colour"):
        get_backend("openai", api_key="k", colour="red")
    with pytest.raises(ConfigError, match="max_images"):
        get_backend("openai", api_key="k", max_images="many")
    with pytest.raises(ConfigError, match="--base-url"):
        get_backend("vllm")


def test_repr_and_describe_hold_no_secret() -> None:
    judge = get_backend("openai", base_url="https://user:hunter2@proxy.example/v1?token=abc")
    assert SECRET not in repr(judge) and SECRET not in str(judge.describe())
    assert "hunter2" not in repr(judge) and "abc" not in repr(judge)
    assert "proxy.example/v1" in repr(judge)
    assert judge.capabilities().images_in_tool_results is False


async def test_video_parts_are_refused_explicitly() -> None:
    request = ModelRequest(
        messages=[Message(role="user", parts=[VideoPart(media_path="x.mp4", start=0, end=1, fps=1)])]
    )
    with pytest.raises(ConfigError, match="video=native"):
        await get_backend("openai").complete(request)


# ---- vllm ---------------------------------------------------------------------------------------


async def test_vllm_defaults_no_openai_key_and_hermes_fallback() -> None:
    text = (
        'Checking.\n<tool_call>\n{"name": "zoom", "arguments": {"timestamp": 1.0, "box": [0, 0, 10, 10]}}\n</tool_call>'
    )
    with openai_server([completion(text)]) as server:
        judge = get_backend("vllm", base_url=server.url + "/v1", retry_base_s="0.001")
        assert isinstance(judge, VLLMBackend)
        reply = await judge.complete(build_conversation(second_round=False).request)
    sent = server.requests[0]
    assert sent.headers["authorization"] == "Bearer EMPTY"  # the OpenAI key never goes to a third party
    body = sent.json
    assert body["model"] == "Qwen/Qwen2.5-VL-72B-Instruct"
    assert body["max_tokens"] == 512 and "max_completion_tokens" not in body
    assert all("detail" not in b["image_url"] for b in body["messages"][1]["content"] if b["type"] == "image_url")
    assert reply.text == "Checking."
    assert reply.stop_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("zoom", {"timestamp": 1.0, "box": [0, 0, 10, 10]})]
    assert reply.usage.cost_usd is None  # self-hosted: no price


async def test_vllm_uses_its_own_key_and_reports_unknown_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "vllm-token")
    with openai_server([error(404, "The model `Qwen/Nope` does not exist.")]) as server:
        judge = get_backend("vllm", base_url=server.url + "/v1", model="Qwen/Nope")
        with pytest.raises(ConfigError, match="does not exist"):
            await judge.complete(simple_request())
    assert server.requests[0].headers["authorization"] == "Bearer vllm-token"
