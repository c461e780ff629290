"""Controls: conditions of a bench run that take the pixels away, to measure how much a judge's
accuracy depends on seeing the media (`bench --controls blind,shuffled`).

- `blind`: the same prompts with no media, a text-only judgment. The run's backend is wrapped in
  `BlindBackend`, which withholds every image and video: the first user message keeps its pair block
  but its note about the frames becomes `BLIND_NOTE` (so no duration or size leaks either; added
  where a protocol writes no such note), and in
  agentic mode every visual tool answers `no_media_text(tool)` as a tool error, so the judge can
  look, learns that there is nothing to see, and must still decide from the text. The graph itself
  runs unchanged (it still decodes the frames it would have shown); the record says what the model
  got: `images_sent` 0, no images saved, and a note of how many were withheld.
- `shuffled`: the sample's prompts with the media of another sample. The donor comes from
  `donors()`, a seeded derangement of the whole dataset (not of this run's selection), so it is the
  same across resumes, `--limit`, `--dims` and `--shard`, and it never hands a sample its own media
  file.

Nothing here picks a verdict: a control cell is judged by the run's judge like any other cell.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from vrb_agent.agents import prompts
from vrb_agent.benchmark.datasets import Sample
from vrb_agent.benchmark.records import ResultRecord
from vrb_agent.benchmark.wrapped import WrappedBackend
from vrb_agent.errors import InputError
from vrb_agent.judges.base import (
    ImagePart,
    Message,
    ModelReply,
    ModelRequest,
    Part,
    TextPart,
    ToolResult,
    VideoPart,
)
from vrb_agent.tools.visual import ARG_MODELS

Control = Literal["blind", "shuffled"]
CONTROLS: tuple[Control, ...] = ("blind", "shuffled")
BLIND_NOTE = "No media is available for this judgment: judge from the question and the two answers alone."
FORGOTTEN_PREFIX = prompts.forgotten_image_note("")[:-1]  # "[image no longer shown, ..." without the "]"


class ControlError(InputError):
    """A control cannot be formed for this dataset (the message says why and what to do)."""


def no_media_text(tool: str) -> str:
    """What a visual tool answers in a blind judgment."""
    return (
        f"{tool}: no media is available in this judgment (a blind control), so there is nothing to show. "
        "Decide from the question and the two answers."
    )


# ---- shuffled: the donor of each sample ---------------------------------------------------------


def _rank(seed: int, name: str) -> str:
    return hashlib.sha256(f"shuffle\0{seed}\0{name}".encode()).hexdigest()


def donors(samples: Sequence[Sample], seed: int) -> dict[str, Sample]:
    """Each usable sample's donor: a seeded derangement of the dataset by media file.

    Samples are grouped by media file, the groups put in a seeded order (keyed by their first sample
    id, which is stable across machines, unlike paths) and flattened; each sample takes the media of
    the sample `m` places further round the circle, `m` being the largest group. A group is
    contiguous and at most `m` long, so no sample gets its own media file, and every sample's media
    is lent exactly once. That needs `m` <= half the samples; otherwise no such derangement exists.
    """
    groups: dict[Path, list[Sample]] = defaultdict(list)
    for sample in samples:
        if sample.error is None:
            groups[sample.media].append(sample)
    ordered = sorted((sorted(g, key=lambda s: s.id) for g in groups.values()), key=lambda g: _rank(seed, g[0].id))
    circle = [s for group in ordered for s in group]
    shift = max((len(g) for g in ordered), default=0)
    if len(circle) < 2 * shift or not circle:
        raise ControlError(
            f"--controls shuffled: needs every media file to be shared by at most half of the samples "
            f"(the largest group has {shift} of {len(circle)} usable samples); drop the shuffled control "
            "or judge more media"
        )
    return {s.id: circle[(i + shift) % len(circle)] for i, s in enumerate(circle)}


# ---- blind: the backend that withholds the media ------------------------------------------------


def is_media_note(paragraph: str) -> bool:
    """Whether a paragraph is the judge graph's note on the media that follows (frames or a video)."""
    return paragraph.endswith(" The frames follow.") or paragraph.startswith("The video follows (")


def _blind_first_text(text: str) -> str:
    """The first user text with its media note (its last paragraph) replaced by BLIND_NOTE, or with
    BLIND_NOTE added where the protocol writes none (vlrb's single-pass prompt of an image)."""
    head, sep, last = text.rpartition("\n\n")
    return f"{head}{sep}{BLIND_NOTE}" if sep and is_media_note(last) else f"{text}\n\n{BLIND_NOTE}"


def _text_only(parts: Sequence[Part]) -> list[Part]:
    return [
        p
        for p in parts
        if not isinstance(p, ImagePart | VideoPart)
        and not (isinstance(p, TextPart) and p.text.startswith(FORGOTTEN_PREFIX))
    ]


def _blind_result(result: ToolResult) -> ToolResult:
    if result.name not in ARG_MODELS:  # submit_verdict's corrections carry no media: kept
        return result
    text = TextPart(text=no_media_text(result.name))
    return ToolResult(call_id=result.call_id, name=result.name, parts=[text], is_error=True)


def _blind_message(message: Message, first: bool) -> Message:
    parts = _text_only(message.parts)
    if first and parts and isinstance(parts[0], TextPart):
        parts = [TextPart(text=_blind_first_text(parts[0].text)), *parts[1:]]
    results = [_blind_result(r) for r in message.tool_results]
    return message.model_copy(update={"parts": parts, "tool_results": results})


def blind_request(request: ModelRequest) -> ModelRequest:
    """The request with every image and video withheld, as described in the module docstring."""
    first = next((i for i, m in enumerate(request.messages) if m.role == "user"), -1)
    messages = [_blind_message(m, i == first) for i, m in enumerate(request.messages)]
    return request.model_copy(update={"messages": messages})


class BlindBackend(WrappedBackend):
    """The run's backend behind a blind control: every request reaches it without media."""

    async def complete(self, request: ModelRequest) -> ModelReply:
        return await self.inner.complete(blind_request(request))

    async def aclose(self) -> None:
        """Nothing to close: one is made per blind cell, and the run closes the backend it wraps."""


def blind_record(record: ResultRecord) -> ResultRecord:
    """A blind cell's record as the model saw it: no image sent, none saved, and how many were withheld."""
    note = f"blind control: {record.images_sent} images the judge prepared were withheld from the model"
    update = {"images_sent": 0, "images": [], "shown": [], "notes": [*record.notes, note]}
    return record.model_copy(update=update)
