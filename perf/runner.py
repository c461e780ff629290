"""Benchmark-runner throughput: is the framework ever the bottleneck when the model is slow?

Workload: N synthetic samples (default 1,563, VideoRewardBench's size) over 8 small synthetic videos
(320x240, 5 s), judged in both modes by a fake backend that sleeps a fixed latency per call and
answers like a judge: single-pass is one call; agentic is three (select_frames, zoom,
submit_verdict). The backend also takes every image's base64 text, as the OpenAI and Anthropic
backends do when they build a payload.

Per regime (concurrency:latency; default 32:0.3, a hosted API, and 128:0.1, a local vLLM server),
two runs, each through `run_benchmark` (results fsynced, evidence JPEGs written):
  (b) baseline: a judge function that only sleeps for the same model time (the runner alone);
  (a) the real judge graph (overview frames, tools, evidence store, LangGraph).
Ideal wall time = total model time / concurrency (every slot always busy). Printed: achieved vs
ideal throughput (and the graph's share of the baseline's), and process CPU seconds (all threads)
per model call (Python's one-time imports happen when this script loads, before any run).

Usage: python perf/runner.py [--samples 1563] [--regime 32:0.3 --regime 128:0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vrb_agent.agents.types import JudgeConfig, Judgment, Verdict
from vrb_agent.benchmark import run_benchmark
from vrb_agent.benchmark.synth import Shape, VideoSpec, write_video
from vrb_agent.judges.base import Backend, ImagePart, ModelReply, ModelRequest, ToolCall, Usage

AGENTIC_CALLS = 3
DIMENSIONS = ("long-form perception", "short-form perception", "knowledge", "reasoning", "safety")


class SleepyBackend(Backend):
    """Fixed latency per call; a fixed judging script per mode; images encoded like a payload."""

    name = "sleepy"

    def __init__(self, latency: float) -> None:
        super().__init__("sleepy-1")
        self.latency = latency
        self.calls = 0
        self.images = 0

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.calls += 1
        store = request.evidence
        for message in request.messages:
            parts = [*message.parts, *(p for r in message.tool_results for p in r.parts)]
            for part in parts:
                if isinstance(part, ImagePart):
                    len(store.get(part.evidence_id).base64)  # what openai/anthropic put in their payloads
                    self.images += 1
        await asyncio.sleep(self.latency)
        usage = Usage(input_tokens=1000, output_tokens=50, calls=1)
        if not request.tools:
            return ModelReply(text="Overall Judgment: Answer A is better.", usage=usage)
        turn = sum(m.role == "tool" for m in request.messages)
        script = [
            ToolCall(id=f"c{turn}", name="select_frames", arguments={"timestamps": [1.0, 2.0, 3.0]}),
            ToolCall(id=f"c{turn}", name="zoom", arguments={"timestamp": 2.0, "box": [100, 100, 500, 500]}),
            ToolCall(
                id=f"c{turn}",
                name="submit_verdict",
                arguments={"preferred": "A", "confidence": 0.7, "rationale": "seen", "evidence": []},
            ),
        ]
        return ModelReply(tool_calls=[script[min(turn, 2)]], stop_reason="tool_calls", usage=usage)


def make_dataset(root: Path, n: int) -> Path:
    videos = []
    for i in range(8):
        spec = VideoSpec(width=320, height=240, fps=30.0, duration=5.0, moving_bar=True,
                         shapes=[Shape((200, 40, 40), 20 + 30 * i, 100, 24, 1.0, 3.0)])  # fmt: skip
        videos.append(write_video(root / f"v{i}.mp4", spec).name)
    rows = [
        {"id": f"p{i:05d}", "media": videos[i % len(videos)], "question": f"What happens in clip {i}?",
         "chosen": f"The red square appears at {i % 5} s.", "rejected": f"The red square appears at {i % 5 + 1} s.",
         "dimension": DIMENSIONS[i % len(DIMENSIONS)]}
        for i in range(n)
    ]  # fmt: skip
    path = root / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def sleep_only_judge(latency: float) -> Any:
    """The baseline judge: the same model time, no graph, no media work."""

    async def judge(media: Any, question: str, a: str, b: str, *, backend: Any, mode: str, config: JudgeConfig,
                    store: Any = None) -> Judgment:  # fmt: skip
        calls = 1 if mode == "single" else AGENTIC_CALLS
        for _ in range(calls):
            await asyncio.sleep(latency)
        usage = Usage(input_tokens=1000 * calls, output_tokens=50 * calls, calls=calls)
        return Judgment(status="ok", verdict=Verdict(preferred="A", confidence=0.7), mode=mode, usage=usage)

    return judge


def measure(label: str, data: Path, out: Path, regime: Regime, judge: Any = None) -> dict[str, float]:
    backend = SleepyBackend(regime.latency)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    outcome = run_benchmark(
        out=out, dataset="generic", data=str(data), backend=backend, judge=judge, concurrency=regime.concurrency,
        progress=False,
    )  # fmt: skip
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    lines = (out / "results.jsonl").read_text().splitlines()
    records = [json.loads(x) for x in lines]
    calls = sum(r["usage"].get("calls", 0) for r in records)
    errors = sum(r["status"] != "ok" for r in records)
    judgments = len(records)
    model_time = calls * regime.latency
    ideal = model_time / regime.concurrency
    return {
        "label": label, "judgments": judgments, "errors": errors, "calls": calls, "wall": wall, "ideal": ideal,
        "cpu": cpu, "done": outcome.done,
    }  # fmt: skip


def share_of_ideal(row: dict[str, Any]) -> float:
    return row["ideal"] / row["wall"]


def report(row: dict[str, Any]) -> None:
    achieved, ideal_tp = row["judgments"] / row["wall"], row["judgments"] / row["ideal"]
    print(
        f"{row['label']:<34} {row['judgments']:>6} judgments {row['calls']:>6} calls  errors {row['errors']:>3}  "
        f"wall {row['wall']:7.1f} s  ideal {row['ideal']:6.1f} s  throughput {achieved:6.1f}/s of ideal "
        f"{ideal_tp:6.1f}/s = {100 * achieved / ideal_tp:5.1f} %  CPU {row['cpu']:6.1f} s = "
        f"{1000 * row['cpu'] / max(row['calls'], 1):5.2f} ms per model call"
    )


@dataclass(frozen=True)
class Regime:
    concurrency: int
    latency: float

    @classmethod
    def parse(cls, text: str) -> Regime:
        try:
            concurrency, latency = text.split(":")
            return cls(int(concurrency), float(latency))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--regime takes CONCURRENCY:LATENCY_S such as 32:0.3, not {text!r}"
            ) from None


def run_regime(data: Path, root: Path, regime: Regime) -> None:
    print(f"-- concurrency {regime.concurrency}, {regime.latency} s per model call")
    name = f"c{regime.concurrency}-l{regime.latency}"
    baseline = measure("(b) baseline: runner + sleep judge", data, root / f"{name}-baseline", regime,
                       sleep_only_judge(regime.latency))  # fmt: skip
    report(baseline)
    graph = measure("(a) runner + judge graph", data, root / f"{name}-graph", regime)
    report(graph)
    extra_cpu = (graph["cpu"] - baseline["cpu"]) / max(graph["calls"], 1)
    print(
        f"graph vs baseline: throughput {100 * share_of_ideal(graph) / share_of_ideal(baseline):.1f} % of the "
        f"baseline's; wall x{graph['wall'] / baseline['wall']:.3f}; the graph adds {1000 * extra_cpu:.2f} ms CPU "
        "per model call"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1563)
    parser.add_argument("--regime", type=Regime.parse, action="append", help="CONCURRENCY:LATENCY_S (repeatable)")
    args = parser.parse_args()
    regimes = args.regime or [Regime(32, 0.3), Regime(128, 0.1)]
    with tempfile.TemporaryDirectory(prefix="vrb-perf-runner-") as tmp:
        root = Path(tmp)
        data = make_dataset(root / "data", args.samples)
        print(f"{args.samples} samples x 2 modes, agentic = {AGENTIC_CALLS} calls")
        for regime in regimes:
            run_regime(data, root, regime)


if __name__ == "__main__":
    main()
