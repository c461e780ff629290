"""Decoding on the shared pool: bounded, split over GOPs between reader clones, exact either way,
never blocking an event loop; and what one open handle of the default reader costs in memory."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vrb_agent.tools import FRAME_CACHE, MediaError, open_media
from vrb_agent.tools.media import _split_by_gop, decode_pool, decode_threads
from vrb_agent.tools.pyav_reader import PyAVReader

av = pytest.importorskip("av")
ROOT = Path(__file__).resolve().parents[1]


def write_gop_video(path: Path, seconds: float, size: tuple[int, int] = (320, 240), gop: int = 30) -> Path:
    """libx264 with a keyframe every `gop` frames; each frame's number is its mean gray level band."""
    width, height = size
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 64, (height, width * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "preset": "ultrafast"}
        for i in range(round(seconds * 30)):
            shift = (i * 5) % width
            frame = np.ascontiguousarray(texture[:, shift : shift + width])
            frame[:40, :] = (i * 3) % 256
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_gop_video(tmp_path_factory.mktemp("pool") / "gops.mp4", 10.0)


def test_decode_threads_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VRB_DECODE_THREADS", raising=False)
    assert decode_threads() == (os.cpu_count() or 2)
    monkeypatch.setenv("VRB_DECODE_THREADS", "3")
    assert decode_threads() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("VRB_DECODE_THREADS", bad)
        with pytest.raises(ValueError, match="VRB_DECODE_THREADS"):
            decode_threads()


def test_split_keeps_whole_gops_in_order(gop_video: Path) -> None:
    media = open_media(gop_video, decoder="pyav")
    reader = media._reader
    indices = sorted({media.index_at(t) for t in np.linspace(0, 9.9, 23)})
    parts = _split_by_gop(reader, indices, 2, set())
    assert len(parts) == 2
    assert sorted(i for part in parts for i in part) == indices  # nothing lost, nothing twice
    assert all(part == sorted(part) for part in parts)  # each part decodes forward
    first_keys = {reader.keyframe_index(i) for i in parts[0]}
    assert not first_keys & {reader.keyframe_index(i) for i in parts[1]}  # a GOP is decoded by one reader
    assert _split_by_gop(reader, indices, 1, set()) == [indices]


class HundredFrameGops:
    """A reader stand-in whose keyframes are every 100 frames."""

    def keyframe_index(self, index: int) -> int:
        return index // 100 * 100


def test_split_balances_decoding_work_not_frame_counts() -> None:
    """Work of a GOP: frames decoded from its keyframe to its last uncached frame, plus 4 per
    frame converted. GOPs 0..400 cost 95, 15, 55, 29, 35; largest first onto the lighter part
    gives 110 and 119 (cutting by count would give 165 and 64)."""
    reader = HundredFrameGops()
    indices = [90, 110, 250, 310, 320, 430]
    assert _split_by_gop(reader, indices, 2, set()) == [[90, 110], [250, 310, 320, 430]]  # type: ignore[arg-type]
    # Frame 90 cached: its GOP costs only its conversion (4), so it joins the lighter part last.
    assert _split_by_gop(reader, indices, 2, {90}) == [[110, 250], [90, 310, 320, 430]]  # type: ignore[arg-type]
    assert _split_by_gop(reader, [310, 320], 2, set()) == [[310, 320]]  # type: ignore[arg-type]  # one GOP


def test_split_request_uses_clones_on_the_pool_and_matches_one_reader(
    gop_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = list(np.linspace(0.2, 9.8, 12))
    FRAME_CACHE.clear()
    monkeypatch.setenv("VRB_DECODE_THREADS", "1")
    alone = [f.image for f in open_media(gop_video, decoder="pyav").frames_at(times)]

    FRAME_CACHE.clear()
    monkeypatch.setenv("VRB_DECODE_THREADS", "2")
    threads: list[str] = []
    real_read = PyAVReader.read

    def recording_read(self: PyAVReader, indices: list[int]) -> list[object]:
        threads.append(threading.current_thread().name)
        return real_read(self, indices)

    monkeypatch.setattr(PyAVReader, "read", recording_read)
    media = open_media(gop_video, decoder="pyav")
    threads.clear()  # opening decodes frame 0
    split = [f.image for f in media.frames_at(times)]
    assert len(threads) == 2  # one clone of the reader per part
    assert all(name.startswith("vrb-decode") for name in threads)
    for a, b in zip(alone, split, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(("cores", "expected"), [(2, [1, 1]), (16, [8, 8])])
def test_split_parts_share_the_cores_between_their_codec_threads(
    gop_video: Path, monkeypatch: pytest.MonkeyPatch, cores: int, expected: list[int]
) -> None:
    """Two parts on two cores decode single-threaded (no frame-thread overhead); on 16 cores each
    gets 8 codec threads, never 16 clones of a 17-thread decoder."""
    monkeypatch.setenv("VRB_DECODE_THREADS", "2")
    media = open_media(gop_video, decoder="pyav")
    FRAME_CACHE.clear()
    counts: list[int] = []
    real_clone = PyAVReader.clone

    def recording_clone(self: PyAVReader, threads: int = 0) -> PyAVReader:
        counts.append(threads)
        return real_clone(self, threads)

    monkeypatch.setattr(PyAVReader, "clone", recording_clone)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    media.frames_at([1.0, 9.0])
    assert counts == expected


def test_concurrent_decoding_is_bounded_by_the_pool(gop_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VRB_DECODE_THREADS", "1")  # no clones: count the primary readers alone
    media = [open_media(gop_video, decoder="pyav") for _ in range(6)]
    FRAME_CACHE.clear()
    active = 0
    peak = 0
    lock = threading.Lock()
    real_read = PyAVReader.read

    def counting_read(self: PyAVReader, indices: list[int]) -> list[object]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            return real_read(self, indices)
        finally:
            with lock:
                active -= 1

    monkeypatch.setattr(PyAVReader, "read", counting_read)
    workers = [threading.Thread(target=m.frames_at, args=([3.3, 7.7],)) for m in media]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert 1 <= peak <= decode_pool()._max_workers


async def test_aframes_at_leaves_the_event_loop_free(gop_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The decode waits for an event only the event loop can set: if aframes_at blocked the loop,
    the decode would time out and the frame would not come back."""
    media = open_media(gop_video, decoder="pyav")
    FRAME_CACHE.clear()
    released = threading.Event()
    real_read = PyAVReader.read

    def gated_read(self: PyAVReader, indices: list[int]) -> list[object]:
        assert released.wait(timeout=20), "the event loop was blocked while decoding"
        return real_read(self, indices)

    monkeypatch.setattr(PyAVReader, "read", gated_read)
    pending = asyncio.ensure_future(media.aframes_at([5.0], max_side=160))
    await asyncio.sleep(0.05)
    assert not pending.done()
    released.set()
    frame = (await asyncio.wait_for(pending, timeout=30))[0]
    assert frame.image.shape == (120, 160, 3)
    assert frame.timestamp == pytest.approx(5.0)


MEMORY_CHILD = """
import sys
from vrb_agent.tools import open_media
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
path, decoder = sys.argv[1], sys.argv[2]
open_media(path, decoder=decoder).frames_at([1.0])  # warm up: imports, codec tables
before = rss_mb()
handles = [open_media(path, decoder=decoder) for _ in range(6)]
for h in handles:
    h.frames_at([1.5])
print((rss_mb() - before) / len(handles))
"""


def test_an_open_default_handle_costs_little_memory(tmp_path: Path) -> None:
    """issue: a live decord VideoReader costs ~200 MB (decode-ahead). The default reader keeps one
    decoder state and no read-ahead: a 720p handle, after reading, stays far below that."""
    path = write_gop_video(tmp_path / "hd.mp4", 3.0, size=(1280, 720), gop=60)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(path), "auto"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    per_handle_mb = float(done.stdout.strip().splitlines()[-1])
    assert per_handle_mb < 40, f"{per_handle_mb:.0f} MB per open handle"


def test_time_base_and_first_frame_offset(tmp_path: Path) -> None:
    """A stream whose first pts is not 0 (edited clips) still starts at t=0."""
    path = tmp_path / "offset.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(30):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 8, np.uint8), format="rgb24")
            frame.pts, frame.time_base = 5000 + round(i * 1000 / 30), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    for decoder in ("pyav", "opencv", "decord"):
        media = open_media(path, decoder=decoder)  # type: ignore[arg-type]
        assert media.time_of(0) == 0.0
        assert media.last_time == pytest.approx(29 / 30, abs=0.002)
        assert media.frames_at([0.5])[0].index == 15


def test_closed_media_raises_a_media_error_and_keeps_cached_frames(gop_video: Path) -> None:
    FRAME_CACHE.clear()
    media = open_media(gop_video, decoder="pyav")
    kept = media.frames_at([2.0])[0]
    media.close()
    media.close()  # twice is fine
    assert np.array_equal(media.frames_at([2.0])[0].image, kept.image)  # from the cache
    with pytest.raises(MediaError, match="closed"):
        media.frames_at([8.0])
