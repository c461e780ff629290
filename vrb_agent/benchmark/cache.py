"""An on-disk response cache as a Backend wrapper, so a re-run of a benchmark costs no model calls.

The key is the full request as dumped by pydantic (messages, tools, sampling settings; image parts
are evidence ids, which are content hashes of the JPEG bytes sent) plus the backend name and model.
Keys, base URLs and other client options are never part of the key or of the stored entry.

At temperature > 0 identical requests are meant to give independent samples (K-sample voting), so
the n-th identical request of a process gets the n-th stored reply, and a new call when there is none.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from vrb_agent.benchmark.rundir import atomic_write
from vrb_agent.judges.base import Backend, Capabilities, ModelReply, ModelRequest


def request_key(backend: Backend, request: ModelRequest) -> str:
    """sha256 of the backend identity and the dumped request (ids, never pixels or secrets)."""
    payload = {"backend": backend.name, "model": backend.model, "request": request.model_dump(mode="json")}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


class CachedBackend(Backend):
    """Answers from `cache_dir` when the same request was answered before, else asks `inner` and stores
    the reply (atomic write, so a killed run never leaves a half-written entry)."""

    def __init__(self, inner: Backend, cache_dir: str | os.PathLike[str]) -> None:
        super().__init__(inner.model)
        self.inner = inner
        self.name = inner.name
        self.cache_dir = Path(cache_dir)
        self.hits = 0
        self.misses = 0
        self._seen: Counter[str] = Counter()
        self._locks: dict[str, asyncio.Lock] = {}

    def capabilities(self) -> Capabilities:
        return self.inner.capabilities()

    def describe(self) -> dict[str, Any]:
        return {**self.inner.describe(), "cache": str(self.cache_dir)}

    async def aclose(self) -> None:
        await self.inner.aclose()

    def _path(self, key: str, occurrence: int) -> Path:
        return self.cache_dir / key[:2] / f"{key}.{occurrence}.json"

    async def complete(self, request: ModelRequest) -> ModelReply:
        key = request_key(self.inner, request)
        occurrence = 0
        if request.temperature > 0:
            occurrence = self._seen[key]
            self._seen[key] += 1
        path = self._path(key, occurrence)
        lock = self._locks.setdefault(f"{key}.{occurrence}", asyncio.Lock())
        async with lock:  # concurrent identical requests make one call
            if path.is_file():
                try:
                    reply = ModelReply.model_validate_json(path.read_text(encoding="utf-8"))
                except ValueError:
                    reply = None  # a corrupt entry is replaced by a fresh call
                if reply is not None:
                    self.hits += 1
                    return reply
            reply = await self.inner.complete(request)
            self.misses += 1
            self._store(path, reply)
            return reply

    @staticmethod
    def _store(path: Path, reply: ModelReply) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, reply.model_dump_json())
