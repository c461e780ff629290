"""Tool observations with their images already encoded, shared by every judgment of the same media.

A tool's result depends only on the media file, the call's arguments, the tool limits and the
encoding (quality, max side), so two modes, k samples or two questions about one video that ask
for the same frames get the same images. Hashing and encoding those pixels again costs more CPU
than a judgment's whole LangGraph run, so the encoded result is kept in a process-wide LRU bounded
in bytes and copied into each judgment's own evidence store by reference.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from vrb_agent.judges.base import ImagePart
from vrb_agent.lru import LRU
from vrb_agent.tools.evidence import EvidenceImage, EvidenceStore
from vrb_agent.tools.media import Media
from vrb_agent.tools.visual import Observation, ToolLimits

CACHE_BYTES = 32 * 1024 * 1024

ObservationKey = tuple[str, str, str, ToolLimits, int, int]


@dataclass(frozen=True)
class SeenObservation:
    """What a tool call showed the judge: its text and the encoded images (pixels are not kept)."""

    tool: str
    text: str
    ok: bool
    images: tuple[EvidenceImage, ...] = ()

    @functools.cached_property
    def image_parts(self) -> tuple[ImagePart, ...]:
        """The images as message parts, built once (messages never modify their parts in place)."""
        return tuple(ImagePart(evidence_id=image.id, label=image.label) for image in self.images)

    @property
    def ids(self) -> list[str]:
        return [image.id for image in self.images]

    @property
    def timestamps(self) -> list[float]:
        return [image.timestamp for image in self.images if image.timestamp is not None]

    @property
    def box(self) -> list[float] | None:
        return list(self.images[0].box) if self.images and self.images[0].box else None

    @classmethod
    def refusal(cls, tool: str, text: str) -> SeenObservation:
        return cls(tool=tool, text=text, ok=False)


def _jpeg_bytes(seen: SeenObservation) -> int:
    return sum(len(image.jpeg) for image in seen.images)


class ObservationCache:
    """Thread-safe LRU of encoded observations, bounded by the bytes of their JPEGs. A call that is
    being computed is computed once: concurrent identical calls (the two modes of one sample start
    together) wait for it instead of decoding the same frames again."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: LRU[ObservationKey, SeenObservation] = LRU(max_weight=max_bytes, weigh=_jpeg_bytes)
        self._running: dict[ObservationKey, Future[SeenObservation]] = {}
        self._lock = threading.Lock()  # guards _running; the LRU has its own

    def get(self, key: ObservationKey) -> SeenObservation | None:
        return self._items.get(key)

    def compute(self, key: ObservationKey, run: Callable[[], SeenObservation]) -> SeenObservation:
        """The cached result, else the one being computed, else `run()` (blocking; call it from a
        worker thread). Successful results are kept."""
        with self._lock:
            seen = self._items.get(key)
            running = self._running.get(key)
            if seen is None and running is None:
                mine: Future[SeenObservation] = Future()
                self._running[key] = mine
        if seen is not None:
            return seen
        if running is not None:
            return running.result()
        try:
            seen = run()
        except BaseException as exc:
            mine.set_exception(exc)
            raise
        finally:
            with self._lock:
                self._running.pop(key, None)
        if seen.ok:
            self.put(key, seen)
        mine.set_result(seen)
        return seen

    def put(self, key: ObservationKey, seen: SeenObservation) -> None:
        """Keep `seen` unless it alone is over the bound (the LRU would keep one oversized entry)."""
        if key not in self._items and _jpeg_bytes(seen) <= self.max_bytes:
            self._items.put(key, seen)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()


OBSERVATIONS = ObservationCache(CACHE_BYTES)


def observation_key(
    media: Media, tool: str, arguments: dict[str, Any], limits: ToolLimits, store: EvidenceStore
) -> ObservationKey:
    """Everything a tool's result depends on; `media.key` names the file's path, size and mtime."""
    canonical = json.dumps(arguments, sort_keys=True, default=str)
    return (media.key, tool, canonical, limits, store.quality, store.max_side)


def cached(key: ObservationKey, store: EvidenceStore) -> SeenObservation | None:
    """A previous identical observation, its images added to `store`; None when not seen before."""
    seen = OBSERVATIONS.get(key)
    if seen is not None:
        for image in seen.images:
            store.add(image)
    return seen


def observe(key: ObservationKey, store: EvidenceStore, run: Callable[[], Observation]) -> SeenObservation:
    """Run a tool once for every judgment that asks for it at the same time (blocking: decodes and
    encodes) and put its images in `store`."""

    def encoded() -> SeenObservation:
        obs = run()
        ids = [store.put(i.image, i.label, timestamp=i.timestamp, box=i.box) for i in obs.images]
        return SeenObservation(tool=obs.tool, text=obs.text, ok=obs.ok, images=tuple(store.get(i) for i in ids))

    seen = OBSERVATIONS.compute(key, encoded)
    for image in seen.images:
        store.add(image)
    return seen
