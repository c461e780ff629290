"""Frame readers, one per decoding library, behind one small interface.

Every reader knows the file's presentation timeline (`times`: when each frame starts being shown,
in seconds, in display order, the first frame at 0) and reads full-resolution RGB frames by their
position in it. Frames are found by presentation timestamp (pts), never by `index / fps`, so a
variable-frame-rate phone recording comes back right and labelled with the time each frame is
really shown. The libraries' own C-level log lines are silenced (`quiet_native_logs`) so that a bad
file shows up as one `MediaError`, not as FFmpeg noise over a progress bar.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from vrb_agent.tools.native_logs import native_stderr_silenced, quiet_decord, quiet_native_logs
from vrb_agent.tools.pyav_reader import AnyFrame
from vrb_agent.tools.timeline import PTS_TOLERANCE_S, MediaError, Timeline


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

    def read(self, indices: Sequence[int]) -> list[AnyFrame]:
        frames: list[AnyFrame] = []
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
        self.height, self.width = (int(first.shape[0]), int(first.shape[1])) if first is not None else (0, 0)
        self.first_frame = first

    def read(self, indices: Sequence[int]) -> list[AnyFrame]:
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

    def read(self, indices: Sequence[int]) -> list[AnyFrame]:
        return [self._pixels for _ in indices]

    def close(self) -> None:
        del self._pixels


def _too_large(size: str) -> str:
    return (
        f"image is too large to decode safely ({size} pixels; the limit is {MAX_IMAGE_PIXELS:,}, "
        "set VRB_MAX_IMAGE_PIXELS to raise it); a decompression bomb?"
    )
