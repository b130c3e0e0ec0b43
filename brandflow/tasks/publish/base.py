"""The publisher interface and choosing a target from its URI (``file://``, later ``s3://`` …)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlparse

from brandflow import registry
from brandflow.records import PublishedAsset

OnConflict = Literal["skip", "overwrite", "version"]


class Publisher(Protocol):
    """A destination for finished creatives. Implementations are idempotent by content sha256:
    the same bytes at the same key are never written twice."""

    def publish(self, src: Path, key: str, sha256: str, metadata: dict[str, str], on_conflict: OnConflict) -> PublishedAsset:
        """Put the file ``src`` (content hash ``sha256``) at ``key``; returns where it is now."""
        ...


def publisher_for(uri: str, **options: Any) -> Publisher:
    """The publisher for a target URI; the scheme picks the ``brandflow.publishers`` plugin.

    Args:
        uri: ``file:///dir``, a plain path, or ``s3://bucket/prefix``.
        options: keyword options of that publisher (``PublishSpec.options_for(uri)``).

    Raises:
        UnknownPluginError: no publisher for that scheme is installed.
    """
    scheme = urlparse(uri).scheme or "file"
    return registry.load("publisher", scheme)(uri, **options)
