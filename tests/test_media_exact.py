"""The default reader's shortcuts never change a pixel: it skips frames nothing refers to (NONREF)
on the way to a wanted frame, drains the decoder after a GOP's last wanted frame, and decodes with
frame threads. Checked against a plain decode of every frame, on a clip that has B-frames other
frames refer to (x264's b-pyramid) as well as unreferenced ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vrb_agent.tools import FRAME_CACHE, open_media
from vrb_agent.tools.pyav_reader import PyAVReader, to_rgb

av = pytest.importorskip("av")

WIDTH, HEIGHT, GOP, FRAMES = 256, 144, 48, 96


def write_pyramid_clip(path: Path) -> Path:
    """Moving texture (every block changes, so a wrong reference shows) in two GOPs of 48 frames,
    3 B-frames between references with the middle one a reference (b-pyramid), one slice a frame."""
    rng = np.random.default_rng(7)
    texture = rng.integers(0, 256, (HEIGHT, WIDTH * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.codec_context.thread_count = 1
        stream.options = {
            "g": str(GOP),
            "keyint_min": str(GOP),
            "sc_threshold": "0",
            "bf": "3",
            "b-pyramid": "normal",
            "x264-params": "b-adapt=0:ref=3",
        }
        for i in range(FRAMES):
            frame = np.ascontiguousarray(texture[:, (i * 3) % WIDTH : (i * 3) % WIDTH + WIDTH])
            frame[40:80, (i * 2) % (WIDTH - 40) : (i * 2) % (WIDTH - 40) + 40] = (230, 30, 30)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def reference_idc(packet: object) -> int:
    """nal_ref_idc of a packet's first slice (MP4 packets are NAL units behind 4-byte lengths):
    0 means no other frame is predicted from it."""
    data, at = bytes(packet), 0  # type: ignore[call-overload]
    while at + 4 < len(data):
        length = int.from_bytes(data[at : at + 4], "big")
        header = data[at + 4]
        if header & 0x1F in (1, 5):  # a slice of a picture
            return header >> 5 & 3
        at += 4 + length
    raise AssertionError("a packet without a slice")


Decoded = tuple[dict[int, np.ndarray], dict[int, str], dict[int, int]]


def plain_decode(path: Path) -> Decoded:
    """Every frame's pixels, picture type and nal_ref_idc by pts, decoding everything in order."""
    pixels: dict[int, np.ndarray] = {}
    kinds: dict[int, str] = {}
    refs: dict[int, int] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.size:
                refs[packet.pts] = reference_idc(packet)
            for frame in packet.decode():
                pixels[frame.pts] = frame.to_ndarray(format="rgb24")
                kinds[frame.pts] = av.video.frame.PictureType(frame.pict_type).name
    return pixels, kinds, refs


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, *Decoded]:
    path = write_pyramid_clip(tmp_path_factory.mktemp("exact") / "pyramid.mp4")
    return (path, *plain_decode(path))


def test_the_clip_has_referenced_and_unreferenced_b_frames(clip: tuple) -> None:
    """Without both kinds the tests below could not tell NONREF from skipping every B-frame."""
    _, pixels, kinds, refs = clip
    assert len(pixels) == FRAMES
    b_refs = {refs[pts] > 0 for pts, kind in kinds.items() if kind == "B"}
    assert b_refs == {True, False}


def skip_every_b_frame(path: Path, target: int) -> np.ndarray:
    """Decode towards `target` skipping every other B-frame, referenced or not (the wrong rule)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            stream.codec_context.skip_frame = "DEFAULT" if packet.pts == target else "BIDIR"
            for frame in packet.decode():
                if frame.pts == target:
                    return frame.to_ndarray(format="rgb24")
    raise AssertionError("target not decoded")


def test_skipping_referenced_b_frames_would_change_pixels(clip: tuple) -> None:
    """The clip is sensitive: an unreferenced B-frame decoded without the B-frame it is predicted
    from comes out wrong, so a reader skipping too much fails the exactness tests."""
    path, pixels, kinds, refs = clip
    unreferenced_b = [pts for pts, kind in sorted(kinds.items()) if kind == "B" and refs[pts] == 0]
    wrong = [pts for pts in unreferenced_b[:6] if not np.array_equal(skip_every_b_frame(path, pts), pixels[pts])]
    assert wrong


@pytest.mark.parametrize("threads", [1, 3])
def test_every_frame_alone_equals_the_plain_decode(clip: tuple, threads: int) -> None:
    """Each frame read on its own, in a shuffled order (seeks, then a drain after each target), with
    one codec thread and with three frame threads."""
    path, pixels, _, _ = clip
    reader = PyAVReader(str(path), threads=threads)
    order = np.random.default_rng(threads).permutation(FRAMES)
    for index in order:
        frame = reader.read([int(index)])[0]
        assert np.array_equal(to_rgb(frame), pixels[int(reader.timeline.pts[index])]), f"frame {index}"
    reader.close()


@pytest.mark.parametrize("threads", [1, 3])
def test_batches_equal_the_plain_decode(clip: tuple, threads: int) -> None:
    """Batches that go on forward within a GOP, cross GOPs, and mix referenced and unreferenced
    frames; with the same reader kept between batches."""
    path, pixels, _, _ = clip
    reader = PyAVReader(str(path), threads=threads)
    rng = np.random.default_rng(10 + threads)
    batches = [list(range(FRAMES)), [5, 6, 7, 47, 48, 49], [95, 0, 50, 1]]
    batches += [sorted(rng.choice(FRAMES, 9, replace=False).tolist()) for _ in range(8)]
    for batch in batches:
        for index, frame in zip(batch, reader.read(batch), strict=True):
            assert np.array_equal(to_rgb(frame), pixels[int(reader.timeline.pts[index])]), f"frame {index}"
    reader.close()


def test_split_requests_through_media_equal_the_plain_decode(clip: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through Media: requests spread over both GOPs are decoded by clones on the pool."""
    path, pixels, _, _ = clip
    monkeypatch.setenv("VRB_DECODE_THREADS", "2")
    FRAME_CACHE.clear()
    media = open_media(path, decoder="pyav")
    pts = media._reader.timeline.pts  # type: ignore[attr-defined]
    for times in ([0.5, 2.9, 1.0, 0.07, 1.5, 1.53, 2.0], [i / 30 for i in range(0, FRAMES, 5)]):
        for frame in media.frames_at(times):
            assert np.array_equal(frame.image, pixels[int(pts[frame.index])])
    media.close()
