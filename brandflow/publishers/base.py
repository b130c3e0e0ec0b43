"""The publisher interface and choosing a target from its URI (``file://``, ``s3://``, ``wagtail+https://`` …)."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlparse

from brandflow import registry
from brandflow.errors import BrandflowError
from brandflow.records import PublishedAsset

if TYPE_CHECKING:
    from brandflow.records import Job

OnConflict = Literal["skip", "overwrite", "version"]

#: Longest alt text :func:`labels_for` writes, characters (Wagtail's image ``description`` holds 255).
MAX_ALT_TEXT = 250
#: Longest human title :func:`labels_for` writes, characters (CMS titles are usually 255 at most, and a
#: publisher may append a suffix such as " (version 2)").
MAX_TITLE = 200


@dataclass(frozen=True)
class AssetLabels:
    """Human-readable labels of one creative, for targets that show them (a CMS image library).

    Attributes:
        title: e.g. ``"Apple Juice — square v0"`` (product title, format, variant as in the key).
        alt_text: a plain-language description of the image for screen readers, ≤ :data:`MAX_ALT_TEXT`
            characters, without hex colour codes.
    """

    title: str
    alt_text: str = ""


class UnsupportedFileError(BrandflowError):
    """The target cannot hold this kind of file (a CMS image library and ``manifest.json``); nothing was sent."""


class TargetUnavailableError(BrandflowError):
    """The target stayed unavailable through the publisher's own retries (throttling, 5xx, dropped
    connections); nothing is wrong with the file, so the flow's publish task retries later."""


class Publisher(Protocol):
    """A destination for finished creatives. Implementations are idempotent by content sha256:
    the same bytes at the same key are never written twice."""

    def publish(
        self, src: Path, key: str, sha256: str, metadata: dict[str, str], on_conflict: OnConflict,
        labels: AssetLabels | None = None,
    ) -> PublishedAsset:
        """Put the file ``src`` (content hash ``sha256``) at ``key``; returns where it is now.

        ``labels`` (optional; title and alt text) are used by targets that show them and ignored by the rest.
        """
        ...


def publisher_for(uri: str, **options: Any) -> Publisher:
    """The publisher for a target URI; the scheme picks the ``brandflow.publishers`` plugin (``name`` or
    ``name+transport``: ``wagtail+https`` → ``wagtail``, see :func:`brandflow.registry.publisher_name`).

    Args:
        uri: ``file:///dir``, a plain path, ``s3://bucket/prefix`` or ``wagtail+https://host/api/brandflow/v1/``.
        options: keyword options of that publisher (``PublishSpec.options_for(uri)``).

    Raises:
        UnknownPluginError: no publisher for that scheme is installed.
    """
    scheme = urlparse(uri).scheme or "file"
    return registry.load("publisher", registry.publisher_name(scheme))(uri, **options)


def publish_labelled(
    publisher: Publisher, src: Path, key: str, sha256: str, metadata: dict[str, str], on_conflict: OnConflict,
    labels: AssetLabels,
) -> PublishedAsset:
    """``publisher.publish(...)`` with ``labels`` passed only if its ``publish`` takes them, so a third-party
    publisher written before labels existed keeps working."""
    try:
        takes = "labels" in inspect.signature(publisher.publish).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins / C extensions without a signature
        takes = False
    if takes:
        return publisher.publish(src, key, sha256, metadata, on_conflict, labels=labels)
    return publisher.publish(src, key, sha256, metadata, on_conflict)


_HEX_NAMED = re.compile(r"\s*#[0-9A-Fa-f]{6}\s*\(([^()]*)\)")   # "#1A63EC (brand primary, Saleor blue)"
_HEX = re.compile(r"\s*#[0-9A-Fa-f]{6}\b")


def plain_text(text: str) -> str:
    """Prompt text made readable for people: ``"in #1A63EC (brand primary, Saleor blue)"`` → ``"in Saleor blue"``,
    other hex colour codes dropped, whitespace collapsed."""
    text = _HEX_NAMED.sub(lambda m: " " + m.group(1).split(",")[-1].strip(), text)
    return " ".join(_HEX.sub("", text).split())


def clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a word boundary, with ``…`` when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:—-") + "…"


def labels_for(job: Job) -> AssetLabels:
    """Title and alt text of a job's creative: the product title, format and variant (``v0`` as in the key);
    the alt text from the product title and the structured prompt's scene, in plain words."""
    title = clip(f"{job.product_title} — {job.format.name} v{job.variant}", MAX_TITLE)
    scene = plain_text(job.prompt.scene) or plain_text(job.prompt.subjects[0].description)
    alt = scene if job.product_title.lower() in scene.lower() else f"{job.product_title}: {scene}"
    return AssetLabels(title=title, alt_text=clip(alt, MAX_ALT_TEXT))
