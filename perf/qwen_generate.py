"""Inference-time scaling on the local Qwen backend: K samples in one `generate` vs K sequential calls.

Builds a randomly initialised Qwen2.5-VL-7B architecture (no weights needed: the compute is the
same) on the GPU, or with `--tiny` the tests' tiny config on the CPU (a smoke run of the same path),
and runs judgment-shaped requests (system prompt, tools, 16 overview frames, question and two
responses) through `QwenBackend`:

  K=1                one generate call, one sample
  K=5 one generate   `n=5` -> `num_return_sequences=5` (the backend's native_n path)
  K=5 sequential     five generate calls of one sample each (the baseline)

It prints judgments/s (a judgment = all K samples of one request), generated tokens/s and peak
memory per phase, and the batched/sequential speed-up measured in the same run.

    python perf/qwen_generate.py --tiny             # CPU smoke run
    python perf/qwen_generate.py --new-tokens 128   # GPU, full-size architecture
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.qwen_tiny import (  # noqa: E402 - the tests' offline tokenizer/processor builders
    allow_torchvision_without_ops,
    qwen_processor,
    qwen_tokenizer,
    tiny_config,
    vision_token_ids,
)
from vrb_agent.benchmark.synth import Shape, Text, VideoSpec, render_frame  # noqa: E402
from vrb_agent.judges.base import ImagePart, Message, ModelRequest, TextPart, ToolSpec  # noqa: E402
from vrb_agent.tools.evidence import EvidenceStore  # noqa: E402
from vrb_agent.tools.visual import ReexamineClipArgs, SelectFramesArgs, ZoomArgs, schema_of  # noqa: E402

K = 5
FRAMES = 16


def full_size_config(tokenizer: Any) -> Any:
    """Qwen2.5-VL-7B-Instruct's architecture (its published config.json), random weights."""
    from transformers import Qwen2_5_VLConfig

    text = {
        "vocab_size": 152064,
        "hidden_size": 3584,
        "intermediate_size": 18944,
        "num_hidden_layers": 28,
        "num_attention_heads": 28,
        "num_key_value_heads": 4,
        "max_position_embeddings": 128000,
        "rms_norm_eps": 1e-6,
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [16, 24, 24]},
        "eos_token_id": tokenizer.convert_tokens_to_ids("<|im_end|>"),
        "pad_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        "bos_token_id": tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    }
    vision = {
        "depth": 32,
        "hidden_size": 1280,
        "intermediate_size": 3420,
        "num_heads": 16,
        "out_hidden_size": 3584,
        "fullatt_block_indexes": [7, 15, 23, 31],
        "window_size": 112,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
        "tokens_per_second": 2,
    }
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, **vision_token_ids(tokenizer))


def build_backend(tiny: bool, device: str, new_tokens: int) -> Any:
    """A QwenBackend over a random-weight model built in memory (nothing is downloaded)."""
    import torch
    from transformers import AutoModelForImageTextToText

    from vrb_agent.judges.qwen import QwenBackend

    torch.manual_seed(0)
    tokenizer = qwen_tokenizer()
    if tiny:
        config, dtype, pixels = tiny_config("qwen2_5_vl", tokenizer), torch.float32, (4 * 28 * 28, 16 * 28 * 28)
    else:  # the hub processor's limits: 768x432 evidence frames stay near full size (~400 tokens each)
        config, dtype, pixels = full_size_config(tokenizer), torch.bfloat16, (3136, 12845056)
    with torch.device(device):
        network = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    processor = qwen_processor("qwen2_5_vl", tokenizer, min_pixels=pixels[0], max_pixels=pixels[1])
    name = "random-init tiny Qwen2.5-VL" if tiny else "random-init Qwen2.5-VL-7B"
    # Every sample generates exactly --new-tokens tokens, so batched and sequential do the same work
    # (random weights may otherwise stop early at different lengths).
    return QwenBackend.from_model(network, processor, name=name, generation_kwargs={"min_new_tokens": new_tokens})


def judgment_request(size: tuple[int, int], new_tokens: int) -> ModelRequest:
    """A first-turn agentic request: tools, 16 labelled overview frames, question, two responses."""
    width, height = size
    spec = VideoSpec(
        width=width,
        height=height,
        duration=16.0,
        moving_bar=True,
        shapes=[Shape((255, 0, 0), width // 4, height // 3, height // 6, 5.0, 9.0)],
        texts=[Text("7", 10, height - 10, height // 8, start=2.0, end=12.0)],
    )
    store = EvidenceStore()
    parts: list[Any] = [TextPart(text="Question: when does the red square appear, and what digit is shown?")]
    for i in range(FRAMES):
        t = (i + 0.5) * spec.duration / FRAMES
        evidence_id = store.put(render_frame(spec, t), f"frame t={t:.2f}s", timestamp=t)
        parts.append(ImagePart(evidence_id=evidence_id, label=f"frame t={t:.2f}s"))
    parts.append(TextPart(text="Response A: The square appears at 5 s; the digit is 7.\nResponse B: At 2 s; 1."))
    visual = {"select_frames": SelectFramesArgs, "zoom": ZoomArgs, "reexamine_clip": ReexamineClipArgs}
    tools = [
        ToolSpec(name=name, description=(args.__doc__ or "").strip(), parameters=schema_of(args))
        for name, args in visual.items()
    ]
    return ModelRequest(
        system="You judge which response better answers the question about the video. Use the tools, then decide.",
        messages=[Message(role="user", parts=parts)],
        tools=tools,
        temperature=1.0,
        seed=0,
        max_output_tokens=new_tokens,
        evidence=store,
    )


@dataclass
class Phase:
    name: str
    k: int
    batched: bool
    seconds: list[float] = field(default_factory=list)
    tokens: int = 0
    peak_mb: float = 0.0

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


class PeakMemory:
    """Peak GPU memory during one measurement (reset before it); None on the CPU, where only the
    process's lifetime peak RSS is known (printed once at the end)."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> float:
        if not self.cuda:
            return 0.0
        self.torch.cuda.synchronize()
        return self.torch.cuda.max_memory_allocated() / 2**20


async def measure(backend: Any, request: ModelRequest, phase: Phase, seed: int) -> None:
    """One judgment of `phase.k` samples, batched (one generate) or sequential; adds its time."""
    memory = PeakMemory(backend.loaded.device)
    memory.reset()
    started = time.perf_counter()
    if phase.batched:
        replies = await backend.complete_n(request.model_copy(update={"n": phase.k, "seed": seed}))
    else:
        single = [request.model_copy(update={"n": 1, "seed": seed * phase.k + i}) for i in range(phase.k)]
        replies = [await backend.complete(one) for one in single]
    phase.seconds.append(time.perf_counter() - started)
    assert len(replies) == phase.k, f"{phase.name}: expected {phase.k} samples, got {len(replies)}"
    phase.tokens += sum(r.usage.output_tokens for r in replies)
    phase.peak_mb = max(phase.peak_mb, memory.peak_mb())


def report(phases: list[Phase], device: str, model: str, *, prompt_tokens: int, new_tokens: int) -> None:
    cuda = device.startswith("cuda")
    print(f"model: {model} on {device}; {FRAMES} frames, {prompt_tokens} prompt tokens, <= {new_tokens} new tokens")
    print(
        f"{'phase':<20} {'judgments/s':>12} {'median s':>9} {'min s':>7} {'gen tok/s':>10}" + (" peak GPU MiB" * cuda)
    )
    for phase in phases:
        line = (
            f"{phase.name:<20} {1 / phase.median_s:>12.3f} {phase.median_s:>9.3f} {min(phase.seconds):>7.3f} "
            f"{phase.tokens / sum(phase.seconds):>10.1f}"
        )
        print(line + (f" {phase.peak_mb:>12.0f}" if cuda else ""))
    if not cuda:
        print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    batched, sequential = phases[1], phases[2]
    fastest = min(sequential.seconds) / min(batched.seconds)
    print(
        f"K={K}: one generate is {sequential.median_s / batched.median_s:.2f}x the judgments/s of {K} sequential "
        f"calls (median of {len(batched.seconds)} interleaved rounds; {fastest:.2f}x on the fastest round of each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random config on the CPU (smoke test)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--new-tokens", type=int, default=None, help="tokens generated per sample")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds of the three phases")
    args = parser.parse_args()
    allow_torchvision_without_ops()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if not args.tiny and not device.startswith("cuda"):
        parser.error("the full-size 7B architecture needs a GPU; use --tiny for a CPU smoke run")
    new_tokens = args.new_tokens or (32 if args.tiny else 128)
    backend = build_backend(args.tiny, device, new_tokens)
    request = judgment_request((320, 180) if args.tiny else (1280, 720), new_tokens)
    warm = asyncio.run(backend.complete(request))
    phases = [Phase("K=1", 1, True), Phase(f"K={K} one generate", K, True), Phase(f"K={K} sequential", K, False)]
    for round_index in range(args.repeats):  # interleaved, rotating order: load drift hits every phase alike
        shift = round_index % len(phases)
        for phase in phases[shift:] + phases[:shift]:
            asyncio.run(measure(backend, request, phase, seed=round_index))
    report(phases, device, backend.model, prompt_tokens=warm.usage.input_tokens, new_tokens=new_tokens)


if __name__ == "__main__":
    main()
