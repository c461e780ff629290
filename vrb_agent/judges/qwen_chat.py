"""A neutral `ModelRequest` as Qwen chat messages plus the pixels the processor takes, and the
processor's image resize rules (what the context budget counts with)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vrb_agent.errors import VrbError
from vrb_agent.judges.base import (
    ConfigError,
    ImagePart,
    Message,
    ModelRequest,
    Part,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    VideoPart,
    resolve_image,
)
from vrb_agent.judges.budget import VisionRules

VIDEO_MAX_SIDE = 768  # clip frames are decoded at most this large; the processor's pixel cap applies after
# Qwen3-VL's processor expands a video into `<t seconds><|vision_start|>pads<|vision_end|>` per frame
# group. Given the template's wrapped slot, transformers 5.0 replaces the whole slot and later 5.x
# releases only the pad (an extra outer vision_start/end); a bare pad lays out the same on both.
QWEN3_VIDEO_SLOT = "<|vision_start|><|video_pad|><|vision_end|>"


@dataclass
class ChatInputs:
    """A request in the shape `apply_chat_template` and the processor want."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    images: list[Any] = field(default_factory=list)
    videos: list[np.ndarray] = field(default_factory=list)
    video_metadata: list[Any] = field(default_factory=list)


class ChatBuilder:
    """Translates the neutral message model into Qwen chat messages, collecting pixels in order.

    With `rules`, every image is resized to the size the processor's own resize gives it under
    the pixel cap `max_pixels` (so a lowered cap or raised minimum takes effect; the processor
    then leaves it as it is)."""

    def __init__(self, request: ModelRequest, rules: VisionRules | None = None, max_pixels: int | None = None) -> None:
        self.request = request
        self.rules = rules
        self.max_pixels = max_pixels
        self.out = ChatInputs(messages=[], tools=_tool_specs(request))

    def build(self) -> ChatInputs:
        if self.request.system:
            self.out.messages.append({"role": "system", "content": [{"type": "text", "text": self.request.system}]})
        for message in self.request.messages:
            self._add(message)
        return self.out

    def _add(self, message: Message) -> None:
        if message.role == "tool":
            for result in message.tool_results:
                self.out.messages.append({"role": "tool", "content": self._result_content(result)})
            return
        entry: dict[str, Any] = {"role": message.role, "content": self._content(message.parts)}
        if message.reasoning:  # thinking templates re-render it inside <think> between tool turns
            entry["reasoning_content"] = message.reasoning
        if message.tool_calls:
            entry["tool_calls"] = [_call_entry(call) for call in message.tool_calls]
        self.out.messages.append(entry)

    def _result_content(self, result: ToolResult) -> list[dict[str, Any]]:
        content = self._content(result.parts)
        if result.is_error:
            content.insert(0, {"type": "text", "text": f"error from {result.name}: "})
        return content or [{"type": "text", "text": "(no output)"}]

    def _content(self, parts: list[Part]) -> list[dict[str, Any]]:
        """Parts in order, one per line (as `Message.text` joins them)."""
        content: list[dict[str, Any]] = []
        for part in parts:
            if content:
                content.append({"type": "text", "text": "\n"})
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.extend(self._image(part))
            elif isinstance(part, VideoPart):
                content.extend(self._video(part))
        return content

    def _image(self, part: ImagePart) -> list[dict[str, Any]]:
        from PIL import Image  # noqa: PLC0415

        image, label = resolve_image(self.request, part)
        picture = Image.fromarray(image.to_array())
        if self.rules is not None:
            height, width = self.rules.resized(image.height, image.width, self.max_pixels)
            if (height, width) != (image.height, image.width):
                picture = picture.resize((width, height), Image.Resampling.BICUBIC)
        self.out.images.append(picture)
        return [{"type": "text", "text": f"{label}: " if label else ""}, {"type": "image"}]

    def _video(self, part: VideoPart) -> list[dict[str, Any]]:
        frames, metadata = clip_frames(part)
        self.out.videos.append(frames)
        self.out.video_metadata.append(metadata)
        label = part.label or f"clip {part.start:.2f}-{part.end:.2f}s at {part.fps:g} fps"
        return [{"type": "text", "text": f"{label}: "}, {"type": "video"}]


def clip_frames(part: VideoPart, max_side: int = VIDEO_MAX_SIDE) -> tuple[np.ndarray, Any]:
    """Frames of a clip and the metadata that gives the model their true times.

    Indices stay absolute (Qwen3-VL writes `<t seconds>` from them); `total_num_frames` is the
    clip's own length in source frames, so the sampled rate Qwen2.5-VL derives is the clip's.
    """
    from transformers.video_utils import VideoMetadata  # noqa: PLC0415

    from vrb_agent.tools.media import open_media  # noqa: PLC0415

    if part.end <= part.start or part.fps <= 0:
        raise VrbError(f"video part needs end > start and fps > 0 (got {part.start}-{part.end}s at {part.fps} fps)")
    media = open_media(part.media_path)
    count = max(2, round((part.end - part.start) * part.fps))
    count += count % 2  # Qwen merges frames in temporal pairs
    times = [part.start + i * (part.end - part.start) / count for i in range(count)]
    frames = media.frames_at(times, max_side=max_side)
    span = max(1, round((part.end - part.start) * media.fps))
    metadata = VideoMetadata(
        total_num_frames=span,
        fps=media.fps,
        width=frames[0].image.shape[1],
        height=frames[0].image.shape[0],
        duration=part.end - part.start,
        frames_indices=[f.index for f in frames],
    )
    return np.stack([f.image for f in frames]), metadata


def _tool_specs(request: ModelRequest) -> list[dict[str, Any]]:
    """Tools as the template wants them; tool_choice narrows them (a local model cannot be forced)."""
    tools: list[ToolSpec] = request.tools
    if request.tool_choice == "none":
        tools = []
    elif request.tool_choice not in ("auto", "required"):
        tools = [t for t in tools if t.name == request.tool_choice] or tools
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


def _call_entry(call: ToolCall) -> dict[str, Any]:
    return {"type": "function", "function": {"name": call.name or "unknown", "arguments": call.arguments}}


def vision_rules(processor: Any, min_pixels: int | None = None, max_pixels: int | None = None) -> VisionRules:
    """The image processor's resize rules, with the `min_pixels` / `max_pixels` options applied
    (the minimum may be raised; the maximum only lowered, since the processor clamps to its own)."""
    image = processor.image_processor
    size = getattr(image, "size", None) or {}
    own_min = int(size.get("shortest_edge") or getattr(image, "min_pixels", None) or 56 * 56)
    own_max = int(size.get("longest_edge") or getattr(image, "max_pixels", None) or 28 * 28 * 16384)
    for name, value in (("min_pixels", min_pixels), ("max_pixels", max_pixels)):
        if value is not None and value < 1:
            raise ConfigError(f"backend 'qwen': option {name}={value} must be a positive number of pixels")
    low = max(own_min, min_pixels or own_min)
    high = min(own_max, max_pixels or own_max)
    if low > high:
        raise ConfigError(f"backend 'qwen': min_pixels {low} is above max_pixels {high}")
    return VisionRules(
        patch_size=int(image.patch_size), merge_size=int(image.merge_size), min_pixels=low, max_pixels=high
    )
