"""What the judge's nodes share but its state must not hold: the run context of a judgment.

LangGraph passes it to every node as `runtime.context` (`StateGraph(..., context_schema=JudgeContext)`,
`graph.astream(..., context=JudgeContext.create(backend, config))`). It holds the backend, the
configuration, the evidence store (images, so that state and checkpoints hold ids only), the media,
and per-run bookkeeping: opened media, one ToolBox per presentation (repeat detection is per
conversation) and the latest state of each presentation (what a deadline reports).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from vrb_agent.agents.observations import SeenObservation, cached, observation_key, observe
from vrb_agent.agents.types import JudgeConfig, Judgment
from vrb_agent.judges.base import Backend, Capabilities
from vrb_agent.lru import LRU
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, open_media
from vrb_agent.tools.visual import ToolBox, ToolLimits

if TYPE_CHECKING:
    from vrb_agent.agents.turns import Presentation

MEDIA_CACHE_SIZE = 8
# Runs whose bookkeeping a context keeps at once. A finished run releases its own; a run that never
# finishes (it raised, or its caller cancelled it) is forgotten once this many newer runs came, so a
# context bound to a long-lived graph stays bounded however many runs it serves.
MAX_RUNS = 256


@dataclass
class RunBook:
    """One run's bookkeeping: a ToolBox per presentation and each presentation's latest state."""

    toolboxes: dict[int, ToolBox] = field(default_factory=dict)
    live: dict[int, tuple[Presentation, dict[str, Any] | None]] = field(default_factory=dict)


@dataclass
class JudgeContext:
    """The run-scoped dependencies of a judgment (backend, config, evidence store, media)."""

    backend: Backend
    config: JudgeConfig
    store: EvidenceStore
    media: Media | None = None
    show_images: bool = False
    finished: Judgment | None = None
    writer: Callable[[Any], None] = field(default=lambda _: None, repr=False)
    _opened: LRU[str, Media] = field(default_factory=lambda: LRU(MEDIA_CACHE_SIZE))
    _runs: LRU[str, RunBook] = field(default_factory=lambda: LRU(MAX_RUNS))

    @classmethod
    def create(
        cls,
        backend: Backend,
        config: JudgeConfig | None = None,
        *,
        store: EvidenceStore | None = None,
        media: Media | None = None,
        show_images: bool = False,
    ) -> JudgeContext:
        """`show_images` adds each image as a JPEG data URL to the stream events (for Studio)."""
        cfg = config or JudgeConfig()
        evidence = store if store is not None else EvidenceStore(cfg.jpeg_quality, cfg.max_side)
        return cls(backend=backend, config=cfg, store=evidence, media=media, show_images=show_images)

    def streaming_to(self, writer: Callable[[Any], None]) -> JudgeContext:
        """This context with the stream writer of the run it serves: the presentation subgraph runs
        inside a node, and its events go to that run's stream (sharing this context's caches)."""
        return dataclasses.replace(self, writer=writer)

    def emit(self, event: dict[str, Any]) -> None:
        """A custom stream event (`stream_mode="custom"`) of the run; a no-op when nobody listens."""
        self.writer(event)

    @property
    def limits(self) -> ToolLimits:
        return ToolLimits(max_side=self.config.max_side, max_frames_per_call=self.config.max_frames_per_call)

    @functools.cached_property
    def caps(self) -> Capabilities:
        """The backend's capabilities, read once per context (some backends build them per call)."""
        return self.backend.capabilities()

    @property
    def native_video(self) -> bool:
        return self.caps.native_video

    def opened(self, path: str) -> Media | None:
        """The media for a path if already open: the caller's own `Media` or one opened before."""
        if self.media is not None and str(self.media.path) == path:
            return self.media
        return self._opened.get(path)

    def media_for(self, path: str) -> Media:
        """The opened media for a path, opened once (blocking: probes the file)."""
        known = self.opened(path)
        if known is not None:
            return known
        opened = open_media(path)
        self._opened.put(path, opened)
        return opened

    def _book(self, run_id: str) -> RunBook:
        book = self._runs.get(run_id)
        if book is None:
            book = RunBook()
            self._runs.put(run_id, book)
        return book

    def toolbox(self, run_id: str, path: str, index: int) -> ToolBox:
        """One ToolBox per presentation, so repeat detection is per conversation."""
        toolboxes = self._book(run_id).toolboxes
        if index not in toolboxes:
            toolboxes[index] = ToolBox(self.opened(path) or self.media_for(path), self.limits)
        return toolboxes[index]

    def track(self, state: Presentation, update: dict[str, Any] | None = None) -> None:
        """Remember a presentation's latest state (`state` with a node's `update` still to apply): a
        deadline reports the samples still in flight as they were. Merged only when read (rarely),
        not on every step."""
        self._book(state["run_id"]).live[state["index"]] = (state, update)

    def tracked(self) -> list[Presentation]:
        """Every presentation this context has seen, in sample order (for a run that was cut off)."""
        states = (_applied(s, u) for book in self._runs.values() for s, u in book.live.values())
        return sorted(states, key=lambda s: s["index"])

    def release(self, run_id: str) -> None:
        """Forget a finished run's toolboxes and tracked states (a bound context serves many runs)."""
        self._runs.discard(run_id)

    async def observe(
        self, media: Media, tool: str, arguments: dict[str, Any], run: Callable[[], Any]
    ) -> SeenObservation:
        """A tool's result with its images in the store: reused when the same call on the same
        media was seen before (no decoding, hashing or encoding), else run in a worker thread."""
        key = observation_key(media, tool, arguments, self.limits, self.store)
        seen = cached(key, self.store)
        if seen is None:
            seen = await asyncio.to_thread(observe, key, self.store, run)
        return seen

    def image_urls(self, ids: list[str]) -> dict[str, Any]:
        """The event field that lets a viewer show the images (data URLs), when `show_images` is on."""
        return {"image_urls": [self.store.get(i).data_url for i in ids]} if self.show_images else {}


def _applied(state: Presentation, update: dict[str, Any] | None) -> Presentation:
    """`state` after a node's `update`, with the reducers of the presentation state (messages and
    evidence are appended, every other key replaced)."""
    if not update:
        return state
    appended = {"messages": state["messages"] + update.get("messages", []),
                "evidence": state["evidence"] + update.get("evidence", [])}  # fmt: skip
    return cast("Presentation", {**state, **update, **appended})
