"""Media layer: frames at timestamps (pixel checks), decoders agree, cache, images, bad input."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import GREEN, RED, square_spec
from vrb_agent.benchmark.synth import VideoSpec, render_frame, write_video
from vrb_agent.tools import FRAME_CACHE, MediaError, open_media

DECODERS = ["pyav", "decord", "opencv"]


def close(pixel: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - np.array(color)) <= tol))


def red_visible(frame: np.ndarray) -> bool:
    """The red square spans (100..140, 100..140); test its centre."""
    return close(frame[120, 120], RED)


@pytest.mark.parametrize("decoder", DECODERS)
def test_probe_reports_geometry(square_video: Path, decoder: str) -> None:
    media = open_media(square_video, decoder=decoder)
    assert media.kind == "video"
    assert media.decoder == decoder
    assert (media.width, media.height) == (320, 240)
    assert media.fps == pytest.approx(30.0)
    assert media.num_frames == 150
    assert media.duration_s == pytest.approx(5.0)


@pytest.mark.parametrize("decoder", DECODERS)
def test_frames_at_requested_timestamps(square_video: Path, decoder: str) -> None:
    """The square is shown during [2.0, 2.5): frames 60..74 at 30 fps. An off-by-one fails here."""
    media = open_media(square_video, decoder=decoder)
    times = [1.99, 2.0, 2.2, 2.49, 2.5, 3.0]
    frames = media.frames_at(times)
    assert [f.index for f in frames] == [59, 60, 66, 74, 75, 90]
    assert [round(f.timestamp, 4) for f in frames] == [round(i / 30, 4) for i in (59, 60, 66, 74, 75, 90)]
    assert [red_visible(f.image) for f in frames] == [False, True, True, True, False, False]
    for frame in frames:  # the green corner square is there throughout
        assert close(frame.image[30, 290], GREEN)


@pytest.mark.parametrize("decoder", DECODERS)
def test_frames_match_ground_truth_render(square_video: Path, decoder: str) -> None:
    media = open_media(square_video, decoder=decoder)
    spec = square_spec()
    for frame in media.frames_at([0.0, 1.5, 2.1, 4.9]):
        truth = render_frame(spec, frame.timestamp).astype(int)
        assert np.abs(frame.image.astype(int) - truth).mean() < 4


def test_decord_and_opencv_agree(square_video: Path) -> None:
    a = open_media(square_video, decoder="decord")
    b = open_media(square_video, decoder="opencv")
    times = [0.0, 0.51, 1.0, 1.99, 2.0, 2.3, 2.5, 3.7, 4.96, 2.0]
    for fa, fb in zip(a.frames_at(times), b.frames_at(times), strict=True):
        assert fa.index == fb.index
        assert fa.timestamp == pytest.approx(fb.timestamp, abs=1e-4)  # decord reports float32 times
        assert np.abs(fa.image.astype(int) - fb.image.astype(int)).mean() < 1.0


def test_max_side_downscales_without_upscaling(square_video: Path) -> None:
    media = open_media(square_video)
    small = media.frames_at([2.2], max_side=160)[0]
    assert small.image.shape == (120, 160, 3)
    assert red_visible(np.repeat(np.repeat(small.image, 2, 0), 2, 1))
    assert media.frames_at([2.2], max_side=4000)[0].image.shape == (240, 320, 3)


def test_out_of_range_times_are_clamped(square_video: Path) -> None:
    media = open_media(square_video)
    first, last = media.frames_at([-3.0, 99.0])
    assert first.index == 0
    assert last.index == 149


def test_repeated_requests_decode_nothing(square_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRB_DECODE_THREADS", "1")  # one reader: no split over clones (tested apart)
    FRAME_CACHE.clear()
    media = open_media(square_video)
    calls: list[list[int]] = []
    real_read = media._reader.read

    def counting_read(indices: list[int]) -> list[np.ndarray]:
        calls.append(list(indices))
        return real_read(indices)

    monkeypatch.setattr(media._reader, "read", counting_read)
    media.frames_at([1.0, 2.0, 3.0])
    assert calls == [[30, 60, 90]]  # one sorted, batched request for the missing frames
    media.frames_at([3.0, 2.0, 1.0, 2.01])
    assert len(calls) == 1  # all cached
    other = open_media(square_video)  # another Media of the same file shares the cache
    monkeypatch.setattr(other._reader, "read", counting_read)
    other.frames_at([1.0, 4.0])
    assert calls[1:] == [[120]]


def test_cache_is_bounded_in_bytes() -> None:
    from vrb_agent.tools.media import FrameCache

    cache = FrameCache(max_bytes=3 * 1000)
    for i in range(10):
        cache.put(("k", i), np.zeros(1000, np.uint8))
    assert cache.nbytes <= 3000
    assert cache.get(("k", 9)) is not None
    assert cache.get(("k", 0)) is None


def test_concurrent_requests_are_consistent(square_video: Path) -> None:
    FRAME_CACHE.clear()
    media = open_media(square_video)
    errors: list[str] = []

    def worker(offset: int) -> None:
        for step in range(10):
            t = ((offset * 7 + step * 13) % 150) / 30
            frame = media.frames_at([t])[0]
            if red_visible(frame.image) != (60 <= frame.index < 75):
                errors.append(f"t={t} index={frame.index}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".avi", ".mov"])
def test_other_containers(media_dir: Path, suffix: str) -> None:
    path = write_video(media_dir / f"containers{suffix}", square_spec())
    media = open_media(path)
    assert media.num_frames == 150
    frames = media.frames_at([1.9, 2.2])
    assert [red_visible(f.image) for f in frames] == [False, True]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_images_are_one_frame_media(media_dir: Path, suffix: str) -> None:
    from vrb_agent.benchmark.synth import write_image

    path = write_image(media_dir / f"still{suffix}", square_spec(), t=2.2)
    media = open_media(path)
    assert (media.kind, media.num_frames, media.duration_s, media.width, media.height) == ("image", 1, 0.0, 320, 240)
    for frame in media.frames_at([0.0, 5.0]):
        assert frame.index == 0
        assert frame.timestamp == 0.0
        assert red_visible(frame.image)


# ---- bad input ----------------------------------------------------------------------------------


def expect_media_error(path: Path, *words: str, decoder: str = "auto") -> MediaError:
    with pytest.raises(MediaError) as info:
        open_media(path, decoder=decoder)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert "Traceback" not in message
    assert ".cc:" not in message  # no decoder source locations
    return info.value


def test_missing_file(tmp_path: Path) -> None:
    expect_media_error(tmp_path / "nope.mp4", "not found")


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    expect_media_error(folder, "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    expect_media_error(path, "empty")


def test_unsupported_type(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    expect_media_error(path, "unsupported file type", ".mp4")


@pytest.mark.parametrize("decoder", ["auto", "decord", "opencv"])
def test_garbage_bytes(tmp_path: Path, decoder: str) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    expect_media_error(path, "readable", decoder=decoder)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm"])
@pytest.mark.parametrize("decoder", ["auto", "opencv"])
def test_truncated_file(tmp_path: Path, suffix: str, decoder: str) -> None:
    whole = write_video(tmp_path / f"whole{suffix}", VideoSpec(duration=4.0, moving_bar=True))
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    error = expect_media_error(cut, decoder=decoder)
    assert any(word in error.reason for word in ("truncated", "not a readable video"))


def test_corrupt_image(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    expect_media_error(path, "not a readable image")


def test_zero_frames(tmp_path: Path) -> None:
    import cv2

    path = tmp_path / "zero.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (64, 64))
    writer.release()
    assert path.stat().st_size > 0
    expect_media_error(path, "not a readable video")


def test_unreadable_permissions(square_video: Path) -> None:
    """Permission bits do not bind root, so as root the check runs in a child that drops to nobody."""
    folder = Path(tempfile.mkdtemp())
    try:
        folder.chmod(0o755)
        path = folder / "locked.mp4"
        shutil.copy(square_video, path)
        path.chmod(0o000)
        code = (
            "import os, sys\n"
            "import cv2, decord\n"
            "from vrb_agent.tools import open_media, MediaError\n"
            "if os.geteuid() == 0:\n"  # imports first: nobody may not read the interpreter's files
            "    os.setgid(65534); os.setuid(65534)\n"
            "try:\n"
            f"    open_media({str(path)!r})\n"
            "except MediaError as e:\n"
            "    print(e); sys.exit(0)\n"
            "sys.exit('no MediaError')\n"
        )
        root = str(Path(__file__).resolve().parents[1])
        env = {**os.environ, "PYTHONPATH": root}
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "permission denied" in result.stdout
        assert str(path) in result.stdout
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_unknown_decoder_name(square_video: Path) -> None:
    with pytest.raises(ValueError, match="decoder must be"):
        open_media(square_video, decoder="ffmpeg")  # type: ignore[arg-type]
