"""Shards: one benchmark split over N machines.

`bench --shard I/N` judges the samples whose id hashes to shard I of N. The hash is of the id alone
(sha256), so the split is the same on every machine, in every run and whatever the dataset order;
each shard is a normal, resumable RUN_DIR whose identity includes the shard (see `merge` for
putting the shards' results back together).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """`"2/8"` -> Shard(2, 8); anything else is a ValueError that says what is expected."""
        match = _SHARD.match(text)
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise ValueError(f"shard {text!r} is not I/N with 1 <= I <= N (e.g. 1/4)")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, sample_id: str) -> bool:
        return shard_index(sample_id, self.count) == self.index


def shard_index(sample_id: str, count: int) -> int:
    """The shard (1..count) a sample belongs to: a hash of its id only, the same on every machine."""
    digest = hashlib.sha256(f"shard\0{sample_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count + 1
