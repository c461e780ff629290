"""Shared fixtures: synthetic media with known content at known times."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vrb_agent.benchmark.synth import Shape, Text, VideoSpec, write_image, write_video

RED = (255, 0, 0)
GREEN = (0, 200, 0)
BLUE = (0, 0, 255)


def square_spec() -> VideoSpec:
    """5 s, 320x240, 30 fps: a red 40 px square at (100,100) during [2.0, 2.5) s, a green one in
    the top-right corner for the whole video, and the digit 7 bottom-left during [1, 3) s."""
    return VideoSpec(
        width=320,
        height=240,
        fps=30.0,
        duration=5.0,
        shapes=[Shape(RED, 100, 100, 40, 2.0, 2.5), Shape(GREEN, 270, 10, 40)],
        texts=[Text("7", 10, 230, 40, start=1.0, end=3.0)],
    )


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def square_video(media_dir: Path) -> Path:
    """See `square_spec`."""
    return write_video(media_dir / "square.mp4", square_spec())


@pytest.fixture(scope="session")
def square_image(media_dir: Path) -> Path:
    """The square video's frame at 2.2 s as a PNG (red square visible)."""
    return write_image(media_dir / "square.png", square_spec(), t=2.2)


# --- tiny Qwen-VL checkpoints (qwen backend issue) -----------------------------------------------


@pytest.fixture(scope="session")
def tiny_qwen_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight Qwen2.5-VL and Qwen3-VL checkpoints saved offline (see tests/qwen_tiny.py):
    `qwen2_5_vl` / `qwen3_vl` with the tests' own small processors, and one per shipped hub
    checkpoint (`qwen2_5_vl_7b_instruct`, `qwen3_vl_8b_instruct`, `qwen3_vl_thinking`) carrying that
    checkpoint's real chat template and preprocessor configs."""
    from tests.qwen_tiny import HUB_FILES, build_tiny_qwen

    root = tmp_path_factory.mktemp("qwen")
    dirs = {kind: build_tiny_qwen(root / kind, kind) for kind in ("qwen2_5_vl", "qwen3_vl")}
    dirs.update({hub: build_tiny_qwen(root / hub, hub=hub) for hub in HUB_FILES})
    return dirs


# ---- benchmark fixtures (benchmark issue) ------------------------------------------------------


@pytest.fixture(scope="session")
def bench_video(media_dir: Path) -> Path:
    """A tiny 1 s, 64x48 video with a moving bar: cheap to open and decode."""
    return write_video(media_dir / "bench.mp4", VideoSpec(width=64, height=48, fps=10.0, duration=1.0, moving_bar=True))


@pytest.fixture
def make_bench_dataset(tmp_path: Path, bench_video: Path):
    """Factory: a generic JSONL of `n` pairs over `dims` sharing one tiny video; chosen texts start
    with "good", rejected with "bad" (the fake judge reads them). Returns the JSONL path."""
    import json
    import shutil

    def make(n: int = 6, dims: tuple[str, ...] = ("d0", "d1"), name: str = "data") -> Path:
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        shutil.copy(bench_video, root / "v.mp4")
        rows = [
            {
                "id": f"s{i:03d}",
                "media": "v.mp4",
                "question": f"What happens in clip {i}?",
                "chosen": f"good answer {i}",
                "rejected": f"bad answer {i}",
                "dimension": dims[i % len(dims)],
            }
            for i in range(n)
        ]
        path = root / "data.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path

    return make


class FakeJudge:
    """A judge function with the `ajudge` signature for runner and report tests. It reads the sample
    number from the responses ("good answer 7"), is right when number % 10 < `right_below[mode]`,
    puts two frames (and, in agentic mode, a zoom crop) into the evidence store it is given, and
    raises for questions containing "explode" (a judge bug the runner must survive)."""

    def __init__(self, right_below: dict[str, int] | None = None, delay: float = 0.0) -> None:
        self.right_below = right_below or {"single": 5, "agentic": 8}
        self.delay = delay
        self.calls: list[tuple[str, str, int, int]] = []  # (response_a, mode, frames, id(media))

    async def __call__(self, media, question, response_a, response_b, *, backend, mode, config, store=None):
        import asyncio

        from vrb_agent.agents.types import Judgment, ToolCallRecord, Verdict
        from vrb_agent.judges.base import Usage

        self.calls.append((response_a, mode, config.frames, id(media)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if "explode" in question:
            raise RuntimeError("judge bug for " + question)
        number = int(response_a.split()[-1])
        good = "A" if response_a.startswith("good") else "B"
        right = number % 10 < self.right_below[mode]
        preferred = good if right else ("B" if good == "A" else "A")
        evidence = []
        seen = []
        if store is not None:
            for frame in media.frames_at([0.0, 0.5]):
                seen.append(store.put(frame.image, f"frame t={frame.timestamp:.2f}s", timestamp=frame.timestamp))
            if mode == "agentic":
                crop = media.frames_at([0.5])[0].image[10:30, 10:40]
                box = (150.0, 200.0, 650.0, 600.0)
                zid = store.put(crop, "zoom t=0.50s", timestamp=0.5, box=box)
                seen.append(zid)
                evidence.append(
                    ToolCallRecord(
                        name="zoom",
                        arguments={"timestamp": 0.5, "box": list(box)},
                        images=[zid],
                        timestamps=[0.5],
                        box=list(box),
                        turn=1,
                    )
                )
        calls = 3 if mode == "agentic" else 1
        return Judgment(
            status="ok",
            verdict=Verdict(preferred=preferred, confidence=0.8, rationale=f"<b>rationale</b> for {number}"),
            mode=mode,
            frames=config.frames,
            k=config.k,
            evidence=evidence,
            images_sent=len(seen),
            transcript=[
                {
                    "sample": 0,
                    "messages": [{"role": "user", "parts": [{"type": "image", "evidence_id": i} for i in seen]}],
                }
            ],
            usage=Usage(input_tokens=100 * calls, output_tokens=10 * calls, calls=calls),
            backend=backend.name,
            model=backend.model,
        )


@pytest.fixture
def fake_judge_cls() -> type[FakeJudge]:
    return FakeJudge


@pytest.fixture
def fake_judge() -> FakeJudge:
    return FakeJudge()


@pytest.fixture(scope="session")
def probe_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny medium-difficulty probe suite (2 probes of each kind, seed 3); returns probes.jsonl."""
    from vrb_agent.benchmark.probes import write_suite

    return write_suite(tmp_path_factory.mktemp("probes"), n=2, seed=3)


@pytest.fixture(autouse=True)
def _scheduling_policy_unchanged() -> Iterator[None]:
    """Fail the test that leaves the pytest process on a realtime scheduling policy (SVT-AV1 does
    this as root): every thread started later inherits it and spinning workers starve the rest."""
    yield
    if hasattr(os, "sched_getscheduler"):  # Linux only; macOS has no such call (and no such leak)
        assert os.sched_getscheduler(0) == os.SCHED_OTHER, "this test left the process on a realtime scheduling policy"
