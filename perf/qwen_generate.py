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
from dataclasses import dataclass
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
from vrb_agent.judges.base import ImagePart, Message, ModelRequest, TextPart, ToolSpec  # noqa: E402
from vrb_agent.tools.evidence import EvidenceStore  # noqa: E402
from vrb_agent.tools.synth import Shape, Text, VideoSpec, render_frame  # noqa: E402
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


def build_backend(tiny: bool, device: str) -> Any:
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
    return QwenBackend.from_model(network, processor, name=name)


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
    seconds: list[float]
    tokens: int
    peak_mb: float

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


class PeakMemory:
    """Peak GPU memory of a phase (reset per phase), or the process's peak RSS so far on the CPU."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")

    def reset(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> float:
        if self.cuda:
            self.torch.cuda.synchronize()
            return self.torch.cuda.max_memory_allocated() / 2**20
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_phase(backend: Any, request: ModelRequest, name: str, k: int, *, batched: bool, repeats: int) -> Phase:
    """Time `repeats` judgments of `k` samples each, batched (one generate) or sequential."""
    memory = PeakMemory(backend.loaded.device)
    memory.reset()
    seconds: list[float] = []
    tokens = 0
    for repeat in range(repeats):
        started = time.perf_counter()
        if batched:
            replies = await backend.complete_n(request.model_copy(update={"n": k, "seed": repeat}))
        else:
            single = [request.model_copy(update={"n": 1, "seed": repeat * k + i}) for i in range(k)]
            replies = [await backend.complete(one) for one in single]
        seconds.append(time.perf_counter() - started)
        assert len(replies) == k, f"{name}: expected {k} samples, got {len(replies)}"
        tokens += sum(r.usage.output_tokens for r in replies)
    return Phase(name, seconds, tokens, memory.peak_mb())


def report(phases: list[Phase], device: str, model: str, *, prompt_tokens: int, new_tokens: int, repeats: int) -> None:
    memory = "peak GPU MiB (per phase)" if device.startswith("cuda") else "peak RSS MiB (process, so far)"
    print(f"model: {model} on {device}; {FRAMES} frames, {prompt_tokens} prompt tokens, <= {new_tokens} new tokens")
    print(f"{'phase':<20} {'judgments/s':>12} {'median s':>9} {'gen tok/s':>10} {memory:>32}")
    for phase in phases:
        total = sum(phase.seconds)
        print(
            f"{phase.name:<20} {1 / phase.median_s:>12.3f} {phase.median_s:>9.3f} "
            f"{phase.tokens / total:>10.1f} {phase.peak_mb:>32.0f}"
        )
    by_name = {p.name: p for p in phases}
    speedup = by_name[f"K={K} sequential"].median_s / by_name[f"K={K} one generate"].median_s
    print(f"K={K}: one generate is {speedup:.2f}x the judgments/s of {K} sequential calls ({repeats} repeats, median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="tiny random config on the CPU (smoke test)")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--new-tokens", type=int, default=None, help="tokens generated per sample")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    allow_torchvision_without_ops()
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    if not args.tiny and not device.startswith("cuda"):
        parser.error("the full-size 7B architecture needs a GPU; use --tiny for a CPU smoke run")
    new_tokens = args.new_tokens or (32 if args.tiny else 128)
    backend = build_backend(args.tiny, device)
    request = judgment_request((320, 180) if args.tiny else (1280, 720), new_tokens)
    warm = asyncio.run(backend.complete(request.model_copy(update={"max_output_tokens": 4})))
    phases = [
        asyncio.run(run_phase(backend, request, "K=1", 1, batched=True, repeats=args.repeats)),
        asyncio.run(run_phase(backend, request, f"K={K} one generate", K, batched=True, repeats=args.repeats)),
        asyncio.run(run_phase(backend, request, f"K={K} sequential", K, batched=False, repeats=args.repeats)),
    ]
    prompt_tokens = warm.usage.input_tokens
    report(phases, device, backend.model, prompt_tokens=prompt_tokens, new_tokens=new_tokens, repeats=args.repeats)


if __name__ == "__main__":
    main()
