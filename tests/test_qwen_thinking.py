"""Thinking checkpoints on the local Qwen backend, with Qwen3-VL-Thinking's real hub chat template.

The template opens `<think>` in the generation prompt. A tiny random-weight checkpoint that is
forbidden to write `</think>` (and the end token) is exactly a real one whose reasoning ran past the
output budget: the judgment must be `invalid` with a message saying so, in both modes, and no
draft tool call may run. Also: reasoning goes back to the model between tool turns as
`reasoning_content`, and sampling follows the checkpoint's generation_config unless a temperature
is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.qwen_recording import RecordingQwen
from tests.qwen_tiny import allow_torchvision_without_ops
from vrb_agent.agents.api import ajudge
from vrb_agent.judges.base import ImagePart, Message, ModelReply, ModelRequest, TextPart, ToolCall, ToolResult
from vrb_agent.judges.qwen import QwenBackend
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.tools.evidence import EvidenceStore

allow_torchvision_without_ops()  # this machine's torchvision wheel lacks its C ops (test set-up only)

QUESTION = "Which digit appears in the bottom-left corner?"


def never_closing(path: Path) -> RecordingQwen:
    """A Thinking checkpoint that cannot write `</think>` nor end its turn: every reply runs into the
    output-token limit still reasoning (what a real one does with too small a budget)."""
    probe = QwenBackend(str(path))
    tokenizer = probe.loaded.processor.tokenizer
    banned = [[tokenizer.convert_tokens_to_ids(t)] for t in ("</think>", "<|im_end|>", "<|endoftext|>")]
    return RecordingQwen(str(path), generation_kwargs={"bad_words_ids": banned})


@pytest.mark.parametrize("mode", ["single", "agentic"])
async def test_truncated_thinking_is_invalid_never_a_verdict(
    mode: str, tiny_qwen_dirs: dict[str, Path], square_video: Path
) -> None:
    backend = never_closing(tiny_qwen_dirs["qwen3_vl_thinking"])
    judgment = await ajudge(
        square_video,
        QUESTION,
        "The digit 7.",
        "The digit 1.",
        backend=backend,
        mode=mode,
        frames=2,
        max_turns=2,
        max_output_tokens=20,
    )
    assert backend.render(backend.exchanges[0][0]).endswith("<|im_start|>assistant\n<think>\n")
    assert judgment.status == "invalid" and judgment.verdict is None
    assert "cut off after 20 tokens" in (judgment.error or "") and "--max-output-tokens" in (judgment.error or "")
    assert len(backend.exchanges) == 1  # no repair request, no further turn: the output was never an answer
    reply = backend.exchanges[0][1]
    assert reply.stop_reason == "length" and reply.usage.output_tokens == 20 and reply.unfinished
    assert reply.tool_calls == [] and reply.text == "" and reply.reasoning
    assert judgment.evidence == []  # no draft tool call was executed


def test_reasoning_goes_back_as_reasoning_content_between_tool_turns(
    tiny_qwen_dirs: dict[str, Path],
) -> None:
    store = EvidenceStore()
    frame = store.put(np.zeros((64, 64, 3), np.uint8), "frame t=1.00s", timestamp=1.0)
    call = ToolCall(id="c1", name="select_frames", arguments={"timestamps": [1.0]})
    request = ModelRequest(
        system="You are a careful video judge.",
        messages=[
            Message(role="user", parts=[TextPart(text="Which is better?")]),
            Message(role="assistant", tool_calls=[call], reasoning="I should look at t=1 first."),
            Message(
                role="tool",
                tool_results=[ToolResult(call_id="c1", name="select_frames", parts=[ImagePart(evidence_id=frame)])],
            ),
        ],
        evidence=store,
    )
    prompt = QwenBackend(str(tiny_qwen_dirs["qwen3_vl_thinking"])).render(request)
    # The hub template re-renders the reasoning of a turn after the last user query inside <think>.
    assert "<|im_start|>assistant\n<think>\nI should look at t=1 first.\n</think>\n\n<tool_call>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")


async def test_the_graph_keeps_reasoning_with_the_turn_it_belongs_to(square_video: Path) -> None:
    seen: list[ModelRequest] = []
    replies = [
        ModelReply(
            tool_calls=[ToolCall(id="c1", name="select_frames", arguments={"timestamps": [1.0]})],
            stop_reason="tool_calls",
            reasoning="Check the corner at 1 s.",
        ),
        ModelReply(
            tool_calls=[
                ToolCall(
                    id="c2", name="submit_verdict", arguments={"preferred": "A", "confidence": 0.9, "rationale": "7"}
                )
            ],
            stop_reason="tool_calls",
            reasoning="It is a 7.",
        ),
    ]

    def reply(request: ModelRequest) -> ModelReply:
        seen.append(request)
        return replies[len(seen) - 1]

    judgment = await ajudge(
        square_video, QUESTION, "7", "1", backend=ScriptedBackend(reply), mode="agentic", frames=2, max_turns=3
    )
    assert judgment.status == "ok" and judgment.verdict and judgment.verdict.preferred == "A"
    assistant = [m for m in seen[1].messages if m.role == "assistant"]
    assert [m.reasoning for m in assistant] == ["Check the corner at 1 s."]
    assert judgment.transcript[0]["messages"][-1]["reasoning"] == "It is a 7."


def _sampling_backend(path: Path, **options: object) -> QwenBackend:
    """A backend on its own copy of the model whose generation_config samples (as Qwen3-VL's does)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    network = AutoModelForImageTextToText.from_pretrained(path)
    network.generation_config.update(do_sample=True, temperature=1.0, top_k=0, top_p=1.0)
    return QwenBackend.from_model(network, AutoProcessor.from_pretrained(path), **options)


def test_sampling_follows_the_checkpoint_unless_a_temperature_is_given(tiny_qwen_dirs: dict[str, Path]) -> None:
    path = tiny_qwen_dirs["qwen3_vl_8b_instruct"]
    auto = _sampling_backend(path)
    request = ModelRequest(
        messages=[Message(role="user", parts=[TextPart(text="Say something.")])], max_output_tokens=16
    )
    texts = {auto.generate(request.model_copy(update={"seed": seed})).text for seed in range(4)}
    assert len(texts) > 1  # sampled as the checkpoint's generation_config says, seeded per request
    assert (
        auto.generate(request.model_copy(update={"seed": 1})).text
        == auto.generate(request.model_copy(update={"seed": 1})).text
    )
    greedy = _sampling_backend(path, sampling="request")  # what --temperature 0 selects
    assert len({greedy.generate(request.model_copy(update={"seed": seed})).text for seed in range(3)}) == 1
    assert greedy._sampling_options(request)["do_sample"] is False
    hot = greedy._sampling_options(request.model_copy(update={"temperature": 0.7}))
    assert hot["do_sample"] is True and hot["temperature"] == 0.7


def test_cli_temperature_selects_request_sampling_for_qwen() -> None:
    from vrb_agent.cli.inputs import sampling_option

    options: dict[str, object] = {}
    sampling_option("qwen", None, options)
    assert options == {}  # the checkpoint's own sampling
    sampling_option("qwen", 0.0, options)
    assert options == {"sampling": "request"}
    other: dict[str, object] = {}
    sampling_option("vllm", 0.5, other)
    assert other == {}
