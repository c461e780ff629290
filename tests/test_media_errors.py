"""Bad media a user can feed in: a decompression-bomb PNG is a MediaError (exit 4 from the CLI), and
no decoder library prints its own C-level lines on stderr (checked in subprocesses, where FFmpeg,
OpenCV and decord write straight to file descriptor 2)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.graph_support import submit
from tests.test_cli_judge import pair, vrb, write_script
from vrb_agent.benchmark.synth import VideoSpec, write_video
from vrb_agent.tools import MediaError, open_media

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real, valid 20000x20000 PNG (1-bit, so it is small on disk and 50 MB to build)."""
    from PIL import Image

    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    Image.new("1", (20000, 20000)).save(path, optimize=False)
    assert path.stat().st_size < 2_000_000
    return path


def test_bomb_png_is_a_media_error(bomb_png: Path) -> None:
    with pytest.raises(MediaError) as info:
        open_media(bomb_png)
    assert str(bomb_png) in str(info.value)
    assert "too large" in info.value.reason
    assert "400,000,000 pixels" in info.value.reason
    assert "VRB_MAX_IMAGE_PIXELS" in info.value.reason


def test_judge_on_bomb_png_exits_4_with_one_line(bomb_png: Path, tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", submit("A"))
    done = vrb("judge", *pair(bomb_png), "-b", "scripted", "-O", f"script={script}")
    assert done.returncode == 4, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and "too large" in lines[0]


# ---- no C-level decoder output ------------------------------------------------------------------


def audio_only_mp4(path: Path) -> Path:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    return path


def zero_frame_avi(path: Path) -> Path:
    import cv2

    cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 64)).release()
    return path


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("bad")
    garbage = root / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(1).bytes(20000))
    whole = write_video(root / "whole.mp4", VideoSpec(duration=2.0, moving_bar=True))
    cut = root / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole_mkv = write_video(root / "whole.mkv", VideoSpec(duration=2.0, moving_bar=True))
    cut_mkv = root / "cut.mkv"
    cut_mkv.write_bytes(whole_mkv.read_bytes()[: whole_mkv.stat().st_size // 2])
    moov_only = root / "header.mp4"
    moov_only.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    broken_png = root / "broken.png"
    broken_png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return [
        garbage,
        cut,
        cut_mkv,
        moov_only,
        broken_png,
        audio_only_mp4(root / "audio.mp4"),
        zero_frame_avi(root / "zero.avi"),
    ]


CHILD = """
import json, sys
from vrb_agent.tools import MediaError, open_media
out = []
for path in json.loads(sys.argv[1]):
    for decoder in ("auto", "pyav", "opencv", "decord"):
        try:
            open_media(path, decoder=decoder)
            out.append("opened " + path)
        except MediaError as exc:
            out.append(exc.reason)
print(json.dumps(out))
"""


def test_bad_media_leave_stderr_silent(bad_media: list[Path]) -> None:
    """Every decoder on every bad file: a MediaError each time and not one byte on stderr."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([str(p) for p in bad_media])],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    reasons = json.loads(done.stdout)
    assert len(reasons) == 4 * len(bad_media)
    assert not [r for r in reasons if r.startswith("opened")]
    assert not [r for r in reasons if "\n" in r or ".cc:" in r or ".cpp:" in r]


def test_judge_on_bad_media_prints_only_its_error_line(bad_media: list[Path], tmp_path: Path) -> None:
    script = write_script(tmp_path / "script.json", submit("A"))
    for media in bad_media[:2] + bad_media[-2:]:
        done = vrb("judge", *pair(media), "-b", "scripted", "-O", f"script={script}")
        assert done.returncode == 4, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
