"""brandflow.once.OncePerKey: one computation per key however many threads ask; errors keep nothing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from brandflow.once import OncePerKey


def test_threads_asking_for_one_key_compute_it_once_and_share_the_value():
    memo: OncePerKey[list[int]] = OncePerKey(maxsize=4)
    calls, started = [], threading.Event()

    def slow():
        calls.append(1)
        started.set()
        time.sleep(0.2)  # long enough for every other thread to arrive while it runs
        return [42]

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda _: memo.get("k", slow), range(6)))
    assert len(calls) == 1
    assert all(value is got[0][0] for value, _ in got)
    assert sorted(kept for _, kept in got) == [False] + [True] * 5


def test_a_failed_computation_keeps_nothing_and_the_lru_is_bounded():
    memo: OncePerKey[int] = OncePerKey(maxsize=2)
    with pytest.raises(ValueError):
        memo.get("bad", lambda: (_ for _ in ()).throw(ValueError("unreadable")))
    assert memo.get("bad", lambda: 1) == (1, False)
    for k in "abc":
        memo.get(k, lambda k=k: ord(k))
    assert memo.get("a", lambda: -1) == (-1, False)  # evicted: only the last two are kept
    assert memo.get("c", lambda: -1) == (ord("c"), True)
    memo.clear()
    assert memo.get("c", lambda: -1) == (-1, False)


def test_a_value_not_kept_still_reaches_the_threads_that_waited_and_offers_only_fill_free_room():
    from cachetools import LRUCache

    cache = LRUCache(maxsize=10, getsizeof=len)
    memo: OncePerKey[str] = OncePerKey(cache=cache, keep=lambda v: len(v) <= 4)
    calls = []

    def huge():
        calls.append(1)
        time.sleep(0.2)
        return "x" * 8  # over keep's limit: handed on, not kept

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: memo.get("big", huge), range(4)))
    assert len(calls) == 1 and all(v is got[0][0] for v, _ in got) and "big" not in cache
    memo.offer("a", "aaaa")
    memo.offer("b", "bbbb")
    memo.offer("c", "cccc")  # no room left for 4 more: not kept, nothing evicted
    assert sorted(cache) == ["a", "b"]
    memo.offer("c", "cccc", evict=True)
    assert sorted(cache) == ["b", "c"]
