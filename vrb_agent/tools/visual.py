"""The judge's visual tools (DESIGN.md §2): overview, select_frames, zoom, reexamine_clip.

Each tool is a function over a `Media` that returns an `Observation`: labelled images plus text.
Arguments are validated by pydantic models, which also give the JSON schema shown to models.
Invalid arguments never raise: the observation says what was wrong and how to call the tool.
Out-of-range times are clamped and the clamp is reported.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from vrb_agent.tools.labels import box_text, frame_label, zoom_label
from vrb_agent.tools.media import Media, MediaError

BOX_SCALE = 1000.0
MIN_ZOOM_SIDE = 448
MIN_CROP_PX = 4


@dataclass(frozen=True)
class ToolLimits:
    """Caps that apply to every tool call of a judgment."""

    max_side: int = 768
    max_frames_per_call: int = 8
    zoom_min_side: int = MIN_ZOOM_SIDE


@dataclass(frozen=True)
class ObservedImage:
    """One image a tool returned, with what it shows."""

    image: np.ndarray
    label: str
    timestamp: float
    box: tuple[float, float, float, float] | None = None


@dataclass
class Observation:
    """What a tool call returned: labelled images and a text for the model."""

    tool: str
    text: str
    images: list[ObservedImage] = field(default_factory=list)
    ok: bool = True
    arguments: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def error(cls, tool: str, text: str, arguments: dict[str, Any] | None = None) -> Observation:
        return cls(tool=tool, text=text, ok=False, arguments=dict(arguments or {}))

    @property
    def timestamps(self) -> list[float]:
        return [img.timestamp for img in self.images]


# ---- argument models (their JSON schemas are what models see) -----------------------------------


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SelectFramesArgs(_Args):
    """Look at the frames shown at specific times (seconds from the start of the video)."""

    timestamps: list[float] = Field(min_length=1, max_length=8, description="1 to 8 times in seconds, e.g. [3.5, 12.0]")


class ZoomArgs(_Args):
    """Look closely at a region of the frame at one time; the crop is upscaled."""

    timestamp: float = Field(description="time in seconds of the frame to zoom into")
    box: list[float] = Field(
        min_length=4,
        max_length=4,
        description="region [x0, y0, x1, y1] on a 0-1000 scale of the frame width and height",
    )


class ReexamineClipArgs(_Args):
    """Look again at a time window densely: frames evenly spaced between start and end."""

    start: float = Field(description="window start in seconds")
    end: float = Field(description="window end in seconds (after start)")
    num_frames: int = Field(default=8, ge=2, le=16, description="frames to sample, 2 to 16")

    @field_validator("end")
    @classmethod
    def _end_after_start(cls, end: float, info: Any) -> float:
        start = info.data.get("start")
        if start is not None and end <= start:
            raise ValueError("end must be greater than start")
        return end


USAGE = {
    "select_frames": "select_frames(timestamps=[t1, t2, ...]) with 1-8 times in seconds",
    "zoom": "zoom(timestamp=t, box=[x0, y0, x1, y1]) with x0<x1, y0<y1, all within 0-1000",
    "reexamine_clip": "reexamine_clip(start=s, end=e, num_frames=n) with e > s and 2 <= n <= 16",
}


def _explain(tool: str, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        problems.append(f"{where}: {err['msg']}")
    return f"{tool}: invalid arguments ({'; '.join(problems)}). Call it as {USAGE[tool]}."


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


def _clamp_note(media: Media, requested: Sequence[float]) -> str:
    clamped = [t for t in requested if media.clamp_time(t) != t]
    if not clamped:
        return ""
    shown = ", ".join(f"{t:g}s" for t in clamped)
    if media.kind == "image":
        return f" Note: this is a still image; time(s) {shown} were clamped to 0s."
    return f" Note: time(s) {shown} are outside the video (0 to {media.last_time:.2f}s) and were clamped into it."


def _frames(media: Media, times: Sequence[float], limits: ToolLimits) -> list[ObservedImage]:
    frames = media.frames_at(times, limits.max_side)
    seen: set[int] = set()
    images = []
    for frame in frames:
        if frame.index in seen:
            continue
        seen.add(frame.index)
        images.append(ObservedImage(frame.image, frame_label(frame.timestamp), frame.timestamp))
    return images


def _guard(tool: str, arguments: dict[str, Any], run: Callable[[], Observation]) -> Observation:
    """Media failures during a tool call become an error observation, not an exception."""
    try:
        return run()
    except MediaError as exc:
        return Observation.error(tool, f"{tool}: the media could not be read ({exc.reason}).", arguments)


# ---- the tools ----------------------------------------------------------------------------------


def overview_times(media: Media, n: int) -> list[float]:
    """Centres of n equal segments of the video: the uniform sampling of a single-pass judge."""
    if media.kind == "image" or media.duration_s <= 0:
        return [0.0]
    step = media.duration_s / n
    return [media.clamp_time((i + 0.5) * step) for i in range(n)]


def overview(media: Media, n: int = 16, *, limits: ToolLimits = ToolLimits()) -> Observation:
    """n uniformly spaced frames (one for an image): what the judge sees before any tool call."""
    args = {"n": n}
    if n < 1:
        return Observation.error("overview", "overview: n must be at least 1.", args)

    def run() -> Observation:
        images = _frames(media, overview_times(media, n), limits)
        if media.kind == "image":
            text = f"The image ({media.width}x{media.height})."
        else:
            text = (
                f"{len(images)} frames sampled uniformly from a {media.duration_s:.2f}s video "
                f"({media.width}x{media.height}, {media.fps:.2f} fps)."
            )
        return Observation("overview", text, images, True, args)

    return _guard("overview", args, run)


def select_frames(media: Media, timestamps: Sequence[float], *, limits: ToolLimits = ToolLimits()) -> Observation:
    """The frames shown at the given times, each labelled `frame t=..s`."""
    raw = {"timestamps": list(timestamps) if isinstance(timestamps, (list, tuple)) else timestamps}
    try:
        args = SelectFramesArgs.model_validate(raw)
    except ValidationError as exc:
        return Observation.error("select_frames", _explain("select_frames", exc), raw)
    if len(args.timestamps) > limits.max_frames_per_call:
        return Observation.error(
            "select_frames",
            f"select_frames: at most {limits.max_frames_per_call} timestamps per call "
            f"(got {len(args.timestamps)}). Split the request or choose fewer times.",
            raw,
        )
    if not _finite(args.timestamps):
        return Observation.error(
            "select_frames",
            f"select_frames: timestamps must be finite numbers. Call it as {USAGE['select_frames']}.",
            raw,
        )

    def run() -> Observation:
        images = _frames(media, args.timestamps, limits)
        shown = ", ".join(f"{img.timestamp:.2f}s" for img in images)
        text = f"{len(images)} frame(s) at {shown}." + _clamp_note(media, args.timestamps)
        return Observation("select_frames", text, images, True, args.model_dump())

    return _guard("select_frames", raw, run)


def _box_problem(box: Sequence[float]) -> str | None:
    x0, y0, x1, y1 = box
    if not _finite(box):
        return "box values must be finite numbers"
    if min(box) < 0 or max(box) > BOX_SCALE:
        return f"box {list(box)} is outside the frame; every value must be within 0-1000"
    if x1 <= x0 or y1 <= y0:
        return f"box {list(box)} is empty; it needs x0 < x1 and y0 < y1"
    return None


def _upscale(crop: np.ndarray, limits: ToolLimits) -> np.ndarray:
    """Upscale so the short side is at least `zoom_min_side`, without the long side passing the cap."""
    import cv2  # noqa: PLC0415

    height, width = crop.shape[:2]
    scale = min(max(limits.zoom_min_side / min(height, width), 1.0), limits.max_side / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == (width, height):
        return crop
    return cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)


def crop_box(image: np.ndarray, box: Sequence[float]) -> np.ndarray:
    """The pixels inside a 0-1000 box of an image (rounded outward to whole pixels)."""
    height, width = image.shape[:2]
    x0 = math.floor(box[0] / BOX_SCALE * width)
    y0 = math.floor(box[1] / BOX_SCALE * height)
    x1 = math.ceil(box[2] / BOX_SCALE * width)
    y1 = math.ceil(box[3] / BOX_SCALE * height)
    return image[y0:y1, x0:x1]


def zoom(media: Media, timestamp: float, box: Sequence[float], *, limits: ToolLimits = ToolLimits()) -> Observation:
    """A region of the full-resolution frame at `timestamp`, upscaled, labelled with time and box."""
    raw = {"timestamp": timestamp, "box": list(box) if isinstance(box, (list, tuple)) else box}
    try:
        args = ZoomArgs.model_validate(raw)
    except ValidationError as exc:
        return Observation.error("zoom", _explain("zoom", exc), raw)
    problem = _box_problem(args.box) if math.isfinite(args.timestamp) else "timestamp must be a finite number"
    if problem:
        return Observation.error("zoom", f"zoom: {problem}. Call it as {USAGE['zoom']}.", raw)

    def run() -> Observation:
        frame = media.frames_at([args.timestamp], None)[0]
        crop = crop_box(frame.image, args.box)
        if min(crop.shape[:2]) < MIN_CROP_PX:
            return Observation.error(
                "zoom",
                f"zoom: box {args.box} covers under {MIN_CROP_PX} pixels of the "
                f"{media.width}x{media.height} frame; choose a larger box. Call it as {USAGE['zoom']}.",
                raw,
            )
        label = zoom_label(frame.timestamp, args.box)
        bx = (args.box[0], args.box[1], args.box[2], args.box[3])
        image = ObservedImage(_upscale(crop, limits), label, frame.timestamp, bx)
        text = (
            f"Zoomed into {box_text(args.box)} of the frame at {frame.timestamp:.2f}s "
            f"({crop.shape[1]}x{crop.shape[0]} source pixels shown at "
            f"{image.image.shape[1]}x{image.image.shape[0]})." + _clamp_note(media, [args.timestamp])
        )
        return Observation("zoom", text, [image], True, args.model_dump())

    return _guard("zoom", raw, run)


def clip_times(start: float, end: float, num_frames: int) -> list[float]:
    """num_frames times evenly spaced over [start, end], both ends included."""
    step = (end - start) / (num_frames - 1)
    return [start + i * step for i in range(num_frames)]


def reexamine_clip(
    media: Media, start: float, end: float, num_frames: int = 8, *, limits: ToolLimits = ToolLimits()
) -> Observation:
    """Frames evenly spaced over [start, end] (both included), each labelled with its time."""
    raw = {"start": start, "end": end, "num_frames": num_frames}
    try:
        args = ReexamineClipArgs.model_validate(raw)
    except ValidationError as exc:
        return Observation.error("reexamine_clip", _explain("reexamine_clip", exc), raw)
    if not _finite([args.start, args.end]):
        return Observation.error(
            "reexamine_clip",
            f"reexamine_clip: start and end must be finite numbers. Call it as {USAGE['reexamine_clip']}.",
            raw,
        )

    def run() -> Observation:
        lo, hi = media.clamp_time(args.start), media.clamp_time(args.end)
        images = _frames(media, clip_times(lo, hi, args.num_frames), limits)
        text = f"{len(images)} frame(s) evenly spaced over {lo:.2f}s-{hi:.2f}s."
        if len(images) < args.num_frames:
            text += f" (The window holds only {len(images)} distinct frame(s).)"
        text += _clamp_note(media, [args.start, args.end])
        return Observation("reexamine_clip", text, images, True, args.model_dump())

    return _guard("reexamine_clip", raw, run)


# ---- dispatch with per-judgment rules -----------------------------------------------------------

ARG_MODELS: dict[str, type[BaseModel]] = {
    "select_frames": SelectFramesArgs,
    "zoom": ZoomArgs,
    "reexamine_clip": ReexamineClipArgs,
}
VISUAL_TOOLS: dict[str, Callable[..., Observation]] = {
    "select_frames": select_frames,
    "zoom": zoom,
    "reexamine_clip": reexamine_clip,
}


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema without pydantic's titles (providers ignore or reject them)."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "title"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(model.model_json_schema())


def tool_description(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip()


class ToolBox:
    """The visual tools bound to one medium for one judgment: validates, refuses repeats, runs."""

    def __init__(self, media: Media, limits: ToolLimits = ToolLimits()) -> None:
        self.media = media
        self.limits = limits
        self._seen: dict[str, int] = {}

    @staticmethod
    def _key(name: str, arguments: dict[str, Any]) -> str:
        return name + json.dumps(arguments, sort_keys=True, default=str)

    def call(self, name: str, arguments: dict[str, Any], turn: int = 0) -> Observation:
        """Run a visual tool by name with the model's arguments; never raises for bad input."""
        return self.check(name, arguments, turn) or self.run(name, arguments)

    def run(self, name: str, arguments: dict[str, Any]) -> Observation:
        """Run a call that `check` accepted (its result depends only on the media, arguments and limits)."""
        return VISUAL_TOOLS[name](self.media, **arguments, limits=self.limits)

    def check(self, name: str, arguments: object, turn: int = 0) -> Observation | None:
        """The refusal of a call (unknown tool, repeat, wrong argument names), or None when it may run.
        Counts the call as made, so a second identical call is refused."""
        if name not in VISUAL_TOOLS:
            known = ", ".join([*VISUAL_TOOLS, "submit_verdict"])
            kept = arguments if isinstance(arguments, dict) else None  # the model may send any JSON
            return Observation.error(name, f"Unknown tool {name!r}. Available tools: {known}.", kept)
        if not isinstance(arguments, dict):
            return Observation.error(name, f"{name}: arguments must be a JSON object. Call it as {USAGE[name]}.")
        key = self._key(name, arguments)
        if key in self._seen:
            return Observation.error(
                name,
                f"{name}: you already made this exact call (turn {self._seen[key]}); its result is "
                "above. Ask for different times or regions, or submit your verdict.",
                arguments,
            )
        self._seen[key] = turn
        fields = ARG_MODELS[name].model_fields
        required = {n for n, f in fields.items() if f.is_required()}
        if set(arguments) - set(fields) or required - set(arguments):
            given = ", ".join(arguments) or "none"
            return Observation.error(
                name,
                f"{name}: unexpected or missing arguments (given: {given}; expected: "
                f"{', '.join(fields)}). Call it as {USAGE[name]}.",
                arguments,
            )
        return None
