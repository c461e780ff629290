"""Context budgets: visual tokens by the processor's own rules, requests shrunk to fit the model's
context before they are sent, and a clear per-judgment error when nothing can make them fit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.qwen_tiny import allow_torchvision_without_ops
from vrb_agent.agents.api import ajudge
from vrb_agent.judges.base import ImagePart, Message, ModelRequest, TextPart, ToolResult
from vrb_agent.judges.budget import ContextOverflowError, VisionRules, fit_to_context
from vrb_agent.judges.qwen import QwenBackend
from vrb_agent.judges.qwen_chat import ChatBuilder, vision_rules
from vrb_agent.tools.evidence import EvidenceStore

allow_torchvision_without_ops()  # this machine's torchvision wheel lacks its C ops (test set-up only)

QUESTION = "Which digit appears in the bottom-left corner?"


@pytest.mark.parametrize("patch", [14, 16])
def test_resize_rules_match_the_processors_smart_resize(patch: int) -> None:
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    rules = VisionRules(patch_size=patch, min_pixels=3136, max_pixels=12845056)
    for height in (2, 33, 240, 432, 720, 1080, 3000):
        for width in (40, 320, 768, 1280, 5000):
            if max(height, width) > 200 * min(height, width):
                with pytest.raises(ValueError, match="aspect ratio"):
                    rules.resized(height, width)
                continue
            for cap in (3136 * 4, 200_000, 12845056):
                expected = smart_resize(height, width, factor=patch * 2, min_pixels=3136, max_pixels=cap)
                assert rules.resized(height, width, cap) == tuple(expected), (height, width, cap)


@pytest.mark.parametrize(("hub", "tokens"), [("qwen2_5_vl_7b_instruct", 6480), ("qwen3_vl_8b_instruct", 5376)])
def test_sixteen_overview_frames_cost_what_the_processor_says(
    hub: str, tokens: int, tiny_qwen_dirs: dict[str, Path]
) -> None:
    """16 frames of 16:9 video at the 768-px frame cap, with the hub's real preprocessor config."""
    backend = QwenBackend(str(tiny_qwen_dirs[hub]))
    assert backend.rules.max_pixels in (12845056, 16777216)  # the hub's own limit applies
    assert 16 * backend.rules.image_tokens(432, 768) == tokens
    store = EvidenceStore()
    frame = store.put(np.zeros((432, 768, 3), np.uint8), "frame t=0.00s")
    request = ModelRequest(messages=[Message(role="user", parts=[ImagePart(evidence_id=frame)])], evidence=store)
    inputs = backend._encode(ChatBuilder(request, backend.rules).build())
    merge = backend.rules.merge_size
    assert int(inputs["image_grid_thw"].prod(dim=1).sum()) // merge**2 == tokens // 16


def test_min_and_max_pixels_options_change_the_rules(tiny_qwen_dirs: dict[str, Path]) -> None:
    processor = QwenBackend(str(tiny_qwen_dirs["qwen3_vl_8b_instruct"])).loaded.processor
    assert vision_rules(processor).max_pixels == 16777216
    assert vision_rules(processor, max_pixels=200_000).max_pixels == 200_000
    assert vision_rules(processor, max_pixels=10**9).max_pixels == 16777216  # the processor's own cap holds
    assert vision_rules(processor, min_pixels=100_000).min_pixels == 100_000
    from vrb_agent.judges.base import ConfigError

    with pytest.raises(ConfigError, match="min_pixels 300000 is above max_pixels 200000"):
        vision_rules(processor, min_pixels=300_000, max_pixels=200_000)


def frames_request(count: int, size: tuple[int, int] = (432, 768), tool_images: int = 0) -> ModelRequest:
    store = EvidenceStore(max_side=4096)
    ids = [store.put(np.full((*size, 3), i, np.uint8), f"frame t={i:.2f}s") for i in range(count + tool_images)]
    messages = [Message(role="user", parts=[TextPart(text="Judge."), *(ImagePart(evidence_id=i) for i in ids[:count])])]
    if tool_images:
        result = ToolResult(call_id="c1", name="zoom", parts=[ImagePart(evidence_id=i) for i in ids[count:]])
        messages.append(Message(role="tool", tool_results=[result]))
    return ModelRequest(messages=messages, max_output_tokens=500, evidence=store)


RULES = VisionRules(patch_size=14, min_pixels=3136, max_pixels=12845056)


def test_a_request_that_fits_is_sent_unchanged() -> None:
    request = frames_request(16)
    fit = fit_to_context(request, RULES, count_text=lambda _: 1000, context=32768, where="config")
    assert fit.request is request and fit.max_pixels == RULES.max_pixels and fit.notes == []


def test_too_many_visual_tokens_are_first_downscaled() -> None:
    request = frames_request(48, size=(768, 768))  # 48 square frames: 48 x 729 tokens > a 32k context
    assert 48 * RULES.image_tokens(768, 768) > 32768
    fit = fit_to_context(request, RULES, count_text=lambda _: 1500, context=32768, where="config.json")
    assert fit.request is request and fit.max_pixels < RULES.max_pixels
    visual = 48 * RULES.image_tokens(768, 768, fit.max_pixels)
    assert 1500 + visual + 500 <= 32768 and 1500 + visual + 500 > 32768 * 0.9  # close to the budget
    assert "48 images downscaled" in fit.notes[0] and "32768-token context (config.json)" in fit.notes[0]


def test_then_the_oldest_images_are_left_out_with_a_note() -> None:
    request = frames_request(10, tool_images=2)
    floor_cost = RULES.image_tokens(432, 768, 64 * 28 * 28)
    context = 300 + 500 + 5 * floor_cost  # room for 5 images at the floor resolution
    fit = fit_to_context(request, RULES, count_text=lambda _: 300, context=context, where="option max_model_len")
    kept = fit.request.image_count()
    assert kept == 5 and request.image_count() == 12  # the original request is untouched
    # The images of the last message (the ones just asked for) are kept; the oldest overview frames go.
    assert all(isinstance(p, ImagePart) for p in fit.request.messages[-1].tool_results[0].parts)
    overview = fit.request.messages[0].parts
    notes = [p.text for p in overview if isinstance(p, TextPart) and "left out" in p.text]
    assert len(notes) == 7 and "frame t=0.00s" in notes[0]
    assert "7 of 12 images left out" in fit.notes[0] and "--frames" in fit.notes[0]


def test_text_alone_over_the_context_is_a_clear_error() -> None:
    with pytest.raises(ContextOverflowError, match=r"about 5000 tokens .* 4096-token context \(config\.json\)"):
        fit_to_context(frames_request(2), RULES, count_text=lambda _: 5000, context=4096, where="config.json")


async def test_a_judgment_over_a_small_context_is_shrunk_and_says_so(
    tiny_qwen_dirs: dict[str, Path], square_video: Path
) -> None:
    roomy = QwenBackend(str(tiny_qwen_dirs["qwen2_5_vl_7b_instruct"]))
    request_tokens = roomy.fit(frames_request(1)).request  # warm the shared model
    assert request_tokens.image_count() == 1
    backend = QwenBackend(str(tiny_qwen_dirs["qwen2_5_vl_7b_instruct"]), max_model_len=2000)
    judgment = await ajudge(
        square_video, QUESTION, "7", "1", backend=backend, mode="single", frames=16, max_output_tokens=16
    )
    assert judgment.status == "invalid", judgment.error  # gibberish, but the request went through
    assert judgment.notes and "2000-token context (option max_model_len)" in judgment.notes[0]
    assert judgment.usage.input_tokens > 0 and judgment.usage.input_tokens <= 2 * (2000 - 16)


async def test_a_judgment_that_cannot_fit_fails_with_a_message_not_a_traceback(
    tiny_qwen_dirs: dict[str, Path], square_video: Path
) -> None:
    backend = QwenBackend(str(tiny_qwen_dirs["qwen3_vl_8b_instruct"]), max_model_len=300)
    judgment = await ajudge(
        square_video, QUESTION, "7", "1", backend=backend, mode="agentic", frames=4, max_output_tokens=64
    )
    assert judgment.status == "error" and judgment.verdict is None
    assert "300-token context (option max_model_len)" in (judgment.error or "")
    assert "--max-output-tokens" in (judgment.error or "")


def test_the_budget_flags_reach_the_judge_config() -> None:
    from vrb_agent.benchmark.config import BenchConfig
    from vrb_agent.cli.inputs import budget_knobs

    assert budget_knobs(4096, None, 12) == {"max_output_tokens": 4096, "max_images": 12}
    config = BenchConfig(data="x", backend="sim", max_output_tokens=4096, max_side=512, max_images=12)
    judge = config.judge_config(("agentic", 16, 1), seed=0)
    assert (judge.max_output_tokens, judge.max_side, judge.max_images) == (4096, 512, 12)
    assert "max_side" not in BenchConfig(data="x", backend="sim").identity()  # old runs keep resuming


def test_bench_records_carry_the_shrink_notes(
    tiny_qwen_dirs: dict[str, Path], make_bench_dataset, tmp_path: Path
) -> None:
    import json

    from vrb_agent.benchmark.runner import run_benchmark

    backend = QwenBackend(str(tiny_qwen_dirs["qwen3_vl_8b_instruct"]), max_model_len=1800)
    data = make_bench_dataset(n=1, dims=("d0",))
    outcome = run_benchmark(
        out=tmp_path / "run", data=str(data), backend=backend, modes=["single"], frames=[16],
        max_output_tokens=16, progress=False, save_evidence=False,
    )  # fmt: skip
    (record,) = [json.loads(line) for line in (outcome.run_dir / "results.jsonl").read_text().splitlines()]
    assert record["status"] != "error", record["error"]
    assert record["notes"] and "1800-token context" in record["notes"][0]
