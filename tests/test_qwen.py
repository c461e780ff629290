"""The local Qwen backend on real (tiny, random-weight) Qwen2.5-VL and Qwen3-VL checkpoints.

The checkpoints are built offline by tests/qwen_tiny.py and loaded through the product's normal
`from_pretrained` path. Their output is gibberish, so these tests assert on plumbing: what the
prompt holds, that tokens were generated, which parsing path ran, how samples and usage are
counted, and that concurrent calls are serialised without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.qwen_tiny import HUB_FILES, allow_torchvision_without_ops
from vrb_agent.judges import registry
from vrb_agent.judges.base import (
    BackendError,
    ConfigError,
    ImagePart,
    Message,
    ModelRequest,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    VideoPart,
)
from vrb_agent.judges.qwen import QwenBackend
from vrb_agent.judges.qwen_loading import QWEN_TOOL_TEMPLATE, load_qwen
from vrb_agent.tools.evidence import EvidenceStore

allow_torchvision_without_ops()  # this machine's torchvision wheel lacks its C ops (test set-up only)

KINDS = ("qwen2_5_vl", "qwen3_vl")
# The same tests over checkpoints that carry the hub's own chat templates and preprocessor configs.
CHECKPOINTS = (*KINDS, *HUB_FILES)

ZOOM = ToolSpec(
    name="zoom",
    description="Crop a region of the frame at a time.",
    parameters={"type": "object", "properties": {"timestamp": {"type": "number"}}, "required": ["timestamp"]},
)
SUBMIT = ToolSpec(
    name="submit_verdict",
    description="End the judgment.",
    parameters={"type": "object", "properties": {"preferred": {"type": "string", "enum": ["A", "B"]}}},
)


@pytest.fixture(scope="module")
def store() -> EvidenceStore:
    store = EvidenceStore()
    for t in (0.5, 1.0, 2.2):
        image = np.zeros((120, 160, 3), np.uint8)
        image[40:80, int(40 * t) : int(40 * t) + 30] = (255, 0, 0)
        store.put(image, f"frame t={t:.2f}s", timestamp=t)
    return store


@pytest.fixture(scope="module", params=CHECKPOINTS)
def backend(request: pytest.FixtureRequest, tiny_qwen_dirs: dict[str, Path]) -> QwenBackend:
    built = registry.get_backend("qwen", model=str(tiny_qwen_dirs[request.param]))
    assert isinstance(built, QwenBackend)
    return built


def conversation(store: EvidenceStore, **overrides: Any) -> ModelRequest:
    """Overview frames, one assistant turn with two tool calls, their results (one image, one error)."""
    first, second, third = store.ids()
    messages = [
        Message(
            role="user",
            parts=[
                TextPart(text="Question: where is the red square? Which response is better?"),
                ImagePart(evidence_id=first, label="frame t=0.50s"),
                ImagePart(evidence_id=second, label="frame t=1.00s"),
            ],
        ),
        Message(
            role="assistant",
            parts=[TextPart(text="Let me zoom.")],
            tool_calls=[
                ToolCall(id="c1", name="zoom", arguments={"timestamp": 2.2}),
                ToolCall(id="c2", name="zoom", arguments={"timestamp": 99}),
            ],
        ),
        Message(
            role="tool",
            tool_results=[
                ToolResult(call_id="c1", name="zoom", parts=[ImagePart(evidence_id=third, label="zoom t=2.20s")]),
                ToolResult(call_id="c2", name="zoom", parts=[TextPart(text="timestamp beyond 5.0s")], is_error=True),
            ],
        ),
    ]
    fields: dict[str, Any] = {
        "system": "You are a careful video judge.",
        "messages": messages,
        "tools": [ZOOM, SUBMIT],
        "max_output_tokens": 10,
        "evidence": store,
    }
    return ModelRequest(**{**fields, **overrides})


def tool_names(prompt: str) -> list[str]:
    """Names of the tools listed in the prompt's <tools> block (one JSON object per line)."""
    block = re.search(r"<tools>\n(.*?)\n</tools>", prompt, re.DOTALL)
    return [json.loads(line)["function"]["name"] for line in block.group(1).splitlines()] if block else []


# ---- loading --------------------------------------------------------------------------------------


def test_loaded_once_per_model_device_dtype(tiny_qwen_dirs: dict[str, Path]) -> None:
    path = str(tiny_qwen_dirs["qwen3_vl"])
    first = registry.get_backend("qwen", model=path)
    second = registry.get_backend("qwen", model=path, device="cpu", dtype="float32", base_url=None)
    assert isinstance(first, QwenBackend) and isinstance(second, QwenBackend)
    assert first.loaded is second.loaded  # "auto" resolved to cpu/float32 on this machine: one model
    assert first.describe() == {"backend": "qwen", "model": path, "device": "cpu", "dtype": "float32"}
    assert str(next(first.loaded.model.parameters()).dtype) == "torch.float32"
    caps = first.capabilities()
    assert caps.native_n and caps.images_in_tool_results and not caps.native_video


def test_template_without_tools_is_replaced_by_the_hermes_template(tiny_qwen_dirs: dict[str, Path]) -> None:
    # The hub checkpoints: Qwen2.5-VL's template ignores tools=, Qwen3-VL's (both kinds) renders them.
    for name in ("qwen2_5_vl", "qwen2_5_vl_7b_instruct"):
        assert load_qwen(str(tiny_qwen_dirs[name])).chat_template == QWEN_TOOL_TEMPLATE
    for name in ("qwen3_vl", "qwen3_vl_8b_instruct", "qwen3_vl_thinking"):
        assert load_qwen(str(tiny_qwen_dirs[name])).chat_template is None


def test_missing_extra_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # what an absent package looks like to import
    with pytest.raises(ConfigError, match=re.escape("pip install 'vrb-agent[qwen]'")):
        registry.get_backend("qwen", model="Qwen/Qwen2.5-VL-7B-Instruct")


def test_bad_model_paths_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such checkpoint directory"):
        registry.get_backend("qwen", model=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match=r"no config\.json"):
        registry.get_backend("qwen", model=str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "not-a-model"}))
    with pytest.raises(ConfigError, match=r"cannot load Qwen model .*Qwen2\.5-VL / Qwen3-VL"):
        registry.get_backend("qwen", model=str(tmp_path))


def test_bad_device_and_dtype_are_config_errors(
    tiny_qwen_dirs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tiny_qwen_dirs["qwen3_vl"])
    with pytest.raises(ConfigError, match="dtype='fp8'; choose one of: auto, bfloat16, float16, float32"):
        registry.get_backend("qwen", model=path, dtype="fp8")
    with pytest.raises(ConfigError, match="has no option base_url, dtpye"):  # typos and API-only options
        registry.get_backend("qwen", model=path, dtpye="float16", base_url="http://localhost:8000/v1")
    with pytest.raises(ConfigError, match="native_video='maybe' is not a valid"):
        registry.get_backend("qwen", model=path, native_video="maybe")
    assert (
        registry.get_backend("qwen", model=path, native_video=True, max_images=8).capabilities().max_images_per_request
        == 8
    )
    with pytest.raises(ConfigError, match="no GPU"):
        registry.get_backend("qwen", model=path, device="cuda")
    monkeypatch.setenv("VRB_QWEN_DTYPE", "int3")  # the CLI's way to override
    with pytest.raises(ConfigError, match="dtype='int3'"):
        registry.get_backend("qwen", model=path)


# ---- the prompt -----------------------------------------------------------------------------------


def test_prompt_holds_tools_labelled_images_calls_and_tool_responses(
    backend: QwenBackend, store: EvidenceStore
) -> None:
    prompt = backend.render(conversation(store))
    assert prompt.startswith("<|im_start|>system\nYou are a careful video judge.")
    assert tool_names(prompt) == ["zoom", "submit_verdict"]
    assert "frame t=0.50s: <|vision_start|><|image_pad|><|vision_end|>" in prompt
    assert '<tool_call>\n{"name": "zoom", "arguments": {"timestamp": 2.2}}\n</tool_call>' in prompt
    # Both results answer in one user turn, each in its own <tool_response>, the image with its label.
    turn = prompt.split("<|im_start|>user\n<tool_response>")[1].split("<|im_end|>")[0]
    assert turn.count("<tool_response>") == 1 and turn.count("</tool_response>") == 2  # first tag split off
    assert "zoom t=2.20s: <|vision_start|><|image_pad|><|vision_end|>" in turn
    assert "error from zoom: timestamp beyond 5.0s" in turn
    assert prompt.endswith(("<|im_start|>assistant\n", "<|im_start|>assistant\n<think>\n"))
    assert prompt.count("<|image_pad|>") == 3


def test_qwen3_hub_template_renders_exactly_the_projects_tool_template(
    tiny_qwen_dirs: dict[str, Path], store: EvidenceStore
) -> None:
    """The hermes template used for Qwen2.5-VL is Qwen3-VL-8B-Instruct's format, byte for byte."""
    hub = QwenBackend(str(tiny_qwen_dirs["qwen3_vl_8b_instruct"]))
    ours = QwenBackend(str(tiny_qwen_dirs["qwen3_vl"]))  # the tests' checkpoint carries QWEN_TOOL_TEMPLATE
    for request in (conversation(store), conversation(store, tool_choice="none"), conversation(store, system="")):
        assert hub.render(request) == ours.render(request)


def test_tool_choice_narrows_or_removes_tools(backend: QwenBackend, store: EvidenceStore) -> None:
    assert tool_names(backend.render(conversation(store, tool_choice="submit_verdict"))) == ["submit_verdict"]
    assert tool_names(backend.render(conversation(store, tool_choice="required"))) == ["zoom", "submit_verdict"]
    assert "<tools>" not in backend.render(conversation(store, tool_choice="none"))


def test_pixels_match_the_image_placeholders(backend: QwenBackend, store: EvidenceStore) -> None:
    from vrb_agent.judges.qwen_chat import ChatBuilder

    chat = ChatBuilder(conversation(store)).build()
    inputs = backend._encode(chat)
    assert tuple(inputs["image_grid_thw"].shape) == (3, 3)
    merge = backend.loaded.processor.image_processor.merge_size
    expected_pads = int(inputs["image_grid_thw"].prod(dim=1).sum()) // merge**2
    pad_id = backend.loaded.processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == pad_id).sum()) == expected_pads


# ---- generation -----------------------------------------------------------------------------------


async def test_complete_generates_tokens_and_counts_usage(backend: QwenBackend, store: EvidenceStore) -> None:
    request = conversation(store)
    calls_before = backend.loaded.generate_calls
    reply = await backend.complete(request)
    assert backend.loaded.generate_calls == calls_before + 1
    assert 1 <= reply.usage.output_tokens <= request.max_output_tokens
    assert reply.usage.input_tokens > 3 * 4  # text plus at least 4 merged tokens per image
    assert reply.usage.images == 3 and reply.usage.calls == 1
    assert reply.model == backend.model and reply.latency_s > 0
    assert reply.stop_reason in ("end", "length", "tool_calls")
    if reply.stop_reason == "tool_calls":
        assert reply.tool_calls


async def test_n_samples_come_from_one_generate_call(backend: QwenBackend, store: EvidenceStore) -> None:
    request = conversation(store, n=3, temperature=1.0, seed=7)
    calls_before = backend.loaded.generate_calls
    replies = await backend.complete_n(request)
    assert backend.loaded.generate_calls == calls_before + 1
    assert len(replies) == 3 and all(r.usage.output_tokens >= 1 for r in replies)
    # One prefill served all samples: prompt tokens and images are counted once.
    assert [r.usage.calls for r in replies] == [1, 0, 0]
    assert replies[0].usage.input_tokens > 0 and replies[1].usage.input_tokens == 0


async def test_generation_kwargs_reach_generate(tiny_qwen_dirs: dict[str, Path], store: EvidenceStore) -> None:
    path = str(tiny_qwen_dirs["qwen3_vl"])
    forced = QwenBackend(path, generation_kwargs={"min_new_tokens": 6})
    assert forced.loaded is load_qwen(path)  # shares the process-wide model
    reply = await forced.complete(conversation(store, max_output_tokens=6))
    assert reply.usage.output_tokens == 6 and reply.stop_reason == "length"


async def test_greedy_n_is_one_sequence_repeated(backend: QwenBackend, store: EvidenceStore) -> None:
    calls_before = backend.loaded.generate_calls
    replies = await backend.complete_n(conversation(store, n=2, temperature=0.0))
    assert backend.loaded.generate_calls == calls_before + 1
    assert replies[0].text == replies[1].text and len(replies) == 2


async def test_concurrent_calls_are_serialised_off_the_event_loop(backend: QwenBackend, store: EvidenceStore) -> None:
    model = backend.loaded.model
    real_generate = model.generate
    active = 0
    overlap = 0
    guard = threading.Lock()

    def counting_generate(*args: Any, **kwargs: Any) -> Any:
        nonlocal active, overlap
        with guard:
            active += 1
            overlap = max(overlap, active)
        try:
            return real_generate(*args, **kwargs)
        finally:
            with guard:
                active -= 1

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    model.generate = counting_generate
    try:
        clock = asyncio.create_task(ticker())
        replies = await asyncio.gather(*(backend.complete(conversation(store)) for _ in range(4)))
        clock.cancel()
    finally:
        del model.generate
    assert len(replies) == 4 and all(r.usage.output_tokens >= 1 for r in replies)
    assert overlap == 1  # one generate at a time on the shared model
    assert ticks > 0  # the loop kept running while the model worked


# ---- parsing canned Qwen outputs through the decode path -------------------------------------------

CANNED = {
    "valid": '<tool_call>\n{"name": "zoom", "arguments": {"timestamp": 2.2, "box": [0, 0, 500, 500]}}\n</tool_call>',
    "several": 'Looking closer.\n<tool_call>\n{"name": "zoom", "arguments": {"timestamp": 1.0}}\n</tool_call>\n'
    '<tool_call>\n{"name": "select_frames", "arguments": {"timestamps": [0.5, 4.0]}}\n</tool_call>',
    "malformed": '<tool_call>\n{"name": "zoom", "arguments": {"timestamp": 2.2,, }\n</tool_call>',
    "verdict_text": "Overall Judgment: Answer A is better.",
}


def reply_for(backend: QwenBackend, text: str, *, finished: bool = True, thinking: bool = False) -> Any:
    import torch

    tokenizer = backend.loaded.processor.tokenizer
    ids = tokenizer(text)["input_ids"] + ([tokenizer.convert_tokens_to_ids("<|im_end|>")] if finished else [])
    return backend._reply(torch.tensor(ids), 0.1, prompt_tokens=50, images=0, thinking=thinking, budget=len(ids))


def test_canned_outputs_take_the_right_parsing_path(backend: QwenBackend) -> None:
    valid = reply_for(backend, CANNED["valid"])
    assert valid.stop_reason == "tool_calls" and valid.text == ""
    assert [(c.name, c.arguments, c.parse_error) for c in valid.tool_calls] == [
        ("zoom", {"timestamp": 2.2, "box": [0, 0, 500, 500]}, None)
    ]
    several = reply_for(backend, CANNED["several"])
    assert several.text == "Looking closer."
    assert [c.name for c in several.tool_calls] == ["zoom", "select_frames"]
    assert several.tool_calls[1].arguments == {"timestamps": [0.5, 4.0]}
    malformed = reply_for(backend, CANNED["malformed"])
    assert malformed.tool_calls[0].name == "zoom" and "not valid JSON" in (malformed.tool_calls[0].parse_error or "")
    plain = reply_for(backend, CANNED["verdict_text"])
    assert plain.stop_reason == "end" and plain.tool_calls == [] and plain.text == CANNED["verdict_text"]
    assert plain.usage.output_tokens == len(backend.loaded.processor.tokenizer(CANNED["verdict_text"])["input_ids"]) + 1


def test_thinking_is_not_parsed_as_answer_or_calls(backend: QwenBackend) -> None:
    draft = '<tool_call>{"name": "zoom", "arguments": {"timestamp": 1}}</tool_call> maybe Answer B is better'
    reply = reply_for(backend, f"<think>{draft}</think>\nOverall Judgment: Answer A is better.")
    assert reply.text == "Overall Judgment: Answer A is better." and reply.tool_calls == []
    assert reply.reasoning.startswith("<tool_call>") and reply.unfinished is None
    prompt_opened = reply_for(backend, f"{draft}</think>\n{CANNED['valid']}", thinking=True)
    assert [c.name for c in prompt_opened.tool_calls] == ["zoom"] and "maybe" not in prompt_opened.text
    unfinished = reply_for(backend, f"<think>{draft}", finished=False)
    assert unfinished.text == "" and unfinished.tool_calls == [] and unfinished.stop_reason == "length"
    assert "cut off" in (unfinished.unfinished or "")


def test_reply_to_a_prompt_inside_think_without_close_is_unfinished(backend: QwenBackend) -> None:
    """The Thinking template opens <think> in the prompt: a reply cut off before </think> has no tag at
    all, and neither its draft verdict nor its draft tool call may be read."""
    draft = f"Answer A looks right. {CANNED['valid']} Overall Judgment: Answer A is better."
    cut = reply_for(backend, draft, finished=False, thinking=True)
    assert cut.text == "" and cut.tool_calls == [] and cut.stop_reason == "length"
    assert "cut off" in (cut.unfinished or "") and "--max-output-tokens" in (cut.unfinished or "")
    assert "Overall Judgment" in cut.reasoning
    ended = reply_for(backend, draft, finished=True, thinking=True)
    assert ended.tool_calls == [] and ended.unfinished and "gave no answer" in ended.unfinished
    plain = reply_for(backend, draft, finished=True)  # no thinking prompt: an ordinary answer
    assert plain.unfinished is None and [c.name for c in plain.tool_calls] == ["zoom"]


async def test_an_image_the_processor_rejects_fails_the_call_not_the_process(backend: QwenBackend) -> None:
    store = EvidenceStore()
    sliver = store.put(np.zeros((2, 500, 3), np.uint8), "zoom t=1.00s")  # aspect ratio 250: Qwen refuses it
    request = ModelRequest(
        messages=[Message(role="user", parts=[ImagePart(evidence_id=sliver)])], max_output_tokens=4, evidence=store
    )
    with pytest.raises(BackendError, match=r"qwen generation failed on cpu .*aspect ratio"):
        await backend.complete(request)


def test_truncated_call_is_reported_not_dropped(backend: QwenBackend) -> None:
    cut = reply_for(backend, '<tool_call>\n{"name": "select_frames", "arguments": {"timesta', finished=False)
    assert cut.stop_reason == "length"
    assert cut.tool_calls[0].name == "select_frames" and cut.tool_calls[0].parse_error
    unclosed = reply_for(backend, '<tool_call>\n{"name": "zoom", "arguments": {"timestamp": 3}}')
    assert unclosed.tool_calls[0].arguments == {"timestamp": 3} and unclosed.tool_calls[0].parse_error is None


# ---- video with timing metadata -------------------------------------------------------------------


def test_video_clip_carries_true_times(tiny_qwen_dirs: dict[str, Path], square_video: Path) -> None:
    clip = VideoPart(media_path=str(square_video), start=1.0, end=3.0, fps=2.0)
    request = ModelRequest(messages=[Message(role="user", parts=[TextPart(text="Watch."), clip])], max_output_tokens=4)
    for kind in KINDS:
        backend = QwenBackend(str(tiny_qwen_dirs[kind]), native_video=True)
        assert backend.capabilities().native_video
        from vrb_agent.judges.qwen_chat import ChatBuilder

        chat = ChatBuilder(request).build()
        assert chat.video_metadata[0].timestamps == pytest.approx([1.0, 1.5, 2.0, 2.5])
        inputs = backend._encode(chat)
        assert int(inputs["video_grid_thw"][0][0]) == 2  # 4 frames merged in temporal pairs
        text = backend.loaded.processor.tokenizer.decode(inputs["input_ids"][0])
        assert "clip 1.00-3.00s at 2 fps: " in text
        if kind == "qwen2_5_vl":  # temporal positions advance by the clip's real sampling rate
            assert inputs["second_per_grid_ts"] == pytest.approx([1.0])  # 2 frames per grid / 2 fps
        else:  # Qwen3-VL writes each pair's mean time into the prompt, the same on every transformers
            assert "<1.2 seconds>" in text and "<2.2 seconds>" in text
            assert "at 2 fps: <1.2 seconds><|vision_start|><|video_pad|>" in text
            assert text.count("<|vision_start|>") == text.count("<|vision_end|>") == 2  # no outer pair
        reply = backend.generate(request)
        assert reply.usage.output_tokens >= 1
