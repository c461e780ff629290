"""Media access: probe once, then fetch frames at timestamps without decoding whole files.

The default decoder is PyAV (chosen by perf/media.py: fastest and smallest per open handle on one
judgment's frames); OpenCV and decord are the fallbacks, tried in that order when PyAV cannot open
or decode a file, and each can be chosen explicitly. Frames are addressed by presentation time
(see `timeline`, `pyav_reader`, `decoders`), so variable-frame-rate video is exact. Decoding runs on
one small process-wide thread pool (`VRB_DECODE_THREADS`, default one per core), so samples in flight
share the cores and async callers (`Media.aframes_at`) never block their event loop. Decoded full-resolution frames live
in one process-wide, byte-bounded LRU cache, so repeated requests within a judgment, across modes
and across K samples of the same sample cost no decoding. Every failure a user can cause becomes a
`MediaError` that names the file and a plain reason.
"""

from __future__ import annotations

import asyncio
import functools
import os
import stat
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from vrb_agent.lru import LRU
from vrb_agent.tools.decoders import DecordReader, ImageReader, OpenCVReader, Reader
from vrb_agent.tools.native_logs import quiet_native_logs, short_reason
from vrb_agent.tools.pyav_reader import AnyFrame, PackedFrame, PyAVReader, to_rgb
from vrb_agent.tools.timeline import MediaError, Timeline, probe_header, read_timeline

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})
Decoder = Literal["auto", "pyav", "decord", "opencv"]
DECODERS: tuple[str, ...] = ("pyav", "opencv", "decord")  # `auto` tries them in this order
MediaKind = Literal["video", "image"]

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
_Read = Callable[[list[int]], list[AnyFrame]]


@dataclass(frozen=True)
class Frame:
    """One decoded RGB frame, the time it is really shown (seconds from the first frame, from its
    pts) and its position in the video's frames."""

    image: np.ndarray
    timestamp: float
    index: int


def _frame_bytes(frame: AnyFrame) -> int:
    return frame.nbytes


class FrameCache(LRU[tuple[str, int], AnyFrame]):
    """Decoded frames bounded in bytes, shared by every Media in the process; frames are stored
    read-only so a caller cannot change what the next judgment sees."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        super().__init__(max_weight=max_bytes, weigh=_frame_bytes)
        self.max_bytes = max_bytes

    def put(self, key: tuple[str, int], frame: AnyFrame) -> list[tuple[tuple[str, int], AnyFrame]]:
        if key in self:
            return []
        (frame.planes if isinstance(frame, PackedFrame) else frame).setflags(write=False)
        return super().put(key, frame)

    def clear(self) -> None:
        super().clear()
        self.hits = self.misses = 0

    @property
    def nbytes(self) -> int:
        return self.weight


FRAME_CACHE = FrameCache(int(os.environ.get("VRB_FRAME_CACHE_MB", "256")) * 1024 * 1024)

_POOL_PREFIX = "vrb-decode"
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def decode_threads() -> int:
    """How many frames may be decoded at once in this process (`VRB_DECODE_THREADS`, default one
    per core): enough to use every core when several samples are in flight, few enough that a
    large `--concurrency` does not multiply decoder memory."""
    raw = os.environ.get("VRB_DECODE_THREADS", "").strip()
    if not raw:
        return os.cpu_count() or 2
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"VRB_DECODE_THREADS must be a whole number of threads, not {raw!r}") from None
    if value < 1:
        raise ValueError(f"VRB_DECODE_THREADS must be at least 1, not {value}")
    return value


def decode_pool() -> ThreadPoolExecutor:
    """The process-wide decode pool, created on first use."""
    global _pool  # noqa: PLW0603 - one pool per process is the point
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=decode_threads(), thread_name_prefix=_POOL_PREFIX)
        return _pool


def _on_decode_pool() -> bool:
    return threading.current_thread().name.startswith(_POOL_PREFIX)


class Media:
    """A probed video or image. Frames are fetched by time; see `frames_at` / `aframes_at`."""

    def __init__(self, path: Path, kind: MediaKind, reader: Reader) -> None:
        self.path = path
        self.kind: MediaKind = kind
        self.decoder = reader.name
        self._reader = reader
        self._lock = threading.Lock()
        self._closed = False
        st = path.stat()
        self.key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
        self._times = np.asarray(reader.times, dtype=np.float64)
        self.num_frames = len(self._times)
        self.fps = reader.fps if kind == "video" else 0.0
        self.width = reader.width
        self.height = reader.height
        has_rate = kind == "video" and self.fps > 0 and self.num_frames > 0
        self.duration_s = self.last_time + 1.0 / self.fps if has_rate else 0.0
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
        """Release the decoder (file handle, codec state). Cached frames stay usable; frames not
        yet decoded raise `MediaError` from then on."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._reader.close()

    def clamp_time(self, t: float) -> float:
        """A time clamped into [0, time of the last frame]."""
        return min(max(float(t), 0.0), self.last_time)

    @property
    def last_time(self) -> float:
        """The time at which the last frame starts being shown (0 for images)."""
        return float(self._times[-1]) if self.kind == "video" and self.num_frames else 0.0

    def index_at(self, t: float) -> int:
        """The frame shown at time t: the last one whose presentation time is at or before t."""
        if self.kind == "image":
            return 0
        index = int(np.searchsorted(self._times, self.clamp_time(t) + 1e-6, side="right")) - 1
        return min(max(index, 0), self.num_frames - 1)

    def time_of(self, index: int) -> float:
        """The time frame `index` starts being shown (its pts, from the first frame)."""
        return float(self._times[index]) if self.kind == "video" else 0.0

    def frames_at(self, times_s: Sequence[float], max_side: int | None = None) -> list[Frame]:
        """RGB frames shown at `times_s` (clamped into the media), downscaled so the long side
        is at most `max_side` (None keeps full resolution). Decodes only frames not in the cache,
        in one batched, sorted request on the decode pool."""
        indices = [self.index_at(t) for t in times_s]
        images = self._images(sorted(set(indices)), max_side)
        return [Frame(images[i], self.time_of(i), i) for i in indices]

    async def aframes_at(self, times_s: Sequence[float], max_side: int | None = None) -> list[Frame]:
        """`frames_at` for async code: the lookup, decoding and resizing run on the decode pool."""
        return await asyncio.wrap_future(decode_pool().submit(self.frames_at, list(times_s), max_side))

    def _images(self, indices: list[int], max_side: int | None) -> dict[int, np.ndarray]:
        """The fitted RGB images of sorted `indices`, made on the shared pool. A request spread over
        several GOPs is cut into parts of about equal work, one per pool worker, each decoded by
        its own clone of the reader (its own demuxer and decoder, closed afterwards) and converted
        where it was decoded, so one request uses every core; a request within one GOP goes to the
        primary reader, whose codec threads then share the cores."""
        if _on_decode_pool():  # already a pool worker (aframes_at): waiting on the pool could deadlock
            return self._part_images(indices, max_side, self._read_locked)
        cached = {i for i in indices if (self.key, i) in FRAME_CACHE}
        parts = _split_by_gop(self._reader, indices, decode_threads(), cached)
        if len(parts) == 1:
            return decode_pool().submit(self._part_images, indices, max_side, self._read_locked).result()
        threads = max(1, (os.cpu_count() or 1) // len(parts))  # codec threads: the parts share the cores
        read = functools.partial(self._read_clone, threads=threads)
        futures = [decode_pool().submit(self._part_images, part, max_side, read) for part in parts]
        return {i: image for future in futures for i, image in future.result().items()}

    def _part_images(self, indices: list[int], max_side: int | None, read: _Read) -> dict[int, np.ndarray]:
        """One full-resolution RGB frame at a time: convert, fit, move on."""
        full = self._full_frames(indices, read)
        return {i: _fit(to_rgb(full[i]), max_side) for i in indices}

    def _full_frames(self, indices: list[int], read: _Read) -> dict[int, AnyFrame]:
        found: dict[int, AnyFrame] = {}
        missing: list[int] = []
        for index in indices:
            cached = FRAME_CACHE.get((self.key, index))
            if cached is None:
                missing.append(index)
            else:
                found[index] = cached
        if missing:
            for index, frame in zip(missing, read(missing), strict=True):
                FRAME_CACHE.put((self.key, index), frame)
                found[index] = frame
        return found

    def _read_clone(self, indices: list[int], threads: int) -> list[AnyFrame]:
        self._check_open()
        clone = self._reader.clone(threads)  # type: ignore[attr-defined]
        try:
            return self._checked(indices, clone.read)
        finally:
            clone.close()

    def _read_locked(self, indices: list[int]) -> list[AnyFrame]:
        with self._lock:
            self._check_open()
            return self._checked(indices, self._reader.read)

    def _check_open(self) -> None:
        if self._closed:
            raise MediaError(self.path, "this Media was closed; open it again with open_media")

    def _checked(self, indices: list[int], read: Callable[[list[int]], list[AnyFrame]]) -> list[AnyFrame]:
        try:
            frames = read(indices)
        except MediaError:
            raise
        except Exception as exc:  # decoders raise their own exception types
            reason = f"decoding failed ({short_reason(exc)}); the file may be truncated or corrupt"
            raise MediaError(self.path, reason) from None
        if len(frames) != len(indices) or any(f is None or f.nbytes == 0 for f in frames):
            raise MediaError(self.path, "the decoder returned no pixels; the file may be truncated or corrupt")
        return frames


CONVERT_COST = 4  # converting and downscaling a 720p frame costs about four decoded frames (perf/media.py)


def _split_by_gop(reader: Reader, indices: list[int], ways: int, cached: set[int]) -> list[list[int]]:
    """Sorted indices cut into at most `ways` parts of whole GOPs (a GOP is decoded by one reader,
    forward from its keyframe) with about equal work: the frames decoded from each GOP's keyframe
    to its last frame not in `cached`, plus the conversions. Largest GOP first onto the least loaded
    part; one part when the reader cannot be cloned."""
    keyframe_index = getattr(reader, "keyframe_index", None)
    if ways < 2 or keyframe_index is None or len(indices) < 2:
        return [indices]
    gops: dict[int, list[int]] = {}
    for index in indices:
        gops.setdefault(keyframe_index(index), []).append(index)
    if len(gops) < 2:
        return [indices]

    def cost(key: int) -> int:
        decoded = [i for i in gops[key] if i not in cached]
        return (decoded[-1] - key + 1 if decoded else 0) + CONVERT_COST * len(gops[key])

    parts: list[list[int]] = [[] for _ in range(min(ways, len(gops)))]
    loads = [0] * len(parts)
    for key in sorted(gops, key=cost, reverse=True):
        lightest = loads.index(min(loads))
        parts[lightest] += gops[key]
        loads[lightest] += cost(key)
    return [sorted(part) for part in parts]


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


INSTALL_HINTS = {
    "pyav": "pip install av",
    "decord": "pip install decord",
    "opencv": "pip install opencv-python-headless",
}


class _Probe:
    """What PyAV says about a file, each part read once and only when a decoder needs it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._timeline: list[Timeline | None] = []
        self._pyav_decodes: bool | None = None

    def timeline(self) -> Timeline | None:
        """PyAV's demuxed pts timeline (OpenCV addresses frames by it); None when PyAV cannot."""
        if not self._timeline:
            try:
                self._timeline.append(read_timeline(str(self.path)))
            except (MediaError, ImportError):
                self._timeline.append(None)
        return self._timeline[0]

    def pyav_decodes(self) -> bool:
        """Whether PyAV decodes this file's first frame: then the file is valid, whatever another
        decoder says."""
        if self._pyav_decodes is None:
            try:
                PyAVReader(str(self.path)).close()
                self._pyav_decodes = True
            except (MediaError, ImportError):
                self._pyav_decodes = False
        return self._pyav_decodes


def _make_reader(name: str, probe: _Probe) -> Reader:
    if name == "pyav":
        return PyAVReader(str(probe.path))
    if name == "opencv":
        return OpenCVReader(str(probe.path), probe.timeline())
    return DecordReader(str(probe.path))


def _validate(media: Media) -> None:
    """Refuse what would fail mid-judgment: no frames, size or rate, or fewer readable frames than
    the container declares (decord and PyAV quietly index only the readable part of a cut file)."""
    if media.num_frames <= 0:
        raise MediaError(media.path, "the video has zero frames")
    if media.width <= 0 or media.height <= 0:
        raise MediaError(media.path, "the decoder reports no frame size")
    if not media.fps > 0:
        raise MediaError(media.path, "the video reports no frame rate")
    header = getattr(media._reader, "header", None) or probe_header(str(media.path))
    if header.frames > media.num_frames * 1.02 + 2:
        raise MediaError(
            media.path,
            f"truncated file: the container declares {header.frames} frames but only {media.num_frames} are readable",
        )
    if not header.frames and header.duration_s > media.duration_s * 1.02 + 0.5:
        raise MediaError(
            media.path,
            f"truncated file: the container declares {header.duration_s:.2f}s but only "
            f"{media.duration_s:.2f}s are readable",
        )
    media.frames_at([0.0])


def _try_decoder(name: str, probe: _Probe) -> Media:
    """One decoder's attempt. A file PyAV decodes but this decoder cannot is reported as an
    unsupported codec, never as a truncated or corrupt file."""
    media: Media | None = None
    try:
        media = Media(probe.path, "video", _make_reader(name, probe))
        _validate(media)
        return media
    except ImportError:
        raise MediaError(probe.path, f"decoder {name!r} is not installed ({INSTALL_HINTS[name]})") from None
    except MediaError as exc:
        reason = exc.reason
    except Exception as exc:  # decord raises DECORDError and RuntimeError alike
        reason = f"not a readable video ({name}: {short_reason(exc)})"
    if media is not None:
        media.close()
    if name != "pyav" and not reason.startswith("truncated file") and probe.pyav_decodes():
        codec = probe_header(str(probe.path)).codec
        reason = f"codec not supported by this decoder: {name} cannot decode this file's {codec} video; use pyav"
    raise MediaError(probe.path, reason)


def _open_video(path: Path, decoder: Decoder) -> Media:
    probe = _Probe(path)
    names = DECODERS if decoder == "auto" else (decoder,)
    reasons: list[str] = []
    for name in names:
        try:
            return _try_decoder(name, probe)
        except MediaError as exc:
            if len(names) == 1:
                raise
            reasons.append(f"{name}: {exc.reason}")
    raise MediaError(path, "not a readable video: " + "; ".join(reasons))


def open_media(path: str | os.PathLike[str], decoder: Decoder = "auto") -> Media:
    """Probe a video or image once. `decoder` is `auto` (PyAV, else OpenCV, else decord), `pyav`,
    `opencv` or `decord`."""
    if decoder not in ("auto", *DECODERS):
        raise ValueError(f"decoder must be auto, {', '.join(DECODERS)}, not {decoder!r}")
    quiet_native_logs()
    p = Path(path).expanduser().absolute()
    _check_file(p)
    if p.suffix.lower() in IMAGE_SUFFIXES:
        media = Media(p, "image", ImageReader(str(p)))
        media.frames_at([0.0])
        return media
    return _open_video(p, decoder)
