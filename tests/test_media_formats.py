"""Real-world formats through every decoder: variable frame rate (frames found by pts, labelled with
their real time), AV1, MKV, B-frames, rotation. All media are generated here with PyAV; each frame
carries its own presentation time as a bit pattern, so a test can read which frame came back."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from vrb_agent.tools import MediaError, open_media
from vrb_agent.tools.visual import ToolBox

av = pytest.importorskip("av")

WIDTH, HEIGHT = 320, 240
BITS = 12  # times up to 40.95 s in hundredths
DECODERS = ["pyav", "opencv", "decord"]


def stamp(t: float) -> np.ndarray:
    """A frame whose 12 squares spell round(t * 100) in binary (white = 1)."""
    image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    value = round(t * 100)
    for bit in range(BITS):
        if value >> bit & 1:
            x, y = (bit % 6) * 50 + 10, (bit // 6) * 50 + 10
            image[y : y + 40, x : x + 40] = 255
    return image


def read_stamp(image: np.ndarray) -> float:
    """The time a `stamp` frame carries, in seconds."""
    value = 0
    for bit in range(BITS):
        x, y = (bit % 6) * 50 + 30, (bit // 6) * 50 + 30
        if image[y, x].mean() > 128:
            value |= 1 << bit
    return value / 100


def vfr_times() -> list[float]:
    """30 fps for 0-10 s, 2 fps for 10-20 s, 30 fps for 20-25 s (a phone recording's pattern)."""
    return [i / 30 for i in range(300)] + [10 + i / 2 for i in range(20)] + [20 + i / 30 for i in range(150)]


@contextmanager
def scheduling_restored() -> Iterator[None]:
    """SVT-AV1's encoder, run as root, raises the calling thread to SCHED_FIFO 99, and every thread
    started afterwards inherits it: later tests' spinning worker threads then starve the rest of
    the process (a CI run hung this way). Put the policy back once the encoder is done."""
    if not hasattr(os, "sched_getscheduler"):  # Linux only
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)


def write_stamped(path: Path, times: list[float], codec: str = "libx264", rotation: int = 0) -> Path:
    """Encode `stamp(t)` frames with pts exactly t (millisecond time base)."""
    with scheduling_restored(), av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        for t in times:
            frame = av.VideoFrame.from_ndarray(stamp(t), format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def open_or_unsupported(path: Path, decoder: str):
    """The Media, or None when the decoder says plainly that it cannot decode this codec."""
    try:
        return open_media(path, decoder=decoder)  # type: ignore[arg-type]
    except MediaError as exc:
        assert "codec not supported by this decoder" in exc.reason, exc.reason
        assert "truncated" not in exc.reason and "corrupt" not in exc.reason
        return None


@pytest.fixture(scope="module", params=["mp4", "mkv"])
def vfr_video(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stamped(tmp_path_factory.mktemp("vfr") / f"vfr.{request.param}", vfr_times())


ASKED = [0.0, 5.0, 9.99, 10.2, 12.0, 15.3, 19.9, 20.05, 22.0, 24.99]


@pytest.mark.parametrize("decoder", DECODERS)
def test_vfr_frames_found_by_pts_and_labelled_with_real_time(vfr_video: Path, decoder: str) -> None:
    media = open_media(vfr_video, decoder=decoder)  # type: ignore[arg-type]
    assert media.num_frames == len(vfr_times())
    shown = np.array(vfr_times())
    for asked, frame in zip(ASKED, media.frames_at(ASKED), strict=True):
        expected = shown[np.searchsorted(shown, asked + 1e-6, side="right") - 1]  # on screen at `asked`
        assert read_stamp(frame.image) == pytest.approx(expected, abs=0.006), (decoder, asked)
        assert frame.timestamp == pytest.approx(expected, abs=0.002), (decoder, asked)


def test_vfr_labels_carry_the_frame_time_not_the_asked_time(vfr_video: Path) -> None:
    media = open_media(vfr_video)
    observation = ToolBox(media).call("select_frames", {"timestamps": [12.3]})
    assert observation.ok
    assert [image.label for image in observation.images] == ["frame t=12.00s"]
    assert read_stamp(media.frames_at([12.3])[0].image) == 12.0


def test_vfr_decoders_agree_within_one_frame(vfr_video: Path) -> None:
    times = [t + 0.013 for t in np.linspace(0, 24.9, 40)]
    got = {d: open_media(vfr_video, decoder=d).frames_at(times) for d in DECODERS}  # type: ignore[arg-type]
    for i in range(len(times)):
        indices = {d: frames[i].index for d, frames in got.items()}
        assert max(indices.values()) - min(indices.values()) <= 1, (times[i], indices)
        stamps = {d: read_stamp(frames[i].image) for d, frames in got.items()}
        assert max(stamps.values()) - min(stamps.values()) <= 0.51, (times[i], stamps)


def test_vfr_duration_and_clamp(vfr_video: Path) -> None:
    media = open_media(vfr_video)
    assert media.last_time == pytest.approx(vfr_times()[-1], abs=0.002)
    last = media.frames_at([99.0])[0]
    assert last.index == media.num_frames - 1
    assert read_stamp(last.image) == pytest.approx(vfr_times()[-1], abs=0.006)


# ---- B-frames: skipping unreferenced frames must not change any pixel ---------------------------


def test_pyav_frames_equal_a_full_sequential_decode(tmp_path: Path) -> None:
    """libx264 puts B-frames (some unreferenced) in the GOP; PyAV's reader skips unreferenced ones
    it does not need. Every frame it returns must equal the same frame from a plain decode."""
    path = write_stamped(tmp_path / "b.mp4", [i / 30 for i in range(90)])
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        reference = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    media = open_media(path, decoder="pyav")
    picks = [0.5, 2.9, 1.0, 0.07, 1.5, 1.53, 2.0]  # out of order, near and far
    for frame in media.frames_at(picks):
        assert np.array_equal(frame.image, reference[frame.index])
        assert read_stamp(frame.image) == pytest.approx(frame.index / 30, abs=0.006)


# ---- AV1 and MKV --------------------------------------------------------------------------------


def encoder_available(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        return False
    return True


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("decoder", DECODERS)
def test_av1_through_every_decoder(tmp_path: Path, suffix: str, decoder: str) -> None:
    encoder = next((e for e in ("libsvtav1", "libaom-av1") if encoder_available(e)), None)
    if encoder is None:
        pytest.skip("this PyAV build has no AV1 encoder")
    path = write_stamped(tmp_path / f"av1{suffix}", [i / 30 for i in range(60)], codec=encoder)
    media = open_or_unsupported(path, decoder)
    if decoder == "pyav":
        assert media is not None, "PyAV bundles dav1d: it must decode AV1"
    if media is None:
        return
    frames = media.frames_at([0.0, 1.0, 1.5])
    assert [read_stamp(f.image) for f in frames] == [0.0, 1.0, 1.5]


def test_av1_auto_never_says_corrupt(tmp_path: Path) -> None:
    if not encoder_available("libsvtav1"):
        pytest.skip("this PyAV build has no AV1 encoder")
    path = write_stamped(tmp_path / "av1.mp4", [i / 30 for i in range(30)], codec="libsvtav1")
    media = open_media(path)
    assert media.decoder == "pyav"
    assert read_stamp(media.frames_at([0.5])[0].image) == 0.5


@pytest.mark.parametrize("decoder", DECODERS)
def test_h264_mkv_through_every_decoder(tmp_path: Path, decoder: str) -> None:
    path = write_stamped(tmp_path / "clip.mkv", [i / 30 for i in range(150)])
    media = open_media(path, decoder=decoder)  # type: ignore[arg-type]
    assert media.num_frames == 150
    assert media.duration_s == pytest.approx(5.0, abs=0.01)
    frames = media.frames_at([0.0, 2.5, 4.99])
    assert [read_stamp(f.image) for f in frames] == [0.0, 2.5, pytest.approx(4.97, abs=0.006)]


# ---- rotation -----------------------------------------------------------------------------------


def test_rotated_video_comes_back_upright_in_pyav_and_opencv(tmp_path: Path) -> None:
    path = write_stamped(tmp_path / "phone.mp4", [i / 30 for i in range(30)], rotation=90)
    pyav = open_media(path, decoder="pyav")
    opencv = open_media(path, decoder="opencv")
    assert (pyav.width, pyav.height) == (opencv.width, opencv.height) == (HEIGHT, WIDTH)
    a, b = pyav.frames_at([0.5])[0].image, opencv.frames_at([0.5])[0].image
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0
