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


@pytest.fixture(scope="session")
def probe_suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny medium-difficulty probe suite (2 probes of each kind, seed 3); returns probes.jsonl."""
    from vrb_agent.benchmark.probes import write_suite

    return write_suite(tmp_path_factory.mktemp("probes"), n=2, seed=3)
