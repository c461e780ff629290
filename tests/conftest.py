"""Shared fixtures: synthetic media with known content at known times."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrb_agent.tools.synth import Shape, Text, VideoSpec, write_image, write_video

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
    """Tiny random-weight Qwen2.5-VL and Qwen3-VL checkpoints saved offline (see tests/qwen_tiny.py)."""
    from tests.qwen_tiny import build_tiny_qwen

    root = tmp_path_factory.mktemp("qwen")
    return {kind: build_tiny_qwen(root / kind, kind) for kind in ("qwen2_5_vl", "qwen3_vl")}
