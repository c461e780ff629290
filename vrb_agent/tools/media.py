"""Media access: probe once, then fetch frames at timestamps without decoding whole files.

decord is the primary decoder (batched `get_batch` seeks); OpenCV is the fallback when decord is
missing or cannot open a file, and can be chosen explicitly. Decoded full-resolution frames live in
one process-wide, byte-bounded LRU cache, so repeated requests within a judgment, across modes and
across K samples of the same sample cost no decoding. Every failure a user can cause becomes a
`MediaError` that names the file and a plain reason.
"""

from __future__ import annotations

import math
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from vrb_agent.errors import VrbError

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
Decoder = Literal["auto", "decord", "opencv"]
MediaKind = Literal["video", "image"]

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024


class MediaError(VrbError):
    """A media file cannot be used; the message names the path and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Frame:
    """One decoded RGB frame and the time it is shown (seconds from the start)."""

    image: np.ndarray
    timestamp: float
    index: int


class _Reader(Protocol):
    """A decoder bound to one file; `read` returns full-resolution RGB frames for sorted indices."""

    num_frames: int
    fps: float
    width: int
    height: int

    def read(self, indices: Sequence[int]) -> list[np.ndarray]: ...


class _DecordReader:
    """decord's VideoReader: batched seeks to the nearest keyframe and decode forward."""

    def __init__(self, path: str) -> None:
        import decord  # noqa: PLC0415 - optional at import time, OpenCV is the fallback

        self._vr = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        self.num_frames = len(self._vr)
        self.fps = float(self._vr.get_avg_fps())
        # decord reports no frame size, so decode frame 0 once; Media caches it.
        self.first_frame: np.ndarray | None = self._vr[0].asnumpy() if self.num_frames else None
        self.height, self.width = self.first_frame.shape[:2] if self.first_frame is not None else (0, 0)

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        # One frame at a time in sorted order: a whole-batch buffer would hold every frame twice.
        return [self._vr[index].asnumpy() for index in indices]

    def close(self) -> None:
        del self._vr  # decord frees its decoder, frame index and decode-ahead buffers with the reader


class _OpenCVReader:
    """OpenCV's FFmpeg capture: seek by frame index, or step forward when the next frame is close."""

    STEP_LIMIT = 32  # grabbing forward beats a seek for short gaps

    def __init__(self, path: str) -> None:
        import cv2  # noqa: PLC0415

        self._cv2 = cv2
        self._cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise MediaError(path, "OpenCV cannot open this file (not a readable video)")
        self.num_frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._next = 0  # index of the frame the next read() returns
        self._path = path

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        frames: list[np.ndarray] = []
        for index in indices:
            gap = index - self._next
            if gap < 0 or gap > self.STEP_LIMIT:
                self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, index)
            else:
                for _ in range(gap):
                    self._cap.grab()
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                raise MediaError(self._path, f"frame {index} could not be decoded (truncated or corrupt file?)")
            self._next = index + 1
            frames.append(self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB))
        return frames

    def close(self) -> None:
        self._cap.release()


class _ImageReader:
    """A still image as a 1-frame medium."""

    fps = 0.0
    num_frames = 1

    def __init__(self, path: str) -> None:
        from PIL import Image, ImageOps  # noqa: PLC0415

        try:
            with Image.open(path) as opened:
                self._pixels = np.asarray(ImageOps.exif_transpose(opened).convert("RGB"))
        except (OSError, ValueError) as exc:
            raise MediaError(path, f"not a readable image ({exc.__class__.__name__}: {exc})") from None
        self.height, self.width = self._pixels.shape[:2]

    def read(self, indices: Sequence[int]) -> list[np.ndarray]:
        return [self._pixels for _ in indices]


class FrameCache:
    """A thread-safe LRU of decoded frames bounded in bytes, shared by every Media in the process."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, int]) -> np.ndarray | None:
        with self._lock:
            frame = self._items.get(key)
            if frame is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return frame

    def put(self, key: tuple[str, int], frame: np.ndarray) -> None:
        with self._lock:
            if key in self._items:
                return
            frame.setflags(write=False)
            self._items[key] = frame
            self._bytes += frame.nbytes
            while self._bytes > self.max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return self._bytes


FRAME_CACHE = FrameCache(int(os.environ.get("VRB_FRAME_CACHE_MB", "256")) * 1024 * 1024)


class Media:
    """A probed video or image. Frames are fetched by time; see `frames_at`."""

    def __init__(self, path: Path, kind: MediaKind, reader: _Reader, decoder: str) -> None:
        self.path = path
        self.kind: MediaKind = kind
        self.decoder = decoder
        self._reader: _Reader | None = reader
        self._lock = threading.Lock()
        st = path.stat()
        self.key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
        self.num_frames = reader.num_frames
        self.fps = reader.fps if kind == "video" else 0.0
        self.width = reader.width
        self.height = reader.height
        self.duration_s = self.num_frames / self.fps if kind == "video" and self.fps > 0 else 0.0
        first = getattr(reader, "first_frame", None)
        if first is not None:
            FRAME_CACHE.put((self.key, 0), first)
            reader.first_frame = None  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        return (
            f"Media({str(self.path)!r}, kind={self.kind}, {self.width}x{self.height}, "
            f"{self.num_frames} frames, {self.fps:.3f} fps, {self.duration_s:.2f}s, decoder={self.decoder})"
        )

    def close(self) -> None:
        """Release the decoder and its buffers now rather than at garbage collection (a benchmark
        closes media it no longer needs); cached frames stay readable, decoding more raises."""
        with self._lock:
            reader, self._reader = self._reader, None
        release = getattr(reader, "close", None)
        if release is not None:
            release()

    def clamp_time(self, t: float) -> float:
        """A time clamped into [0, time of the last frame]."""
        return min(max(float(t), 0.0), self.last_time)

    @property
    def last_time(self) -> float:
        """The time at which the last frame is shown (0 for images)."""
        return (self.num_frames - 1) / self.fps if self.kind == "video" and self.fps > 0 else 0.0

    def index_at(self, t: float) -> int:
        """The frame shown at time t: frame i is shown during [i/fps, (i+1)/fps)."""
        if self.kind == "image":
            return 0
        index = math.floor(self.clamp_time(t) * self.fps + 1e-6)
        return min(max(index, 0), self.num_frames - 1)

    def time_of(self, index: int) -> float:
        """The time frame `index` starts being shown."""
        return index / self.fps if self.kind == "video" and self.fps > 0 else 0.0

    def frames_at(self, times_s: Sequence[float], max_side: int | None = None) -> list[Frame]:
        """RGB frames shown at `times_s` (clamped into the media), downscaled so the long side
        is at most `max_side` (None keeps full resolution). Decodes only frames not in the cache,
        in one batched, sorted request."""
        indices = [self.index_at(t) for t in times_s]
        full = self._full_frames(sorted(set(indices)))
        return [Frame(_fit(full[i], max_side), self.time_of(i), i) for i in indices]

    def _full_frames(self, indices: list[int]) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        missing: list[int] = []
        for index in indices:
            cached = FRAME_CACHE.get((self.key, index))
            if cached is None:
                missing.append(index)
            else:
                found[index] = cached
        if missing:
            for index, frame in zip(missing, self._decode(missing), strict=True):
                FRAME_CACHE.put((self.key, index), frame)
                found[index] = frame
        return found

    def _decode(self, indices: list[int]) -> list[np.ndarray]:
        with self._lock:
            if self._reader is None:
                raise MediaError(self.path, "closed (Media.close() was called); open it again to decode")
            try:
                frames = self._reader.read(indices)
            except MediaError:
                raise
            except Exception as exc:  # decoders raise their own exception types
                reason = f"decoding failed ({_short(exc)}); the file may be truncated or corrupt"
                raise MediaError(self.path, reason) from None
        if len(frames) != len(indices) or any(f is None or f.size == 0 for f in frames):
            raise MediaError(self.path, "the decoder returned no pixels; the file may be truncated or corrupt")
        return frames


def _fit(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale (never upscale) so that the long side is at most `max_side`."""
    height, width = image.shape[:2]
    long_side = max(height, width)
    if max_side is None or long_side <= max_side:
        return image
    import cv2  # noqa: PLC0415

    scale = max_side / long_side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


_DECORD_PREFIX = re.compile(r"^\[[\d:]+\] \S+:\d+: (Check failed: .*?ERROR )?")


def _short(exc: BaseException) -> str:
    """One plain line from a decoder exception: no source paths, log prefixes or tracebacks."""
    lines = str(exc).strip().splitlines()
    first = _DECORD_PREFIX.sub("", lines[0] if lines else "")
    return first[:160] or exc.__class__.__name__


def _check_file(path: Path) -> None:
    """Reject what no decoder should be asked to open, with a plain reason."""
    if not path.exists():
        raise MediaError(path, "file not found")
    if path.is_dir():
        raise MediaError(path, "is a directory, expected a video or image file")
    if not stat.S_ISREG(path.stat().st_mode):
        raise MediaError(path, "is not a regular file")
    if not os.access(path, os.R_OK):
        raise MediaError(path, "permission denied (the file is not readable by this user)")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES | IMAGE_SUFFIXES:
        supported = ", ".join(sorted(VIDEO_SUFFIXES | IMAGE_SUFFIXES))
        raise MediaError(path, f"unsupported file type {suffix or '(none)'!r}; supported: {supported}")


def _open_video(path: Path, decoder: Decoder) -> tuple[_Reader, str]:
    errors: list[str] = []
    if decoder in ("auto", "decord"):
        try:
            return _DecordReader(str(path)), "decord"
        except ImportError:
            if decoder == "decord":
                reason = "decoder 'decord' requested but decord is not installed (pip install decord)"
                raise MediaError(path, reason) from None
            errors.append("decord is not installed")
        except Exception as exc:  # decord raises DECORDError and RuntimeError alike
            if decoder == "decord":
                raise MediaError(path, f"not a readable video (decord: {_short(exc)})") from None
            errors.append(f"decord: {_short(exc)}")
    try:
        return _OpenCVReader(str(path)), "opencv"
    except MediaError as exc:
        errors.append(exc.reason)
    raise MediaError(path, "not a readable video: " + "; ".join(errors))


def _declared_frames(path: Path) -> int:
    """The frame count the container header declares (OpenCV reads it without decoding)."""
    import cv2  # noqa: PLC0415

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    finally:
        cap.release()


def _check_complete(media: Media) -> None:
    """decord quietly indexes only the readable part of a truncated file; compare with the header."""
    declared = _declared_frames(media.path)
    if declared > media.num_frames * 1.02 + 2:
        raise MediaError(
            media.path,
            f"truncated file: the container declares {declared} frames but only {media.num_frames} are readable",
        )


def _validate(media: Media) -> None:
    if media.num_frames <= 0:
        raise MediaError(media.path, "the video has zero frames")
    if media.width <= 0 or media.height <= 0:
        raise MediaError(media.path, "the decoder reports no frame size")
    if media.kind == "video" and not media.fps > 0:
        raise MediaError(media.path, "the video reports no frame rate")
    if media.decoder == "decord":
        _check_complete(media)
        media.frames_at([0.0])
    else:
        # OpenCV trusts the header: decode the last frame too, so truncation fails here, not mid-judgment.
        media.frames_at([0.0, media.last_time])


def open_media(path: str | os.PathLike[str], decoder: Decoder = "auto") -> Media:
    """Probe a video or image once. `decoder` is `auto` (decord, else OpenCV), `decord` or `opencv`."""
    if decoder not in ("auto", "decord", "opencv"):
        raise ValueError(f"decoder must be auto, decord or opencv, not {decoder!r}")
    p = Path(path).expanduser().absolute()
    _check_file(p)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        media = Media(p, "image", _ImageReader(str(p)), "pillow")
    else:
        reader, used = _open_video(p, decoder)
        media = Media(p, "video", reader, used)
    try:
        _validate(media)
    except MediaError as exc:
        if media.decoder != "decord" or decoder != "auto":
            raise
        # decord opened it but cannot decode it: give OpenCV its chance before failing.
        try:
            media = Media(p, "video", _OpenCVReader(str(p)), "opencv")
            _validate(media)
        except MediaError as fallback_exc:
            raise MediaError(p, f"{exc.reason}; OpenCV: {fallback_exc.reason}") from None
    return media
