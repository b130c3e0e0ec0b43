"""Work done once per key across the job pool's threads, its results kept in a bounded LRU.

The pool's workers often start on one product's creatives together, and each asks for the same costly reading of
the same packshot (OCR: ~0.3–0.6 s of CPU). :class:`OncePerKey` lets the first thread compute it while the others
wait for that result, instead of each computing it again ("single flight"), and keeps results for later callers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from threading import Lock
from typing import Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class OncePerKey(Generic[V]):
    """A thread-safe memo: :meth:`get` computes a key's value at most once at a time and keeps the last ``maxsize``.

    A computation that raises keeps nothing: the next caller (or a thread that waited) computes again and gets its
    own error. Values are shared, not copied: callers must not modify them.
    """

    def __init__(self, maxsize: int) -> None:
        self._done: LRUCache = LRUCache(maxsize=maxsize)
        self._lock = Lock()
        self._flights: dict[Hashable, Lock] = {}

    def get(self, key: Hashable, compute: Callable[[], V]) -> tuple[V, bool]:
        """``(value, kept)``: the value kept for ``key`` (``kept`` True, also when it was computed by a thread this
        one waited for), else ``compute()``'s, then kept (``kept`` False)."""
        with self._lock:
            if key in self._done:
                return self._done[key], True
            flight = self._flights.setdefault(key, Lock())
        with flight:
            with self._lock:
                if key in self._done:
                    return self._done[key], True
            try:
                value = compute()
                with self._lock:  # kept before the flight ends, so a thread arriving now finds it
                    self._done[key] = value
            finally:
                with self._lock:
                    self._flights.pop(key, None)
        return value, False

    def clear(self) -> None:
        """Forget every kept value (tests; a new process starts with none)."""
        with self._lock:
            self._done.clear()


__all__ = ["OncePerKey"]
