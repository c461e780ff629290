"""The PyAV (FFmpeg) reader, and the packed YUV frames it hands out: frames are found by pts on the
demuxed timeline, decoding forward from the keyframe before each."""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from vrb_agent.tools.native_logs import quiet_native_logs, short_reason
from vrb_agent.tools.timeline import MediaError, Timeline, header_of, read_timeline, video_stream


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


class PyAVReader:
    """PyAV (FFmpeg): seek to the keyframe at or before the wanted pts and decode forward, or keep
    going forward when the wanted frame lies ahead in the GOP being decoded. Frames nothing refers
    to (non-reference B-frames) are not decoded unless wanted, so reaching a frame costs only the
    references before it. One small decoder state per file and no decode-ahead: open handles are
    cheap (decord's cost ~200 MB each)."""

    name = "pyav"

    def __init__(
        self, path: str, timeline: Timeline | None = None, size: tuple[int, int] | None = None, threads: int = 0
    ) -> None:
        """Open `path`; a `timeline` and `size` from an open reader of the same file (see `clone`)
        skip the demux pass and the first decode. `threads` is the codec's thread count (0: FFmpeg
        picks one per core)."""
        import av  # noqa: PLC0415

        quiet_native_logs()
        self._path = path
        try:
            self._container = av.open(path)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"not a readable video ({short_reason(exc)})") from None
        try:
            self.timeline = timeline or read_timeline(path, self._container)
            self._stream = video_stream(path, self._container)
            self.header = header_of(self._container, self._stream)
            self._check_codec(threads)
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

    def clone(self, threads: int = 0) -> PyAVReader:
        """Another reader of the same file (its own demuxer and decoder), for decoding in parallel."""
        return PyAVReader(self._path, self.timeline, (self.height, self.width), threads)

    def keyframe_index(self, index: int) -> int:
        """The position of the keyframe that decoding frame `index` starts from."""
        return int(np.searchsorted(self._pts, self._keyframe_at(int(self._pts[index]))))

    def _check_codec(self, threads: int) -> None:
        from av.codec import Codec  # noqa: PLC0415

        name = self._stream.codec_context.name
        try:
            Codec(name, "r")
        except Exception:  # PyAV raises UnknownCodecError / ValueError by version
            raise MediaError(self._path, f"codec not supported by this decoder: pyav has no {name} decoder") from None
        # Frame and slice threads: a long run from a keyframe decodes on every core (perf/media.py
        # measured it faster than slice threads alone, at the same peak RSS). Clones decoding parts
        # of a split request get fewer: frame threads cost ~13 % more CPU than one thread (perf/media.py
        # work seconds), which is waste when the parts already keep the cores busy.
        self._stream.thread_type = "AUTO"
        self._stream.codec_context.thread_count = threads

    def read(self, indices: Sequence[int]) -> list[AnyFrame]:
        wanted = {int(self._pts[i]) for i in indices}
        found: dict[int, AnyFrame] = {}
        targets = sorted(wanted)
        for target, after in zip(targets, [*targets[1:], None], strict=True):
            if target not in found:
                last_of_gop = after is None or self._keyframe_at(after) != self._keyframe_at(target)
                self._decode_until(target, wanted, found, last_of_gop)
        return [found[int(self._pts[i])] for i in indices]

    def _keyframe_at(self, pts: int) -> int:
        keys = self.timeline.keyframes
        return int(keys[max(bisect.bisect_right(keys, pts) - 1, 0)])

    def _decode_until(self, target: int, wanted: set[int], found: dict[int, AnyFrame], last_of_gop: bool) -> None:
        keys = self.timeline.keyframes
        at = max(bisect.bisect_right(keys, target) - 1, 0)
        ahead = self._packets is not None and self._last is not None and keys[at] <= self._last < target
        # Go on from here when the frame is ahead in this GOP; else seek. If the demuxer lands past
        # the frame (or it was passed undecoded), start again from up to two keyframes earlier.
        starts = ([None] if ahead else []) + [int(keys[max(at - back, 0)]) for back in range(3)]
        for start in starts:
            if start is not None:
                self._seek(start)
            if self._decode_forward(target, wanted, found, last_of_gop):
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

    def _decode_forward(self, target: int, wanted: set[int], found: dict[int, AnyFrame], last_of_gop: bool) -> bool:
        """Feed packets until the decoder gives back a frame at or past `target`; True if it was
        the target. Wanted frames met on the way are kept too.

        A packet nothing refers to is skipped unless wanted (NONREF: by definition no other frame
        is predicted from it, so no pixel of a later frame changes). Frame threads copy the context's
        `skip_frame` when each packet is submitted, so the per-packet switch holds with them too.
        After the target's packet, the last wanted one of its GOP, the decoder is drained instead of
        fed: the packets after it (reorder and thread delay) would be decoded only to be flushed."""
        assert self._packets is not None
        context = self._stream.codec_context
        for packet in self._packets:
            stamp = packet.pts if packet.pts is not None else packet.dts  # type: ignore[attr-defined]
            context.skip_frame = "DEFAULT" if stamp is None or stamp in wanted else "NONREF"
            frames = context.decode(packet)
            if last_of_gop and stamp == target:
                frames += context.decode(None)
                self._packets = None  # drained: the next read seeks, and a seek flushes the decoder
            for frame in frames:
                if frame.pts is None:
                    continue
                self._last = frame.pts
                if frame.pts in wanted and frame.pts not in found:
                    found[frame.pts] = _pack(frame)
                if frame.pts >= target:
                    return target in found
            if self._packets is None:
                return target in found
        self._packets = None  # the end of the file: the decoder is drained, the next read seeks
        return target in found

    def close(self) -> None:
        self._packets = None
        self._container.close()
