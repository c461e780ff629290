"""`--backend vllm` with thinking checkpoints and context budgets, against a loopback fake server.

Without `--reasoning-parser` the server returns the raw text: reasoning, `</think>`, answer. A reply
that never reaches `</think>` is cut-off reasoning: no verdict, no tool call, a message naming
--max-output-tokens. With a parser the server returns `reasoning` apart. With `max_model_len` the
request is fitted before it is sent, its images resized to the pixel cap (vLLM refuses per-request
processor options by default).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.fakes.openai_fake import completion, openai_server, tool_call
from vrb_agent.agents.api import ajudge
from vrb_agent.judges.base import ImagePart, Message, ModelRequest, TextPart
from vrb_agent.judges.registry import get_backend
from vrb_agent.tools.evidence import EvidenceStore

THINKING = "Qwen/Qwen3-VL-8B-Thinking"
DRAFT = (
    'Maybe A. <tool_call>\n{"name": "submit_verdict", "arguments": {"preferred": "A", "confidence": 0.9}}\n</tool_call>'
)


def text_request(**fields: object) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", parts=[TextPart(text="Judge.")])], **fields)


async def test_cut_off_thinking_without_a_reasoning_parser_is_unfinished() -> None:
    with openai_server([completion(DRAFT, finish_reason="length")]) as server:
        backend = get_backend("vllm", base_url=server.url + "/v1", model=THINKING, retry_base_s=0.001)
        reply = await backend.complete(text_request())
    assert reply.unfinished and "cut off" in reply.unfinished and "--max-output-tokens" in reply.unfinished
    assert reply.tool_calls == [] and reply.text == "" and reply.stop_reason == "length"
    assert "Maybe A." in reply.reasoning


async def test_finished_thinking_is_split_at_the_closing_tag() -> None:
    raw = f"{DRAFT}\n</think>\n\nOverall Judgment: Answer B is better."
    with openai_server([completion(raw)]) as server:
        backend = get_backend("vllm", base_url=server.url + "/v1", model=THINKING)
        reply = await backend.complete(text_request())
    assert reply.text == "Overall Judgment: Answer B is better." and reply.tool_calls == []
    assert reply.reasoning.startswith("Maybe A.") and reply.unfinished is None


async def test_a_server_reasoning_parser_and_structured_calls_are_used() -> None:
    call = tool_call("c1", "zoom", {"timestamp": 1.0, "box": [0, 0, 500, 500]})
    replies = [
        completion("", [call], reasoning="Look closer."),
        completion(None, reasoning="Still", finish_reason="length"),
    ]
    with openai_server(replies) as server:
        backend = get_backend("vllm", base_url=server.url + "/v1", model=THINKING)
        called = await backend.complete(text_request())
        cut = await backend.complete(text_request())
    assert [c.name for c in called.tool_calls] == ["zoom"] and called.reasoning == "Look closer."
    assert cut.unfinished and "cut off" in cut.unfinished and cut.reasoning == "Still"


async def test_instruct_models_are_read_as_before_unless_thinking_is_set() -> None:
    with openai_server([completion("Overall Judgment: Answer A is better.", finish_reason="length")] * 2) as server:
        url = server.url + "/v1"
        instruct = await get_backend("vllm", base_url=url, model="Qwen/Qwen3-VL-8B-Instruct").complete(text_request())
        forced = await get_backend("vllm", base_url=url, model="served-name", thinking="true").complete(text_request())
    assert instruct.text.startswith("Overall Judgment") and instruct.unfinished is None
    assert forced.unfinished and forced.text == ""


async def test_truncated_thinking_judgments_are_invalid_in_both_modes(square_video: Path) -> None:
    for mode in ("single", "agentic"):
        with openai_server([completion(DRAFT, finish_reason="length")] * 4) as server:
            backend = get_backend("vllm", base_url=server.url + "/v1", model=THINKING)
            judgment = await ajudge(square_video, "q", "a", "b", backend=backend, mode=mode, frames=2)
        assert judgment.status == "invalid" and judgment.verdict is None, mode
        assert "cut off" in (judgment.error or "") and judgment.evidence == []
        assert len(server.requests) == 1  # no repair request, no draft executed


async def test_reasoning_is_sent_back_for_the_template() -> None:
    call = tool_call("c1", "zoom", {"timestamp": 1.0})
    with openai_server([completion("", [call], reasoning="Zoom first."), completion("done")]) as server:
        backend = get_backend("vllm", base_url=server.url + "/v1", model=THINKING)
        first = await backend.complete(text_request())
        turn = Message(role="assistant", tool_calls=first.tool_calls, reasoning=first.reasoning)
        follow_up = text_request().model_copy(update={"messages": [*text_request().messages, turn]})
        await backend.complete(follow_up)
    assistant = server.requests[1].json["messages"][-1]
    assert assistant["role"] == "assistant" and assistant["reasoning_content"] == "Zoom first."


async def test_max_model_len_fits_the_request_and_sends_the_pixel_cap() -> None:
    store = EvidenceStore(max_side=2048)
    ids = [store.put(np.full((1024, 1024, 3), i, np.uint8), f"frame t={i}.00s") for i in range(8)]
    request = ModelRequest(
        messages=[Message(role="user", parts=[TextPart(text="Judge."), *(ImagePart(evidence_id=i) for i in ids)])],
        max_output_tokens=256,
        evidence=store,
    )
    with openai_server([completion("ok"), completion("ok")]) as server:
        url = server.url + "/v1"
        roomy = get_backend("vllm", base_url=url, model="Qwen/Qwen3-VL-8B-Instruct", max_pixels="500000")
        await roomy.complete(request)
        tight = get_backend("vllm", base_url=url, model="Qwen/Qwen3-VL-8B-Instruct", max_model_len="4096")
        reply = await tight.complete(request)
    roomy_sizes = sent_image_sizes(server.requests[0].json)
    assert roomy_sizes and all(h * w <= 500000 and (h, w) == roomy.rules.resized(h, w) for h, w in roomy_sizes)
    tight_sizes = sent_image_sizes(server.requests[1].json)
    assert "mm_processor_kwargs" not in server.requests[1].json
    assert reply.notes and "4096-token context" in reply.notes[0]
    assert sum(tight.rules.image_tokens(h, w) for h, w in tight_sizes) <= 4096 - 256
    assert all(h * w < 1024 * 1024 for h, w in tight_sizes)


def sent_image_sizes(body: dict[str, object]) -> list[tuple[int, int]]:
    """(height, width) of every image in a chat.completions request body."""
    import base64

    from vrb_agent.tools.evidence import decode_jpeg

    sizes = []
    for message in body["messages"]:  # type: ignore[union-attr]
        for block in message["content"] if isinstance(message["content"], list) else []:
            if block["type"] == "image_url":
                data = base64.b64decode(block["image_url"]["url"].split(",", 1)[1])
                sizes.append(decode_jpeg(data).shape[:2])
    return sizes
