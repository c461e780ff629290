"""Frame readers, one per decoding library, behind one small interface.

Every reader knows the file's presentation timeline (`times`: when each frame starts being shown,
in seconds, in display order, the first frame at 0) and reads full-resolution RGB frames by their
position in it. Frames are found by presentation timestamp (pts), never by `index / fps`, so a
variable-frame-rate phone recording comes back right and labelled with the time each frame is
really shown. The libraries' own C-level log lines are silenced (`quiet_native_logs`) so that a bad
file shows up as one `MediaError`, not as FFmpeg noise over a progress bar.
"""

from __future__ import annotations

import bisect
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

import numpy as np

from vrb_agent.errors import VrbError

PTS_TOLERANCE_S = 5e-4  # a frame "is" the one wanted when their pts agree this closely


class MediaError(VrbError):
    """A media file cannot be used; the message names the path and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class Reader(Protocol):
    """A decoder bound to one file; `read` returns full-resolution frames (RGB arrays, or packed
    frames: see `to_rgb`) for sorted positions in `times`."""

    name: str
    times: np.ndarray
    fps: float
    width: int
    height: int

    def read(self, indices: Sequence[int]) -> list[AnyFrame]: ...

    def close(self) -> None: ...


_QUIET = False


def quiet_native_logs() -> None:
    """Silence FFmpeg/OpenCV/decord logging to stderr, once per process: their lines would
    scramble a progress bar, and every failure already becomes a `MediaError` naming the file."""
    global _QUIET  # noqa: PLW0603 - one switch for the process, as the libraries' own levels are
    if _QUIET:
        return
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET for OpenCV's bundled FFmpeg
    os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
    try:
        import cv2.utils.logging  # noqa: PLC0415

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except ImportError:
        pass
    try:
        import av.logging  # noqa: PLC0415

        av.logging.set_level(None)  # no Python log handler, and FFmpeg's own printing off
    except ImportError:
        pass
    _QUIET = True


_NATIVE_LINE = re.compile(rb"^\[\d\d:\d\d:\d\d\] \S+\.(cc|h|cpp):\d+: ")


class _HeldStderr:
    """File descriptor 2 pointed at a temporary file while any thread is inside a native call that
    logs with no level switch; shared, so such calls on several threads still run in parallel."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = -1
        self._held: object = None

    def enter(self) -> None:
        with self._lock:
            if self._depth == 0:
                sys.stderr.flush()
                self._held = tempfile.TemporaryFile()
                self._saved = os.dup(2)
                os.dup2(self._held.fileno(), 2)  # type: ignore[attr-defined]
            self._depth += 1

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth:
                return
            sys.stderr.flush()
            os.dup2(self._saved, 2)
            os.close(self._saved)
            held = self._held
            held.seek(0)  # type: ignore[attr-defined]
            kept = b"".join(line for line in held if not _NATIVE_LINE.match(line))  # type: ignore[attr-defined]
            held.close()  # type: ignore[attr-defined]
            if kept:
                os.write(2, kept)


_HELD_STDERR = _HeldStderr()


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Hold back C-level stderr around a native call that logs with no level switch (decord's own
    "ERROR opening ..." lines). What other threads wrote meanwhile is passed on afterwards; only
    lines in the native log format are dropped."""
    _HELD_STDERR.enter()
    try:
        yield
    finally:
        _HELD_STDERR.leave()


def quiet_decord() -> None:
    """decord carries its own FFmpeg; its log level is separate (imported only when used)."""
    import decord  # noqa: PLC0415

    decord.logging.set_level(decord.logging.QUIET)


_DECORD_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: (Check failed: .*?ERROR )?")


def short_reason(exc: BaseException) -> str:
    """One plain line from a decoder exception: no source paths, log prefixes or tracebacks."""
    lines = str(exc).strip().splitlines()
    first = _DECORD_PREFIX.sub("", lines[0] if lines else "")
    return first[:160] or exc.__class__.__name__


# ---- the presentation timeline ------------------------------------------------------------------


@dataclass(frozen=True)
class Timeline:
    """Every frame's pts (display order) and the keyframes', read from the container by demuxing
    packets only (no decoding: a 10-minute 720p file takes a fraction of a second, 8 bytes a frame)."""

    pts: np.ndarray  # int64, sorted, in `time_base` units
    keyframes: np.ndarray  # int64, sorted pts of the frames a decoder can start from
    time_base: Fraction
    codec: str
    fps: float

    @property
    def times(self) -> np.ndarray:
        """Seconds from the first frame at which each frame starts being shown."""
        return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)


def _video_stream(path: str, container: object) -> object:
    streams = container.streams.video  # type: ignore[attr-defined]
    if not streams:
        raise MediaError(path, "the file has no video stream (audio only?)")
    return streams[0]


@dataclass(frozen=True)
class Header:
    """What the container header declares, read without demuxing (zeros when it does not say)."""

    frames: int  # MKV/WebM declare no frame count
    duration_s: float
    codec: str


def probe_header(path: str) -> Header:
    """The video stream's declared frame count, duration and codec; zeros and "unknown" when
    PyAV cannot open the file."""
    unknown = Header(0, 0.0, "unknown")
    try:
        import av  # noqa: PLC0415
    except ImportError:
        return unknown
    quiet_native_logs()
    try:
        with av.open(path) as container:
            return header_of(container, _video_stream(path, container))
    except (MediaError, av.error.FFmpegError, OSError):
        return unknown


def header_of(container: object, stream: object) -> Header:
    """The declared frame count, duration and codec of an open container's video stream."""
    if stream.duration and stream.time_base:  # type: ignore[attr-defined]
        seconds = float(stream.duration * stream.time_base)  # type: ignore[attr-defined]
    else:  # Matroska declares its end time from 0, not the span: take the start off
        start = max(container.start_time or 0, 0)  # type: ignore[attr-defined]
        seconds = max((container.duration or 0) - start, 0) / 1_000_000  # type: ignore[attr-defined]
    return Header(int(stream.frames or 0), seconds, str(stream.codec_context.name))  # type: ignore[attr-defined]


def read_timeline(path: str, container: object | None = None) -> Timeline:
    """Demux the first video stream's packets for their pts. Opens (and closes) its own container
    unless one is given; a given container is left rewound to the start."""
    import av  # noqa: PLC0415

    quiet_native_logs()
    own = container is None
    try:
        if own:
            container = av.open(path)
        stream = _video_stream(path, container)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate  # type: ignore[attr-defined]
        time_base, codec = stream.time_base, stream.codec_context.name  # type: ignore[attr-defined]
        pts, keys = _packet_stamps(container, stream)
        if not own:
            container.seek(0, stream=stream, backward=True)  # type: ignore[attr-defined]
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"not a readable video ({short_reason(exc)})") from None
    finally:
        if own and container is not None:
            container.close()  # type: ignore[attr-defined]
    if not pts:
        raise MediaError(path, "the video has zero frames")
    order = np.unique(np.asarray(pts, dtype=np.int64))
    keyframes = np.unique(np.asarray(keys or [int(order[0])], dtype=np.int64))
    return Timeline(pts=order, keyframes=keyframes, time_base=time_base, codec=codec, fps=float(rate) if rate else 0.0)


def _packet_stamps(container: object, stream: object) -> tuple[list[int], list[int]]:
    """The pts of every packet of `stream` and of its keyframes (dts when a packet has no pts)."""
    pts: list[int] = []
    keys: list[int] = []
    for packet in container.demux(stream):  # type: ignore[attr-defined]
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.size == 0:
            continue
        pts.append(stamp)
        if packet.is_keyframe:
            keys.append(stamp)
    return pts, keys


def _upright(image: np.ndarray, rotation: float) -> np.ndarray:
    """Turn a decoded frame as its display matrix says (counter-clockwise degrees)."""
    turns = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, turns)) if turns else image


@dataclass(frozen=True)
class PackedFrame:
    """A decoded frame kept in the decoder's YUV 4:2:0 planes (half the bytes of RGB) until it is
    asked for; converting back gives exactly the pixels of a direct RGB conversion."""

    planes: np.ndarray  # (height * 3 / 2, width) uint8, as PyAV lays out yuv420p
    rotation: int  # degrees counter-clockwise to turn it upright

    @property
    def nbytes(self) -> int:
        return self.planes.nbytes

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) once upright."""
        height, width = self.planes.shape[0] * 2 // 3, self.planes.shape[1]
        return (width, height) if round(self.rotation / 90) % 2 else (height, width)

    def rgb(self) -> np.ndarray:
        import av  # noqa: PLC0415

        frame = av.VideoFrame.from_ndarray(self.planes, format="yuv420p")
        return _upright(frame.to_ndarray(format="rgb24"), self.rotation)


AnyFrame = np.ndarray | PackedFrame


def to_rgb(frame: AnyFrame) -> np.ndarray:
    """The RGB pixels of a decoded frame, however a reader keeps it."""
    return frame.rgb() if isinstance(frame, PackedFrame) else frame


def frame_size(frame: AnyFrame) -> tuple[int, int]:
    """(height, width) of a decoded frame, upright."""
    return frame.size if isinstance(frame, PackedFrame) else (frame.shape[0], frame.shape[1])


def _pack(frame: object) -> AnyFrame:
    """Keep 4:2:0 frames packed; anything else (odd sizes, 4:4:4, RGB codecs) as RGB."""
    rotation = round(getattr(frame, "rotation", 0) or 0)
    even = frame.width % 2 == 0 and frame.height % 2 == 0  # type: ignore[attr-defined]
    if frame.format.name == "yuv420p" and even:  # type: ignore[attr-defined]
        return PackedFrame(frame.to_ndarray(format="yuv420p"), rotation)  # type: ignore[attr-defined]
    return _upright(frame.to_ndarray(format="rgb24"), rotation)  # type: ignore[attr-defined]


# ---- PyAV ----------------------------------------------------------------------------------------


class PyAVReader:
    """PyAV (FFmpeg): seek to the keyframe at or before the wanted pts and decode forward, or keep
    going forward when the wanted frame lies ahead in the GOP being decoded. Frames nothing refers
    to (non-reference B-frames) are not decoded unless wanted, so reaching a frame costs only the
    references before it. One small decoder state per file and no decode-ahead: open handles are
    cheap (decord's cost ~200 MB each)."""

    name = "pyav"

    def __init__(self, path: str, timeline: Timeline | None = None, size: tuple[int, int] | None = None) -> None:
        """Open `path`; a `timeline` and `size` from an open reader of the same file (see `clone`)
        skip the demux pass and the first decode."""
        import av  # noqa: PLC0415

        quiet_native_logs()
        self._path = path
        try:
            self._container = av.open(path)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"not a readable video ({short_reason(exc)})") from None
        try:
            self.timeline = timeline or read_timeline(path, self._container)
            self._stream = _video_stream(path, self._container)
            self.header = header_of(self._container, self._stream)
            self._check_codec()
            self._pts = self.timeline.pts
            self.times = self.timeline.times
            self.fps = self.timeline.fps
            self._packets: Iterator[object] | None = None  # the demuxer, from the last seek on
            self._last: int | None = None  # pts of the last frame the decoder gave back
            # The upright size is known only after decoding (phone videos carry a rotation); Media
            # caches this first frame, so probing costs no extra decoding.
            self.first_frame: AnyFrame | None = None if size else self.read([0])[0]
        except BaseException:
            self._container.close()
            raise
        self.height, self.width = size or frame_size(self.first_frame)  # type: ignore[arg-type]

    def clone(self) -> PyAVReader:
        """Another reader of the same file (its own demuxer and decoder), for decoding in parallel."""
        return PyAVReader(self._path, self.timeline, (self.height, self.width))

    def keyframe_of(self, index: int) -> int:
        """The pts of the keyframe that decoding frame `index` starts from."""
        keys = self.timeline.keyframes
        return int(keys[max(bisect.bisect_right(keys, int(self._pts[index])) - 1, 0)])

    def _check_codec(self) -> None:
        from av.codec import Codec  # noqa: PLC0415

        name = self._stream.codec_context.name
        try:
            Codec(name, "r")
        except Exception:  # PyAV raises UnknownCodecError / ValueError by version
            raise MediaError(self._path, f"codec not supported by this decoder: pyav has no {name} decoder") from None
        # Frame and slice threads: a long run from a keyframe decodes on every core (perf/media.py
        # measured it faster than slice threads alone, at the same peak RSS).
        self._stream.thread_type = "AUTO"

    def read(self, indices: Sequence[int]) -> list[AnyFrame]:
        wanted = {int(self._pts[i]) for i in indices}
        found: dict[int, AnyFrame] = {}
        for target in sorted(wanted):
            if target not in found:
                self._decode_until(target, wanted, found)
        return [found[int(self._pts[i])] for i in indices]

    def _decode_until(self, target: int, wanted: set[int], found: dict[int, AnyFrame]) -> None:
        keys = self.timeline.keyframes
        at = max(bisect.bisect_right(keys, target) - 1, 0)
        ahead = self._packets is not None and self._last is not None and keys[at] <= self._last < target
        # Go on from here when the frame is ahead in this GOP; else seek. If the demuxer lands past
        # the frame (or it was passed undecoded), start again from up to two keyframes earlier.
        starts = ([None] if ahead else []) + [int(keys[max(at - back, 0)]) for back in range(3)]
        for start in starts:
            if start is not None:
                self._seek(start)
            if self._decode_forward(target, wanted, found):
                return
        raise MediaError(
            self._path,
            f"the frame at {float((target - self._pts[0]) * self.timeline.time_base):.3f}s could not be decoded; "
            "the file may be truncated or corrupt",
        )

    def _seek(self, pts: int) -> None:
        self._container.seek(pts, stream=self._stream, backward=True)
        self._packets = iter(self._container.demux(self._stream))
        self._last = None

    def _decode_forward(self, target: int, wanted: set[int], found: dict[int, AnyFrame]) -> bool:
        """Feed packets until the decoder gives back a frame at or past `target`; True if it was
        the target. Wanted frames met on the way are kept too."""
        assert self._packets is not None
        context = self._stream.codec_context
        for packet in self._packets:
            stamp = packet.pts if packet.pts is not None else packet.dts  # type: ignore[attr-defined]
            context.skip_frame = "DEFAULT" if stamp is None or stamp in wanted else "NONREF"
            for frame in context.decode(packet):
                if frame.pts is None:
                    continue
                self._last = frame.pts
                if frame.pts in wanted and frame.pts not in found:
                    found[frame.pts] = _pack(frame)
                if frame.pts >= target:
                    return target in found
        self._packets = None  # the end of the file: the decoder is drained, the next read seeks
        return target in found

    def close(self) -> None:
        self._packets = None
        self._container.close()


# ---- OpenCV --------------------------------------------------------------------------------------


class OpenCVReader:
    """OpenCV's FFmpeg capture, addressed by presentation time: seek near the wanted time, then
    step forward comparing each frame's pts (CAP_PROP_POS_MSEC) with the timeline's. OpenCV's own
    frame numbers assume a constant rate, so they are never trusted on their own."""

    name = "opencv"
    STEP_LIMIT = 32  # grabbing forward beats a seek for short gaps

    def __init__(self, path: str, timeline: Timeline | None) -> None:
        import cv2  # noqa: PLC0415

        quiet_native_logs()
        self._cv2 = cv2
        self._path = path
        self._cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise MediaError(path, "OpenCV cannot open this file (not a readable video)")
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if timeline is not None:
            self.times = timeline.times
            self.fps = self.fps or timeline.fps
        else:  # PyAV could not read the container: trust the header's constant rate
            count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.times = np.arange(max(count, 0), dtype=np.float64) / self.fps if self.fps > 0 else np.zeros(0)
        self._origin_s: float | None = None  # POS_MSEC of the first frame, read on first use
        self._at = -1  # timeline position of the frame last grabbed (-1: unknown)

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        frames = []
        for index in indices:
            self._grab(index)
            ok, bgr = self._cap.retrieve()
            if not ok or bgr is None:
                raise MediaError(self._path, f"frame at {self.times[index]:.3f}s could not be decoded")
            frames.append(self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB))
        return frames

    def _origin(self) -> float:
        if self._origin_s is None:
            self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, 0)
            self._step()
            self._origin_s = self._now()
            self._at = 0
        return self._origin_s

    def _now(self) -> float:
        return float(self._cap.get(self._cv2.CAP_PROP_POS_MSEC)) / 1000.0

    def _step(self) -> None:
        if not self._cap.grab():
            raise MediaError(self._path, "a frame could not be decoded; the file may be truncated or corrupt")

    def _grab(self, index: int) -> None:
        """Leave the capture holding frame `index`: step forward when close, else seek and step."""
        origin = self._origin()
        target = float(self.times[index])
        if self._at == index:
            return
        if not (0 <= index - self._at <= self.STEP_LIMIT and self._at >= 0):
            self._seek_before(target, origin)
        while self._now() - origin < target - PTS_TOLERANCE_S:
            self._step()
        if abs(self._now() - origin - target) > PTS_TOLERANCE_S:  # landed past it: back off further
            self._seek_before(target - 2.0, origin)
            while self._now() - origin < target - PTS_TOLERANCE_S:
                self._step()
        self._at = index

    def _seek_before(self, target: float, origin: float) -> None:
        """Seek so that the next grabs reach `target` going forward (back off until behind it)."""
        backoff = 0.0
        while True:
            wanted = max(target - backoff, 0.0)
            self._cap.set(self._cv2.CAP_PROP_POS_MSEC, (wanted + origin) * 1000.0)
            self._step()
            if self._now() - origin <= target + PTS_TOLERANCE_S or wanted == 0.0:
                return
            backoff = max(backoff * 2, 1.0)

    def close(self) -> None:
        self._cap.release()


# ---- decord --------------------------------------------------------------------------------------


class DecordReader:
    """decord's VideoReader: indexes every frame at open and decodes ahead in the background, so a
    live handle costs ~200 MB (dmlc/decord#157); chosen only when asked for."""

    name = "decord"

    def __init__(self, path: str) -> None:
        import decord  # noqa: PLC0415 - optional: no wheel on ARM

        quiet_native_logs()
        quiet_decord()
        with native_stderr_silenced():
            self._vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
            count = len(self._vr)
            starts = self._vr.get_frame_timestamp(np.arange(count))[:, 0] if count else np.zeros(0)
            first = self._vr[0].asnumpy() if count else None
        self.fps = float(self._vr.get_avg_fps())
        self.times = np.asarray(starts, dtype=np.float64) - (starts[0] if count else 0.0)
        self.height, self.width = first.shape[:2] if first is not None else (0, 0)
        self.first_frame = first

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        # One frame at a time in sorted order: a whole-batch buffer would hold every frame twice.
        with native_stderr_silenced():
            return [self._vr[index].asnumpy() for index in indices]

    def close(self) -> None:
        del self._vr


# ---- still images --------------------------------------------------------------------------------


MAX_IMAGE_PIXELS = int(os.environ.get("VRB_MAX_IMAGE_PIXELS", str(100_000_000)))


class ImageReader:
    """A still image as a 1-frame medium; refuses decompression bombs before decoding them."""

    name = "pillow"
    fps = 0.0
    times = np.zeros(1)

    def __init__(self, path: str) -> None:
        import warnings  # noqa: PLC0415

        from PIL import Image, ImageOps  # noqa: PLC0415

        if Image.MAX_IMAGE_PIXELS is not None:  # PIL refuses at twice its own limit: align it with ours
            Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS)
        try:
            with warnings.catch_warnings(), Image.open(path) as opened:
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                width, height = opened.size
                if width * height > MAX_IMAGE_PIXELS:
                    raise MediaError(path, _too_large(f"{width}x{height} = {width * height:,}"))
                self._pixels = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        except Image.DecompressionBombError as exc:
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = f"{int(found.group(1)):,}" if found else "over twice the limit"
            raise MediaError(path, _too_large(size)) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise MediaError(path, f"not a readable image ({exc.__class__.__name__}: {exc})") from None
        self.height, self.width = self._pixels.shape[:2]

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [self._pixels for _ in indices]

    def close(self) -> None:
        del self._pixels


def _too_large(size: str) -> str:
    return (
        f"image is too large to decode safely ({size} pixels; the limit is {MAX_IMAGE_PIXELS:,}, "
        "set VRB_MAX_IMAGE_PIXELS to raise it); a decompression bomb?"
    )
