"""The generator interface every backend implements."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from brandflow import registry
from brandflow.records import GeneratedImage, Job


@runtime_checkable
class Generator(Protocol):
    """An image generator backend.

    A backend is constructed once per worker process with the campaign's ``generator.options``
    and then called for many jobs (a GPU backend keeps its model resident between calls).
    """

    name: str

    def __init__(self, options: dict[str, Any]) -> None: ...

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """The size in pixels the backend renders for a ``width × height`` format (compose resizes)."""
        ...

    def generate(self, job: Job, out_path: Path) -> GeneratedImage:
        """Render ``job`` deterministically from ``job.seed`` and write an RGB PNG to ``out_path``."""
        ...


_instances: dict[tuple[str, str], Generator] = {}


def get_generator(backend: str, options: dict[str, Any]) -> Generator:
    """The process-wide instance of ``backend`` with ``options`` (built once, then reused).

    Raises:
        UnknownPluginError: no such backend is installed.
    """
    key = (backend, repr(sorted(options.items())))
    if key not in _instances:
        _instances[key] = registry.load("generator", backend)(options)
    return _instances[key]
