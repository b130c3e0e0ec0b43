"""Progress events from a running flow to whoever shows them (the CLI's rich bar), in-process."""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[str, int, int], None]  # (stage, done, total)
_listeners: list[Listener] = []


def subscribe(listener: Listener) -> Callable[[], None]:
    """Call ``listener(stage, done, total)`` on every progress event; returns the unsubscribe function."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def emit(stage: str, done: int, total: int) -> None:
    """Tell every listener that ``done`` of ``total`` units of ``stage`` are finished."""
    for listener in list(_listeners):
        listener(stage, done, total)


def status(stage: str) -> None:
    """Tell every listener that ``stage`` has started and has no count (``done = total = 0``)."""
    emit(stage, 0, 0)


class Counter:
    """A thread-safe count of finished units of one stage that :func:`emit`\\ s on every step (worker threads
    of a batch advance it; the CLI's bar follows each creative while the Prefect artifact is updated rarely)."""

    def __init__(self, stage: str, total: int, done: int = 0) -> None:
        self.stage, self.total, self.done = stage, total, done
        self._lock = threading.Lock()
        if done:
            emit(stage, done, total)

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more finished units and tell the listeners."""
        with self._lock:
            self.done += n
            done = self.done
        emit(self.stage, done, self.total)
