"""Gemini backend through the real `google-genai` SDK against a loopback Gemini API server."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.conversation import FRAME_SIZE, TOOL_NAMES, ZOOM_SIZE, build_conversation, decoded_size
from tests.fakes.gemini_fake import error, function_call, gemini_server, generate
from vrb_agent.judges.base import (
    AuthError,
    ConfigError,
    Message,
    ModelRequest,
    TextPart,
    ToolCall,
    ToolResult,
    VideoPart,
)
from vrb_agent.judges.gemini import GeminiBackend
from vrb_agent.judges.registry import get_backend

SECRET = "AIza-test-SECRET-0123456789"


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", SECRET)
    for name in ("GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)


def backend(url: str, **options: str) -> GeminiBackend:
    backend = get_backend("gemini", base_url=url, retry_base_s="0.001", **options)
    assert isinstance(backend, GeminiBackend)
    return backend


def simple_request(text: str = "hello") -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", parts=[TextPart(text=text)])])


def field(node: dict[str, Any], camel: str) -> Any:
    """A wire field, whichever casing the SDK used for it."""
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return node.get(camel, node.get(snake))


def inline_sizes(parts: list[dict[str, Any]]) -> list[tuple[int, int]]:
    blobs = [field(p, "inlineData") for p in parts if field(p, "inlineData")]
    return [decoded_size(base64.urlsafe_b64decode(b["data"])) for b in blobs]


async def test_conversation_translation_on_the_wire() -> None:
    convo = build_conversation()
    with gemini_server([generate("ok")]) as server:
        await backend(server.url).complete(convo.request)
    (sent,) = server.requests
    assert sent.path.startswith("/v1beta/models/gemini-3.5-flash:generateContent")
    assert sent.headers["x-goog-api-key"] == SECRET
    body = sent.json
    assert field(body, "systemInstruction")["parts"] == [{"text": "You are a careful judge."}]
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user", "model", "user"]

    first = contents[0]["parts"]
    assert inline_sizes(first) == [FRAME_SIZE, FRAME_SIZE]
    assert [p["text"] for p in first if "text" in p][1:] == ["frame t=1.00s", "frame t=3.00s"]

    model_turn = contents[1]["parts"]
    assert model_turn[0] == {"text": "I will look closer."}
    calls = [field(p, "functionCall") for p in model_turn[1:]]
    assert [(c["name"], c["args"]) for c in calls] == [
        ("select_frames", {"timestamps": [2.0, 4.0]}),
        ("reexamine_clip", {"start": 3.0, "end": 1.0}),
    ]
    assert all("id" not in c for c in calls)  # ids we made up are not sent; Gemini pairs by order
    # Gemini 3 needs a signature on replayed calls; calls it did not sign get Google's placeholder
    signatures = [base64.b64decode(field(p, "thoughtSignature")) for p in model_turn[1:]]
    assert signatures == [b"skip_thought_signature_validator"] * 2

    responses = [field(p, "functionResponse") for p in contents[2]["parts"]]
    assert [(r["name"], list(r["response"])) for r in responses] == [
        ("select_frames", ["output", "images"]),
        ("reexamine_clip", ["error"]),
    ]
    assert responses[0]["response"]["images"] == ["frame t=2.00s", "frame t=4.00s"]
    assert inline_sizes(responses[0]["parts"]) == [FRAME_SIZE, FRAME_SIZE]  # images inside the response
    zoom = field(contents[4]["parts"][0], "functionResponse")
    assert zoom["name"] == "zoom" and inline_sizes(zoom["parts"]) == [ZOOM_SIZE]

    declarations = field(body["tools"][0], "functionDeclarations")
    assert [d["name"] for d in declarations] == TOOL_NAMES
    assert field(declarations[2], "parametersJsonSchema") == convo.request.tools[2].parameters
    assert field(field(body, "toolConfig"), "functionCallingConfig") == {"mode": "AUTO"}
    config = field(body, "generationConfig")
    assert "temperature" not in config  # Gemini 3: Google advises the default temperature
    assert field(config, "maxOutputTokens") == 512 + 8192 and config["seed"] == 7


async def test_inline_tool_images_for_older_models() -> None:
    convo = build_conversation(second_round=False)
    with gemini_server([generate("ok", model="gemini-2.5-flash")]) as server:
        await backend(server.url, model="gemini-2.5-flash").complete(convo.request)
    body = server.requests[0].json
    assert field(body, "generationConfig")["temperature"] == 0.0
    tool_turn = body["contents"][2]["parts"]
    kinds = [
        "functionResponse" if field(p, "functionResponse") else "text" if "text" in p else "image" for p in tool_turn
    ]
    assert kinds == ["functionResponse", "functionResponse", "text", "text", "image", "text", "image"]
    assert tool_turn[2]["text"] == "Media returned by select_frames:"
    assert inline_sizes(tool_turn) == [FRAME_SIZE, FRAME_SIZE]
    assert all("parts" not in field(p, "functionResponse") for p in tool_turn[:2])


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ("submit_verdict", {"mode": "ANY", "allowedFunctionNames": ["submit_verdict"]}),
    ],
)
async def test_tool_choice_mapping(choice: str, wire: dict) -> None:
    request = build_conversation(second_round=False).request.model_copy(update={"tool_choice": choice})
    with gemini_server([generate("ok")]) as server:
        await backend(server.url).complete(request)
    calling = field(field(server.requests[0].json, "toolConfig"), "functionCallingConfig")
    assert {k: v for k, v in calling.items()} == wire


async def test_calls_usage_and_thought_signatures_round_trip() -> None:
    signature = base64.b64encode(b"opaque-signature").decode()
    calls = [
        function_call("zoom", {"timestamp": 2.2, "box": [0, 0, 500, 500]}, call_id="g-1", signature=signature),
        function_call("select_frames", {"timestamps": [1.0]}),
    ]
    replies = [generate("Let me zoom.", calls, usage=(4000, 30, 200), thought="hidden reasoning"), generate("done")]
    with gemini_server(replies) as server:
        judge = backend(server.url)
        reply = await judge.complete(simple_request())
        follow = simple_request()
        follow.messages += [
            Message(role="assistant", tool_calls=reply.tool_calls),
            Message(
                role="tool",
                tool_results=[
                    ToolResult(call_id=c.id, name=c.name, parts=[TextPart(text="seen")]) for c in reply.tool_calls
                ],
            ),
        ]
        await judge.complete(follow)
    assert reply.stop_reason == "tool_calls" and reply.text == "Let me zoom."  # thoughts are not text
    assert (reply.tool_calls[0].id, reply.tool_calls[0].name) == ("g-1", "zoom")
    assert reply.tool_calls[1].id.startswith("call_") and reply.tool_calls[1].arguments == {"timestamps": [1.0]}
    assert (reply.usage.input_tokens, reply.usage.output_tokens) == (4000, 230)  # thinking billed as output
    assert reply.usage.cost_usd == pytest.approx((4000 * 1.5 + 230 * 9.0) / 1e6)
    replayed = server.requests[1].json["contents"][1]["parts"]
    assert field(replayed[0], "thoughtSignature") == signature
    assert field(replayed[0], "functionCall")["id"] == "g-1"
    responses = [field(p, "functionResponse") for p in server.requests[1].json["contents"][2]["parts"]]
    assert [(r.get("id"), r["name"]) for r in responses] == [("g-1", "zoom"), (None, "select_frames")]


async def test_429_retry_info_honoured_and_503_retried() -> None:
    retry_info = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.3s"}]
    replies = [error(429, "quota", state="RESOURCE_EXHAUSTED", details=retry_info), error(503, "busy"), generate("ok")]
    with gemini_server(replies) as server:
        reply = await backend(server.url).complete(simple_request())
    assert reply.text == "ok" and len(server.requests) == 3
    assert server.requests[1].time - server.requests[0].time >= 0.3


@pytest.mark.parametrize(
    "reply",
    [
        error(401, "unauthenticated", state="UNAUTHENTICATED"),
        error(403, "denied", state="PERMISSION_DENIED"),
        error(
            400,
            f"API key not valid: {SECRET}",
            details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        ),
    ],
)
async def test_auth_failures_are_not_retried(reply: Any) -> None:
    with gemini_server([reply, reply]) as server:
        with pytest.raises(AuthError, match="GEMINI_API_KEY") as info:
            await backend(server.url).complete(simple_request())
    assert len(server.requests) == 1
    assert SECRET not in str(info.value)


async def test_malformed_function_call_becomes_a_tool_error() -> None:
    message = "Malformed function call: print(default_api.zoom(timestamp=2.2, box=[0, 0, 5"
    replies = [generate(finish_reason="MALFORMED_FUNCTION_CALL", finish_message=message), generate("ok")]
    with gemini_server(replies) as server:
        judge = backend(server.url)
        reply = await judge.complete(simple_request())
        assert reply.stop_reason == "tool_calls"
        (call,) = reply.tool_calls
        assert call.arguments == {} and "not valid" in (call.parse_error or "")
        # google-genai drops finishMessage, so the name is unknown: the graph's tool error goes
        # back as text, never as a function call Gemini did not make
        assert call.name == ""
        follow = simple_request()
        follow.messages += [
            Message(role="assistant", tool_calls=[call]),
            Message(
                role="tool",
                tool_results=[ToolResult(call_id=call.id, name="", parts=[TextPart(text="bad call")], is_error=True)],
            ),
        ]
        await judge.complete(follow)
    contents = server.requests[1].json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[1]["parts"] == [{"text": "(my previous function call could not be parsed)"}]
    assert contents[2]["parts"] == [{"text": "Function call error: bad call"}]


async def test_safety_blocks_truncation_and_empty_replies() -> None:
    replies = [
        generate(block_reason="SAFETY"),
        generate(None, finish_reason="SAFETY"),
        generate("Overall Judgment: Answer", finish_reason="MAX_TOKENS"),
        generate(None),
    ]
    with gemini_server(replies) as server:
        judge = backend(server.url)
        blocked, stopped, cut, empty = [await judge.complete(simple_request()) for _ in range(4)]
    assert blocked.stop_reason == "refusal" and "SAFETY" in blocked.text
    assert stopped.stop_reason == "refusal"
    assert (cut.stop_reason, cut.text) == ("length", "Overall Judgment: Answer")
    assert (empty.stop_reason, empty.text, empty.tool_calls) == ("end", "", [])


def video_request(path: Path) -> ModelRequest:
    clip = VideoPart(media_path=str(path), start=1.5, end=3.0, fps=4.0, label="clip 1.50s-3.00s")
    return ModelRequest(
        messages=[
            Message(role="user", parts=[TextPart(text="Judge this video.")]),
            Message(role="assistant", tool_calls=[ToolCall(id="call_1", name="reexamine_clip", arguments={})]),
            Message(role="tool", tool_results=[ToolResult(call_id="call_1", name="reexamine_clip", parts=[clip])]),
        ]
    )


async def test_native_video_small_clip_goes_inline(square_video: Path) -> None:
    with gemini_server([generate("ok")]) as server:
        judge = backend(server.url, video="native")
        assert judge.capabilities().native_video is True
        await judge.complete(video_request(square_video))
    tool_turn = server.requests[0].json["contents"][-1]["parts"]
    video = next(p for p in tool_turn if field(p, "videoMetadata"))
    assert base64.urlsafe_b64decode(field(video, "inlineData")["data"]) == square_video.read_bytes()
    assert field(field(video, "inlineData"), "mimeType") == "video/mp4"
    meta = field(video, "videoMetadata")
    assert (field(meta, "startOffset"), field(meta, "endOffset"), meta["fps"]) == ("1.500s", "3.000s", 4.0)
    assert {"text": "clip 1.50s-3.00s"} in tool_turn


async def test_native_video_large_clip_uses_the_file_api_once(square_video: Path) -> None:
    with gemini_server([generate("ok"), generate("ok")]) as server:
        judge = backend(server.url, video="native", inline_video_mb="0.001")
        judge.file_poll_s = 0.01
        await judge.complete(video_request(square_video))
        await judge.complete(video_request(square_video))
    assert server.uploads == {"files/fake1": square_video.read_bytes()}  # uploaded once, byte for byte
    assert server.status_polls == 1  # PROCESSING after upload, then ACTIVE
    for request in server.requests:
        video = next(p for p in request.json["contents"][-1]["parts"] if field(p, "videoMetadata"))
        assert field(field(video, "fileData"), "fileUri") == f"{server.url}/v1beta/files/fake1"


async def test_missing_video_file_is_reported(tmp_path: Path) -> None:
    with gemini_server([]) as server:
        with pytest.raises(Exception, match="video file not found"):
            await backend(server.url, video="native").complete(video_request(tmp_path / "gone.mp4"))
    assert server.requests == []


def test_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_backend("gemini").capabilities().native_video is False
    with pytest.raises(ConfigError, match="video"):
        get_backend("gemini", video="yes")
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(ConfigError, match="GEMINI_API_KEY or GOOGLE_API_KEY"):
        get_backend("gemini")
    monkeypatch.setenv("GOOGLE_API_KEY", "other")
    assert get_backend("gemini").model == "gemini-3.5-flash"
    assert "other" not in repr(get_backend("gemini"))


async def test_two_copies_of_a_video_that_fit_only_once_go_through_the_file_api(square_video: Path) -> None:
    request = video_request(square_video)
    overview = VideoPart(media_path=str(square_video), start=0.0, end=5.0, fps=3.2)
    request.messages[0].parts.append(overview)
    budget_mb = 1.5 * square_video.stat().st_size / (1024 * 1024)  # room for one copy, not two
    with gemini_server([generate("ok")]) as server:
        judge = backend(server.url, video="native", inline_video_mb=str(budget_mb))
        judge.file_poll_s = 0.01
        await judge.complete(request)
    videos = [p for c in server.requests[0].json["contents"] for p in c["parts"] if field(p, "videoMetadata")]
    assert len(videos) == 2 and all(field(p, "fileData") and not field(p, "inlineData") for p in videos)
    assert list(server.uploads) == ["files/fake1"]
