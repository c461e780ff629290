"""Whole judgments through the judge graph on tiny random-weight Qwen-VL checkpoints.

The real transformers path end to end: the graph builds requests, the backend renders the chat
template, encodes frames, generates, decodes and parses, and the graph acts on what came back. The
model's output is gibberish, so the assertions are about plumbing (tokens generated and counted,
every reply through the parser, the verdict contract enforced), never about content.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.qwen_recording import RecordingQwen
from tests.qwen_tiny import allow_torchvision_without_ops
from vrb_agent.agents.api import ajudge
from vrb_agent.judges.base import VideoPart
from vrb_agent.judges.qwen import QwenBackend

allow_torchvision_without_ops()  # this machine's torchvision wheel lacks its C ops (test set-up only)

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "Which digit appears in the bottom-left corner, and when does the red square appear?"
RESPONSE_A = "The digit 7, from 1 s to 3 s; the red square appears at 2 s."
RESPONSE_B = "The digit 1; there is no red square."


@pytest.mark.parametrize("kind", ["qwen2_5_vl", "qwen3_vl"])
async def test_agentic_judgment_runs_end_to_end(kind: str, tiny_qwen_dirs: dict[str, Path], square_video: Path) -> None:
    backend = RecordingQwen(str(tiny_qwen_dirs[kind]))
    generate_calls = backend.loaded.generate_calls
    events: list[dict[str, object]] = []
    judgment = await ajudge(
        square_video,
        QUESTION,
        RESPONSE_A,
        RESPONSE_B,
        backend=backend,
        mode="agentic",
        frames=4,
        max_turns=2,
        max_output_tokens=24,
        on_event=events.append,
    )
    assert judgment.status == "invalid" and judgment.verdict is None  # gibberish never becomes a verdict
    assert judgment.error
    exchanges = backend.exchanges
    assert len(exchanges) == judgment.usage.calls == backend.loaded.generate_calls - generate_calls
    assert 2 <= len(exchanges) <= 3  # max_turns deliberate turns, then possibly one conclude
    first_request = exchanges[0][0]
    assert {t.name for t in first_request.tools} >= {"select_frames", "zoom", "reexamine_clip", "submit_verdict"}
    assert first_request.image_count() == 4
    assert backend.render(first_request).count("<|image_pad|>") == 4
    assert judgment.images_sent >= 4
    for _, reply in exchanges:  # tokens were generated and every reply went through the parser
        assert 1 <= reply.usage.output_tokens <= 24
        assert "<tool_call>" not in reply.text
        assert reply.stop_reason in ("length", "tool_calls" if reply.tool_calls else "end")
    assert judgment.usage.output_tokens == sum(r.usage.output_tokens for _, r in exchanges)
    assert judgment.usage.input_tokens == sum(r.usage.input_tokens for _, r in exchanges)
    # Any call the model did emit was run (or answered with a corrective error) and logged.
    emitted = [c.name for _, r in exchanges[:-1] for c in r.tool_calls if c.name != "submit_verdict"]
    assert [e.name for e in judgment.evidence if e.name != "submit_verdict"] == emitted


async def test_single_pass_judgment_repairs_once_then_is_invalid(
    tiny_qwen_dirs: dict[str, Path], square_video: Path
) -> None:
    backend = RecordingQwen(str(tiny_qwen_dirs["qwen2_5_vl"]))
    judgment = await ajudge(
        square_video, QUESTION, RESPONSE_A, RESPONSE_B, backend=backend, mode="single", frames=4, max_output_tokens=16
    )
    assert judgment.status == "invalid"
    assert judgment.usage.calls == len(backend.exchanges) == 2  # the answer, then one repair request
    assert all(not request.tools for request, _ in backend.exchanges)
    assert "<tools>" not in backend.render(backend.exchanges[0][0])


async def test_native_video_judgment_sends_timed_clips(tiny_qwen_dirs: dict[str, Path], square_video: Path) -> None:
    backend = RecordingQwen(str(tiny_qwen_dirs["qwen3_vl"]), native_video=True)
    judgment = await ajudge(
        square_video, QUESTION, RESPONSE_A, RESPONSE_B, backend=backend, frames=4, max_turns=1, max_output_tokens=16
    )
    assert judgment.status in ("invalid", "ok")
    request = backend.exchanges[0][0]
    videos = [p for m in request.messages for p in m.parts if isinstance(p, VideoPart)]
    assert len(videos) == 1 and videos[0].start == 0.0
    from vrb_agent.judges.qwen_chat import ChatBuilder

    inputs = backend._encode(ChatBuilder(request).build())
    groups = int(inputs["video_grid_thw"][0][0])
    prompt = backend.loaded.processor.tokenizer.decode(inputs["input_ids"][0])
    assert groups >= 2 and prompt.count(" seconds>") == groups  # Qwen3-VL's per-group time stamps
    assert backend.exchanges[0][1].usage.output_tokens >= 1


def judge_with_qwen_cli(
    video: Path, model: Path, *options: str, shadow: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`vrb-agent judge --backend qwen --model MODEL` in a fresh process (no test-only patches);
    `shadow` is a directory put before the project on the import path."""
    command = ["judge", str(video), "--question", "q", "--response-a", "a", "--response-b", "b", *options]
    return subprocess.run(
        [sys.executable, "-m", "vrb_agent.cli", *command, "--backend", "qwen", "--model", str(model)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (shadow, ROOT) if p)},
        timeout=300,
        check=False,
    )


def test_cli_bad_model_path_exits_3(square_video: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-checkpoint"
    result = judge_with_qwen_cli(square_video, missing)
    assert result.returncode == 3, result.stderr
    assert str(missing) in result.stderr + result.stdout
    assert "no such checkpoint directory" in result.stderr + result.stdout


def test_benchmark_run_shares_one_model_across_concurrent_judgments(
    tiny_qwen_dirs: dict[str, Path], make_bench_dataset, tmp_path: Path
) -> None:
    import json

    from vrb_agent.benchmark.runner import run_benchmark
    from vrb_agent.judges.registry import get_backend

    path = str(tiny_qwen_dirs["qwen2_5_vl"])
    backend = QwenBackend(path, generation_kwargs={"max_new_tokens": 24})  # bench keeps the 2048 default
    generate_calls = backend.loaded.generate_calls
    data = make_bench_dataset(n=3, dims=("d0",))
    outcome = run_benchmark(
        out=tmp_path / "run", data=str(data), backend=backend, modes=["single", "agentic"], frames=[2],
        max_turns=1, concurrency=4, progress=False, save_evidence=False,
    )  # fmt: skip
    records = [json.loads(line) for line in (outcome.run_dir / "results.jsonl").read_text().splitlines()]
    assert len(records) == 6 and outcome.errors == 0, [r["error"] for r in records]
    assert {r["backend"] for r in records} == {"qwen"} and {r["status"] for r in records} <= {"invalid", "ok"}
    assert all(r["usage"]["output_tokens"] > 0 for r in records)
    calls = sum(r["usage"]["calls"] for r in records)
    assert calls == backend.loaded.generate_calls - generate_calls  # every model call ran on the one shared model
    assert get_backend("qwen", model=path).loaded is backend.loaded


def test_cli_where_torchvision_cannot_load_exits_3_naming_a_matching_pair(
    tiny_qwen_dirs: dict[str, Path], square_video: Path, tmp_path: Path
) -> None:
    """Outside the tests nothing patches torchvision: a wheel whose C operators do not load beside
    this torch (a CPU torch with PyPI's CUDA torchvision) is a configuration error that says what to
    install, not a traceback. Where this venv's pair matches, a stand-in package that fails to
    import as such a wheel does shadows the real one."""
    shadow: Path | None = None
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, check=False)
    if probe.returncode == 0:
        shadow = tmp_path / "mismatched"
        (shadow / "torchvision").mkdir(parents=True)
        (shadow / "torchvision" / "__init__.py").write_text(
            'raise RuntimeError("operator torchvision::nms does not exist")\n'
        )
    result = judge_with_qwen_cli(square_video, tiny_qwen_dirs["qwen3_vl_8b_instruct"], shadow=shadow)
    assert result.returncode == 3, result.stderr
    assert "torch==2.14.1 torchvision==0.29.1" in result.stderr and "Traceback" not in result.stderr


def test_cli_from_a_venv_with_a_matching_pair_reaches_generation(
    tiny_qwen_dirs: dict[str, Path], square_video: Path
) -> None:
    """With a torch/torchvision pair whose C operators load (the pair `make install` pins),
    `--backend qwen` in a fresh process with no test patches loads the checkpoint and generates:
    the tiny model's gibberish is no verdict (exit 5), never a configuration error (exit 3)."""
    probe = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("this venv's torchvision does not load beside its torch (a mismatched TORCH_PAIR)")
    # One short turn: generation is reached either way, and 2,048 gibberish tokens x 6 turns on CPU
    # take minutes on a loaded machine.
    options = ("--max-turns", "1", "--max-output-tokens", "32")
    result = judge_with_qwen_cli(square_video, tiny_qwen_dirs["qwen3_vl_8b_instruct"], *options)
    assert result.returncode == 5, result.stderr
    assert "No verdict: status invalid" in result.stderr + result.stdout
