"""Work done once per key across the job pool's threads, its results kept in a bounded cache.

The pool's workers often start on one product's creatives together, and each asks for the same costly work on the
same packshot (a decode: 20–40 ms; an OCR reading: ~0.3–0.6 s of CPU). :class:`OncePerKey` lets the first thread do
it while the others wait for that result, instead of each doing it again ("single flight"), and keeps results for
later callers.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, MutableMapping
from threading import Event, Lock
from typing import Any, Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class _Flight:
    """One computation in progress: threads that ask for its key meanwhile wait on ``done``, then take ``value``
    when ``ok`` (a failed computation leaves ``ok`` False: each waiter then computes itself and gets its own error)."""

    __slots__ = ("done", "ok", "value")

    def __init__(self) -> None:
        self.done, self.ok, self.value = Event(), False, None


class OncePerKey(Generic[V]):
    """A thread-safe memo: :meth:`get` computes a key's value at most once at a time and keeps it in ``cache``.

    Args:
        maxsize: with no ``cache``, keep the last ``maxsize`` values (a ``cachetools.LRUCache``).
        cache: where values are kept, e.g. a ``cachetools.LRUCache`` bounded by bytes (``getsizeof``).
        keep: values for which it returns False are handed to the threads that waited for them, but not kept
            (a huge decode would evict everything else).

    A computation that raises keeps nothing. Values are shared, not copied: callers must not modify them.
    """

    def __init__(self, maxsize: int = 128, *, cache: MutableMapping[Hashable, Any] | None = None,
                 keep: Callable[[V], bool] | None = None) -> None:
        self._done: MutableMapping[Hashable, Any] = cache if cache is not None else LRUCache(maxsize=maxsize)
        self._keep = keep
        self._lock = Lock()
        self._flights: dict[Hashable, _Flight] = {}

    def get(self, key: Hashable, compute: Callable[[], V]) -> tuple[V, bool]:
        """``(value, kept)``: the value kept for ``key`` or computed by a thread this one waited for (``kept``
        True), else ``compute()``'s, then kept (``kept`` False)."""
        with self._lock:
            if key in self._done:
                return self._done[key], True
            flight = self._flights.get(key)
            first = flight is None
            if first:
                flight = self._flights[key] = _Flight()
        if not first:
            flight.done.wait()
            if flight.ok:
                return flight.value, True
            return compute(), False  # the first computation failed: this thread's own attempt, its own error
        try:
            value = compute()
            flight.value, flight.ok = value, True
            self.offer(key, value, evict=True)
            return value, False
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()

    def offer(self, key: Hashable, value: V, evict: bool = False) -> None:
        """Keep ``value`` for ``key`` without computing it (it came from elsewhere), unless ``keep`` refuses it; with
        ``evict=False`` only when a bounded ``cachetools`` cache has room for it without evicting anything."""
        if self._keep is not None and not self._keep(value):
            return
        with self._lock:
            if not evict and isinstance(self._done, LRUCache):
                if self._done.currsize + self._done.getsizeof(value) > self._done.maxsize:
                    return
            self._done[key] = value

    def clear(self) -> None:
        """Forget every kept value (tests; a new process starts with none)."""
        with self._lock:
            self._done.clear()


__all__ = ["OncePerKey"]
