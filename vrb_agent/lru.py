"""One least-recently-used map for every bounded cache in vrb-agent (frames, JPEGs, observations,
opened media, thought signatures, ...), so eviction and its locking are written once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, overload

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
D = TypeVar("D")


def _one(_: object) -> int:
    return 1


class LRU(Generic[K, V]):
    """A thread-safe map that drops its least recently used entries once it holds more than
    `max_items` entries or more than `max_weight` in total (`weigh(value)`, e.g. bytes). The entry
    just put is never dropped, so one oversized value is kept alone rather than lost at once."""

    def __init__(
        self,
        max_items: int | None = None,
        *,
        max_weight: int | None = None,
        weigh: Callable[[V], int] = _one,
    ) -> None:
        self.max_items = max_items
        self.max_weight = max_weight
        self._weigh = weigh
        self._items: OrderedDict[K, V] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @overload
    def get(self, key: K) -> V | None: ...
    @overload
    def get(self, key: K, default: D) -> V | D: ...
    def get(self, key: K, default: object = None) -> object:
        """The value for `key` (now the most recent), else `default`."""
        with self._lock:
            if key not in self._items:
                self.misses += 1
                return default
            self._items.move_to_end(key)
            self.hits += 1
            return self._items[key]

    def put(self, key: K, value: V) -> list[tuple[K, V]]:
        """Store `value` as the most recent entry; returns the entries dropped to stay in bounds
        (the caller closes them when they hold resources)."""
        with self._lock:
            if key in self._items:
                self._weight -= self._weigh(self._items.pop(key))
            self._items[key] = value
            self._weight += self._weigh(value)
            return self._evict()

    def _evict(self) -> list[tuple[K, V]]:
        dropped: list[tuple[K, V]] = []
        while len(self._items) > 1 and self._over():
            key, value = self._items.popitem(last=False)
            self._weight -= self._weigh(value)
            dropped.append((key, value))
        return dropped

    def _over(self) -> bool:
        too_many = self.max_items is not None and len(self._items) > self.max_items
        too_heavy = self.max_weight is not None and self._weight > self.max_weight
        return too_many or too_heavy

    def discard(self, key: K) -> None:
        """Remove `key` if present."""
        with self._lock:
            if key in self._items:
                self._weight -= self._weigh(self._items.pop(key))

    def popoldest(self) -> tuple[K, V] | None:
        """Remove and return the least recently used entry, or None when empty."""
        with self._lock:
            if not self._items:
                return None
            key, value = self._items.popitem(last=False)
            self._weight -= self._weigh(value)
            return key, value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._weight = 0

    @property
    def weight(self) -> int:
        """The total weight held (the number of entries with the default `weigh`)."""
        return self._weight

    def values(self) -> list[V]:
        """A snapshot of the values, least recently used first (it does not refresh them)."""
        with self._lock:
            return list(self._items.values())

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)
