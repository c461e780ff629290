"""Full agentic judgments through each API backend: the judge graph drives the real SDK against a
loopback fake of the provider. Each judgment takes several tool rounds (one with a malformed call)
before `submit_verdict`; the recorded requests are checked for decodable images of the sizes the
evidence store holds, the four tool schemas, and results paired with the right call ids in order.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import anthropic_fake, gemini_fake, openai_fake
from tests.fakes.conversation import decoded_size
from tests.fakes.server import FakeServer, Reply, use_fake_keys
from vrb_agent.agents.api import ajudge
from vrb_agent.agents.types import Judgment
from vrb_agent.judges.base import AuthError, Backend
from vrb_agent.judges.registry import get_backend
from vrb_agent.tools.evidence import EvidenceStore

TOOLS = ["select_frames", "zoom", "reexamine_clip", "submit_verdict"]
VERDICT = {"preferred": "A", "confidence": 0.9, "rationale": "A red square appears at 2.2 s.", "evidence": []}
ROUND1 = [
    ("c1", "select_frames", {"timestamps": [2.2, 4.0]}),
    ("c2", "zoom", {"timestamp": 2.2, "box": [250, 350, 500, 550]}),
]
ROUND2 = [("c3", "reexamine_clip", {"start": 1.0, "end": 3.0, "num_frames": 4})]
FRAMES = 8  # overview frames: fewer than the default 16 keeps the tests fast
QUESTION = ("What appears at 2.2 s?", "A red square.", "A blue circle.")


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_keys(monkeypatch, "judgment")


# ---- reading each provider's wire format --------------------------------------------------------


def _b64_size(data: str) -> tuple[int, int]:
    return decoded_size(base64.b64decode(data.split(",", 1)[-1] + "=" * (-len(data) % 4), altchars=b"-_"))


@dataclass
class Wire:
    """What a test needs from one recorded request, whatever the provider."""

    tools: list[str]
    images: list[tuple[int, int]]  # every image in the request, in order
    answered: list[str]  # call ids answered by tool results, in order
    results: list[str]  # text of those results


def openai_wire(body: dict[str, Any]) -> Wire:
    images, answered, results = [], [], []
    for message in body["messages"]:
        if message["role"] == "tool":
            answered.append(message["tool_call_id"])
            results.append(message["content"])
        elif isinstance(message.get("content"), list):
            images += [_b64_size(b["image_url"]["url"]) for b in message["content"] if b["type"] == "image_url"]
    return Wire([t["function"]["name"] for t in body["tools"]], images, answered, results)


def anthropic_wire(body: dict[str, Any]) -> Wire:
    images, answered, results = [], [], []

    def walk(blocks: list[dict[str, Any]]) -> None:
        for block in blocks:
            if block["type"] == "image":
                images.append(_b64_size(block["source"]["data"]))
            elif block["type"] == "tool_result":
                answered.append(block["tool_use_id"])
                results.append(" ".join(b["text"] for b in block["content"] if b["type"] == "text"))
                walk(block["content"])

    for message in body["messages"]:
        walk(message["content"])
    return Wire([t["name"] for t in body["tools"]], images, answered, results)


def _get(node: dict[str, Any], camel: str) -> Any:
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return node.get(camel, node.get(snake))


def gemini_wire(body: dict[str, Any]) -> Wire:
    images, answered, results = [], [], []

    def walk(parts: list[dict[str, Any]]) -> None:
        for part in parts:
            blob = _get(part, "inlineData")
            if blob and _get(blob, "mimeType") == "image/jpeg":
                images.append(_b64_size(blob["data"]))
            response = _get(part, "functionResponse")
            if response:
                answered.append(response.get("id", ""))
                results.append(json.dumps(response["response"]))
                walk(response.get("parts", []))

    for content in body["contents"]:
        walk(content["parts"])
    declarations = _get(body["tools"][0], "functionDeclarations")
    return Wire([d["name"] for d in declarations], images, answered, results)


# ---- scripted model turns per provider ----------------------------------------------------------


def openai_turns() -> list[Reply]:
    def calls(round_: list[tuple[str, str, dict]]) -> list[dict]:
        return [openai_fake.tool_call(i, n, a) for i, n, a in round_]

    return [
        openai_fake.completion("Let me check the frames.", calls(ROUND1), model="gpt-4.1"),
        openai_fake.completion(None, [*calls(ROUND2), openai_fake.tool_call("c4", "zoom", '{"timestamp": 2.2,')]),
        openai_fake.completion(None, [openai_fake.tool_call("c5", "submit_verdict", VERDICT)]),
    ]


def anthropic_turns() -> list[Reply]:
    def calls(round_: list[tuple[str, str, dict]]) -> list[dict]:
        return [anthropic_fake.tool_use(i, n, a) for i, n, a in round_]

    return [
        anthropic_fake.message("Let me check the frames.", calls(ROUND1)),
        anthropic_fake.message(None, [*calls(ROUND2), anthropic_fake.tool_use("c4", "zoom", '{"timestamp": 2.2,')]),
        anthropic_fake.message(None, [anthropic_fake.tool_use("c5", "submit_verdict", VERDICT)]),
    ]


def gemini_turns() -> list[Reply]:
    def calls(round_: list[tuple[str, str, dict]]) -> list[dict]:
        return [gemini_fake.function_call(n, a, call_id=i, signature="c2ln") for i, n, a in round_]

    malformed = "Malformed function call: print(default_api.zoom(timestamp=2.2,"
    return [
        gemini_fake.generate("Let me check the frames.", calls(ROUND1)),
        gemini_fake.generate(None, calls(ROUND2)),
        gemini_fake.generate(finish_reason="MALFORMED_FUNCTION_CALL", finish_message=malformed),
        gemini_fake.generate(None, [gemini_fake.function_call("submit_verdict", VERDICT, call_id="c5")]),
    ]


@dataclass
class Case:
    server: Callable[[list[Reply]], FakeServer]
    backend: Callable[[str], Backend]
    turns: Callable[[], list[Reply]]
    wire: Callable[[dict[str, Any]], Wire]
    refusal: Reply
    unauthorized: Reply


CASES = {
    "openai": Case(
        openai_fake.openai_server,
        lambda url: get_backend("openai", base_url=url + "/v1", model="gpt-4.1", retry_base_s=0.001),
        openai_turns,
        openai_wire,
        openai_fake.completion(None, refusal="I can't help with judging this."),
        openai_fake.error(401, "Incorrect API key provided"),
    ),
    "anthropic": Case(
        anthropic_fake.anthropic_server,
        lambda url: get_backend("anthropic", base_url=url, retry_base_s=0.001),
        anthropic_turns,
        anthropic_wire,
        anthropic_fake.message("I won't judge this.", stop_reason="refusal"),
        anthropic_fake.error(401, "invalid x-api-key", kind="authentication_error"),
    ),
    "gemini": Case(
        gemini_fake.gemini_server,
        lambda url: get_backend("gemini", base_url=url, retry_base_s=0.001),
        gemini_turns,
        gemini_wire,
        gemini_fake.generate(block_reason="PROHIBITED_CONTENT"),
        gemini_fake.error(401, "unauthenticated", state="UNAUTHENTICATED"),
    ),
}


async def judge_with(backend: Backend, media: Path, **kwargs: Any) -> Judgment:
    """One agentic judgment; the backend's HTTP client is closed before the test's loop ends."""
    try:
        return await ajudge(media, *QUESTION, backend=backend, mode="agentic", frames=FRAMES, **kwargs)
    finally:
        await backend.aclose()


@pytest.mark.parametrize("provider", list(CASES))
async def test_agentic_judgment_with_tool_rounds(provider: str, square_video: Path) -> None:
    case = CASES[provider]
    store = EvidenceStore()
    with case.server(case.turns()) as server:
        judgment = await judge_with(case.backend(server.url), square_video, store=store)
    assert judgment.status == "ok", judgment.error
    assert judgment.verdict is not None and judgment.verdict.preferred == "A"
    records = judgment.evidence
    assert [r.name for r in records][:3] == ["select_frames", "zoom", "reexamine_clip"]
    assert [r.ok for r in records] == [True, True, True, False]  # the malformed call failed, as a tool error
    assert judgment.usage.calls == len(server.requests) >= 3

    wires = [case.wire(r.json) for r in server.requests]
    assert all(w.tools == TOOLS for w in wires)
    overview = wires[0].images
    assert len(overview) == FRAMES and set(overview) == {(320, 240)}

    tool_images = [store.get(i) for r in records for i in r.images]
    expected = overview + [(image.width, image.height) for image in tool_images]
    assert wires[-1].images == expected  # every image decodes, at the size the store holds
    zoom = store.get(records[1].images[0])
    assert min(zoom.width, zoom.height) >= 448  # the crop was upscaled

    ids = [i for i, _, _ in ROUND1 + ROUND2]
    last = wires[-1]
    if provider == "gemini":  # the unparseable call goes back as text, not as a function response
        assert last.answered == ids
    else:
        assert last.answered == [*ids, "c4"]
        assert "not valid JSON" in last.results[-1]


@pytest.mark.parametrize("provider", list(CASES))
async def test_refusal_maps_to_refused(provider: str, square_video: Path) -> None:
    case = CASES[provider]
    with case.server([case.refusal]) as server:
        judgment = await judge_with(case.backend(server.url), square_video)
    assert judgment.status == "refused" and judgment.verdict is None
    assert len(server.requests) == 1


@pytest.mark.parametrize("provider", list(CASES))
async def test_rate_limit_inside_a_judgment_is_retried(provider: str, square_video: Path) -> None:
    case = CASES[provider]
    limited = Reply(429, {"error": {"message": "slow down", "code": 429}}, {"retry-after": "0.05"})
    with case.server([limited, *case.turns()]) as server:
        judgment = await judge_with(case.backend(server.url), square_video)
    assert judgment.status == "ok"
    assert len(server.requests) == len(case.turns()) + 1


@pytest.mark.parametrize("provider", list(CASES))
async def test_bad_key_fails_the_judgment_without_retry(provider: str, square_video: Path) -> None:
    case = CASES[provider]
    with case.server([case.unauthorized] * 3) as server:
        with pytest.raises(AuthError):
            await judge_with(case.backend(server.url), square_video)
    assert len(server.requests) == 1


async def test_vllm_judgment_with_hermes_text_tool_calls(square_video: Path) -> None:
    """A Qwen server without a tool parser: calls arrive as `<tool_call>` text and still drive the loop."""

    def block(name: str, arguments: dict[str, Any]) -> str:
        return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"

    turns = [
        openai_fake.completion("Checking.\n" + block("select_frames", {"timestamps": [2.2]})),
        openai_fake.completion(block("zoom", {"timestamp": 2.2, "box": [250, 350, 500, 550]})),
        openai_fake.completion(block("submit_verdict", VERDICT)),
    ]
    with openai_fake.openai_server(turns) as server:
        backend = get_backend("vllm", base_url=server.url + "/v1", retry_base_s=0.001)
        judgment = await judge_with(backend, square_video)
    assert judgment.status == "ok" and judgment.verdict is not None and judgment.verdict.preferred == "A"
    assert [r.name for r in judgment.evidence] == ["select_frames", "zoom"]
    last = openai_wire(server.requests[-1].json)
    assert len(last.answered) == 2 and all(i.startswith("call_") for i in last.answered)
    assert judgment.usage.cost_usd is None  # self-hosted


async def test_gemini_native_video_judgment(square_video: Path) -> None:
    """video=native: the overview and reexamine_clip go out as the clip with its time window."""
    turns = [
        gemini_fake.generate(
            None, [gemini_fake.function_call("reexamine_clip", {"start": 1.5, "end": 3.0}, call_id="v1")]
        ),
        gemini_fake.generate(None, [gemini_fake.function_call("submit_verdict", VERDICT, call_id="v2")]),
    ]
    with gemini_fake.gemini_server(turns) as server:
        backend = get_backend("gemini", base_url=server.url, video="native", retry_base_s=0.001)
        judgment = await judge_with(backend, square_video)
    assert judgment.status == "ok"
    windows = []
    for content in server.requests[-1].json["contents"]:
        for part in content["parts"]:
            meta = _get(part, "videoMetadata")
            if meta:
                assert base64.urlsafe_b64decode(_get(part, "inlineData")["data"]) == square_video.read_bytes()
                windows.append([float(_get(meta, key).rstrip("s")) for key in ("startOffset", "endOffset")])
    assert windows[0] == pytest.approx([0.0, 5.0], abs=0.05)  # the overview: the whole video
    assert windows[1] == pytest.approx([1.5, 3.0], abs=0.05)  # reexamine_clip's window
    assert gemini_wire(server.requests[-1].json).images == []  # no frames were sent
