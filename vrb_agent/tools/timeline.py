"""What a container says before any decoding: the presentation timeline (every frame's pts, by
demuxing packets only) and the header's declared frame count, duration and codec. `MediaError` lives
here, the lowest layer of the media code."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from vrb_agent.errors import VrbError
from vrb_agent.tools.native_logs import quiet_native_logs, short_reason

PTS_TOLERANCE_S = 5e-4  # a frame "is" the one wanted when their pts agree this closely


class MediaError(VrbError):
    """A media file cannot be used; the message names the path and the reason."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


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


def video_stream(path: str, container: Any) -> Any:
    streams = container.streams.video
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
            return header_of(container, video_stream(path, container))
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


def read_timeline(path: str, container: Any = None) -> Timeline:
    """Demux the first video stream's packets for their pts. Opens (and closes) its own container
    unless one is given; a given container is left rewound to the start."""
    import av  # noqa: PLC0415

    quiet_native_logs()
    own = container is None
    try:
        if own:
            container = av.open(path)
        stream = video_stream(path, container)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        time_base, codec = stream.time_base, stream.codec_context.name
        pts, keys = _packet_stamps(container, stream)
        if not own:
            container.seek(0, stream=stream, backward=True)
    except av.error.FFmpegError as exc:
        raise MediaError(path, f"not a readable video ({short_reason(exc)})") from None
    finally:
        if own and container is not None:
            container.close()
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
