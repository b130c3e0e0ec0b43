"""The QA check interface, the context a check sees, and running a set of checks on one image."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from brandflow import registry
from brandflow.records import CheckResult, PlacedImage, QAResult, TextRegion
from brandflow.spec import BrandKit, FormatSpec, QASpec


@dataclass(frozen=True)
class CheckContext:
    """Everything a check may hold an image against.

    Attributes:
        path: the image file (format check reads its bytes and container type).
        brand: the brand kit (colours, forbidden words).
        thresholds: the campaign's QA spec (thresholds per check).
        format: the channel format the image must match, or ``None`` (``brandflow qa`` on any image).
        regions: where exact text was drawn (compose records them); OCR reads these crops.
        expected_text: strings that must be readable anywhere when no region is known.
        references: reference packshots (RGBA PNG paths) for the identity check.
        moderation: the generating service's own moderation verdict of this image (``Creative.moderation``), or ``None``.
        lang: Tesseract languages OCR reads the text with (``'eng'``, ``'ara+eng'``; from the job's locale,
            :func:`brandflow.locales.tesseract_lang`).
        placed: the inputs pasted into the image and their boxes (``Creative.placed``); with ``regions`` every source
            of letters, so text QA reads each source once per run instead of the whole image. ``None`` = unknown
            (a model drew the pixels; ``brandflow qa`` on any file): the whole image is read.
        placed_is_own: ``placed`` was recorded by this run's compose (``True``), or taken from a record found beside
            the file (``False``: ``brandflow qa``). A record is a file anyone can write, so text QA then still reads
            the whole image for forbidden words rather than trusting each pasted source's kept reading; identity uses
            a recorded placement either way, since the pixels there must still agree with the packshot.
        palette: ``'#RRGGBB'`` sRGB colours the creative's structured prompt asked for (``color_palette``: brand
            colours first, then a template's own, e.g. autumn's rust), or ``()`` when unknown. The colour check
            counts them as on-palette besides the brand kit's; they are never required.
        cache_dir: a folder where checks keep per-source results across processes, named by content sha256 (the
            user's shared cache or the run's ``work/qa-sources``: ``pipeline.stages.readings_dir``), or ``None``.
    """

    path: Path
    brand: BrandKit
    thresholds: QASpec = field(default_factory=QASpec)
    format: FormatSpec | None = None
    regions: tuple[TextRegion, ...] = ()
    expected_text: tuple[str, ...] = ()
    references: tuple[Path, ...] = ()
    moderation: dict[str, Any] | None = None
    lang: str = "eng"
    placed: tuple[PlacedImage, ...] | None = None
    placed_is_own: bool = True
    palette: tuple[str, ...] = ()
    cache_dir: Path | None = None


@runtime_checkable
class Check(Protocol):
    """A QA check: a pure function of the pixels and the context → numbers, thresholds, verdict."""

    name: str

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        """Check ``image``, an ``(H, W, 3) uint8 sRGB`` array decoded from ``ctx.path``."""
        ...


_checks: dict[str, Check] = {}


def get_check(name: str) -> Check:
    """The process-wide instance of check ``name`` (from the ``brandflow.checks`` registry)."""
    if name not in _checks:
        _checks[name] = registry.load("check", name)()
    return _checks[name]


def run_checks(image: np.ndarray, ctx: CheckContext, names: list[str]) -> QAResult:
    """Run the named checks on one ``(H, W, 3) uint8 sRGB`` image; a crashing check becomes a 'fail'.

    A check that raises never sinks the run: its result is ``fail`` with the exception as reason.
    """
    results = []
    for name in names:
        t0 = time.perf_counter()
        try:
            res = get_check(name).run(image, ctx)
        except Exception as e:  # noqa: BLE001 — a broken check is a QA finding, not a crash
            res = CheckResult(check=name, verdict="fail", reasons=[f"check crashed: {type(e).__name__}: {e}"])
        results.append(res.model_copy(update={"seconds": round(time.perf_counter() - t0, 4)}))
    return QAResult.combine(results)
