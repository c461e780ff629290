"""The one shared LRU: bounds by count and by weight, recency on get, eviction order, None values."""

import threading

from vrb_agent.lru import LRU


def test_count_bound_drops_least_recent_and_get_refreshes():
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "b" is now the oldest
    assert lru.put("c", 3) == [("b", 2)]
    assert "b" not in lru and lru.get("a") == 1 and lru.get("c") == 3
    assert len(lru) == 2


def test_weight_bound_keeps_a_single_oversized_entry():
    lru: LRU[str, bytes] = LRU(max_weight=10, weigh=len)
    lru.put("a", b"12345")
    lru.put("b", b"12345")
    assert lru.weight == 10
    dropped = lru.put("big", b"x" * 50)
    assert [key for key, _ in dropped] == ["a", "b"]
    assert lru.get("big") == b"x" * 50 and lru.weight == 50


def test_replacing_a_key_updates_its_weight():
    lru: LRU[str, bytes] = LRU(max_weight=100, weigh=len)
    lru.put("a", b"1234")
    lru.put("a", b"12")
    assert lru.weight == 2 and len(lru) == 1
    lru.discard("a")
    assert lru.weight == 0 and len(lru) == 0


def test_none_is_a_value_distinct_from_absent():
    lru: LRU[str, int | None] = LRU(4)
    missing = object()
    lru.put("nothing", None)
    assert lru.get("nothing", missing) is None
    assert lru.get("other", missing) is missing
    assert (lru.hits, lru.misses) == (1, 1)


def test_popoldest_and_clear():
    lru: LRU[int, int] = LRU(10)
    for i in range(3):
        lru.put(i, i)
    assert lru.popoldest() == (0, 0)
    lru.clear()
    assert lru.popoldest() is None and lru.weight == 0


def test_concurrent_puts_stay_in_bounds():
    lru: LRU[int, int] = LRU(50)

    def fill(start: int) -> None:
        for i in range(start, start + 2000):
            lru.put(i, i)
            lru.get(i - 1)

    threads = [threading.Thread(target=fill, args=(n * 10_000,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(lru) == 50 and lru.weight == 50
