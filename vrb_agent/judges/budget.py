"""Context budgets of the Qwen-VL judges: visual tokens by the processor's own rules, and a request
shrunk to fit the model's context before it is sent.

A Qwen-VL image costs `(h / f) * (w / f)` tokens, where `h x w` is the size `smart_resize` gives it
(each side a multiple of `f = patch_size * merge_size`, the area clamped to [min_pixels,
max_pixels]). A 6-turn judgment keeping 48 images can need more tokens than a 7B model's context,
and the processor or the GPU then fails deep inside generation. `fit_to_context` plans before the
request instead: first a lower pixel cap for every image, then (oldest first) fewer images, each
replaced by a text note; what it changed is reported as notes. When even the text alone does not
fit, `ContextOverflowError` says so, naming the numbers and the flags to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from vrb_agent.judges.base import BackendError, ImagePart, Message, ModelRequest, TextPart

# The smallest pixel cap a shrink goes down to, in merged tokens per image: below ~64 tokens a
# video frame stops being legible.
FLOOR_TOKENS = 64


class ContextOverflowError(BackendError):
    """The request cannot be made to fit the model's context, even without images."""


@dataclass(frozen=True)
class VisionRules:
    """A Qwen-VL image processor's resize rules (from its preprocessor_config.json)."""

    patch_size: int
    merge_size: int = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 28 * 28 * 16384

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    def resized(self, height: int, width: int, max_pixels: int | None = None) -> tuple[int, int]:
        """`smart_resize` of the Qwen2-VL / Qwen3-VL processors (same rounding, clamping and the same
        refusal of slivers, as ValueError)."""
        if max(height, width) > 200 * min(height, width):
            raise ValueError(
                f"absolute aspect ratio must be smaller than 200, got {max(height, width) / min(height, width)}"
            )
        cap = self.max_pixels if max_pixels is None else max_pixels
        factor = self.factor
        h_bar = round(height / factor) * factor
        w_bar = round(width / factor) * factor
        if h_bar * w_bar > cap:
            beta = math.sqrt((height * width) / cap)
            h_bar = max(factor, math.floor(height / beta / factor) * factor)
            w_bar = max(factor, math.floor(width / beta / factor) * factor)
        elif h_bar * w_bar < self.min_pixels:
            beta = math.sqrt(self.min_pixels / (height * width))
            h_bar = math.ceil(height * beta / factor) * factor
            w_bar = math.ceil(width * beta / factor) * factor
        return h_bar, w_bar

    def image_tokens(self, height: int, width: int, max_pixels: int | None = None) -> int:
        """Merged visual tokens (`<|image_pad|>` count) of one image."""
        h_bar, w_bar = self.resized(height, width, max_pixels)
        return (h_bar // self.factor) * (w_bar // self.factor)


@dataclass
class Fit:
    """The request to send, the pixel cap to apply to its images, and what was changed."""

    request: ModelRequest
    max_pixels: int
    notes: list[str] = field(default_factory=list)


def image_sizes(request: ModelRequest) -> list[tuple[int, int]]:
    """(height, width) of every image of the request, in conversation order."""
    store = request.evidence_store() if request.image_count() else None
    sizes = []
    for part in _image_parts(request.messages):
        image = store.get(part.evidence_id)  # type: ignore[union-attr]
        sizes.append((image.height, image.width))
    return sizes


def _image_parts(messages: list[Message]) -> list[ImagePart]:
    parts: list[ImagePart] = []
    for message in messages:
        parts += [p for p in message.parts if isinstance(p, ImagePart)]
        for result in message.tool_results:
            parts += [p for p in result.parts if isinstance(p, ImagePart)]
    return parts


def fit_to_context(
    request: ModelRequest, rules: VisionRules, count_text: Callable[[ModelRequest], int], context: int, where: str
) -> Fit:
    """The request shrunk (pixel cap, then fewer images) so that its text, images and output budget
    fit `context` tokens. `count_text` gives a request's text tokens (images not included); it is
    asked again after images were left out, since their notes are text too. `where` names the
    context's source for messages (e.g. "config.json")."""
    text_tokens = count_text(request)
    fit = _plan(request, rules, text_tokens, context, where)
    for _ in range(4):  # the notes of left-out images may need a few more images to go
        grown = count_text(fit.request)
        if grown <= text_tokens:
            break
        text_tokens = grown
        fit = _plan(request, rules, text_tokens, context, where)
    return fit


def _plan(request: ModelRequest, rules: VisionRules, text_tokens: int, context: int, where: str) -> Fit:
    sizes = image_sizes(request)
    budget = context - request.max_output_tokens - text_tokens
    if budget < 0 or (budget == 0 and sizes):
        raise ContextOverflowError(
            f"the prompt's text needs about {text_tokens} tokens and --max-output-tokens reserves "
            f"{request.max_output_tokens}, more than the model's {context}-token context ({where}): lower "
            "--max-output-tokens, or shorten the question and responses"
        )
    if _visual_tokens(rules, sizes, rules.max_pixels) <= budget:
        return Fit(request, rules.max_pixels)
    floor = max(rules.min_pixels, FLOOR_TOKENS * rules.factor**2)
    if _visual_tokens(rules, sizes, floor) <= budget:
        cap = _largest_cap(rules, sizes, floor, budget)
        note = (
            f"{len(sizes)} images downscaled to at most {cap} pixels each ({_visual_tokens(rules, sizes, cap)} "
            f"visual tokens) to fit the model's {context}-token context ({where})"
        )
        return Fit(request, cap, [note])
    return _drop_images(request, rules, sizes, cap=floor, budget=budget, context=context, where=where)


def _visual_tokens(rules: VisionRules, sizes: list[tuple[int, int]], cap: int) -> int:
    return sum(rules.image_tokens(h, w, cap) for h, w in sizes)


def _largest_cap(rules: VisionRules, sizes: list[tuple[int, int]], low: int, budget: int) -> int:
    """The largest pixel cap in [low, rules.max_pixels] whose images fit `budget` (bisection)."""
    high = rules.max_pixels
    while high - low > rules.factor**2:
        middle = (low + high) // 2
        if _visual_tokens(rules, sizes, middle) <= budget:
            low = middle
        else:
            high = middle
    return low


def _drop_images(
    request: ModelRequest,
    rules: VisionRules,
    sizes: list[tuple[int, int]],
    *,
    cap: int,
    budget: int,
    context: int,
    where: str,
) -> Fit:
    """Leave out the oldest images (the latest message's last) at the floor cap until the rest fit."""
    costs = [rules.image_tokens(h, w, cap) for h, w in sizes]
    order = _drop_order(request.messages)
    dropped: set[int] = set()
    total = sum(costs)
    for index in order:
        if total <= budget:
            break
        dropped.add(index)
        total -= costs[index]
    messages = _without_images(request, dropped)
    note = (
        f"{len(dropped)} of {len(sizes)} images left out (oldest first) and the rest downscaled to at most "
        f"{cap} pixels to fit the model's {context}-token context ({where}); lower --frames or --max-images"
    )
    return Fit(request.model_copy(update={"messages": messages}), cap, [note])


def _drop_order(messages: list[Message]) -> list[int]:
    """Image indices (conversation order) in the order they may leave: all but the last message's
    images oldest first, then the last message's."""
    last: list[int] = []
    older: list[int] = []
    index = 0
    for position, message in enumerate(messages):
        count = sum(isinstance(p, ImagePart) for p in message.parts)
        count += sum(isinstance(p, ImagePart) for r in message.tool_results for p in r.parts)
        (last if position == len(messages) - 1 else older).extend(range(index, index + count))
        index += count
    return older + last


def _without_images(request: ModelRequest, dropped: set[int]) -> list[Message]:
    """Copies of the messages with the dropped images replaced by a note naming what they showed."""
    counter = iter(range(10**9))

    def keep_or_note(part: object) -> object:
        if not isinstance(part, ImagePart) or next(counter) not in dropped:
            return part
        label = part.label or request.evidence_store().get(part.evidence_id).label or "an image"
        return TextPart(text=f"[image left out to fit the model's context: {label}]")

    out: list[Message] = []
    for message in request.messages:
        copy = message.model_copy(deep=True)
        copy.parts = [keep_or_note(p) for p in copy.parts]  # type: ignore[misc]
        for result in copy.tool_results:
            result.parts = [keep_or_note(p) for p in result.parts]  # type: ignore[misc]
        out.append(copy)
    return out
