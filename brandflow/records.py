"""The records that flow between stages. Small, JSON-serialisable, never pixels.

Stages pass paths and sha256 content hashes, so Prefect task results and the manifest stay
small (DESIGN.md: never pass image bytes through task results or cache keys).
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from brandflow.spec import HEX_RE, FormatSpec

Verdict = Literal["pass", "warn", "fail"]
VERDICT_ORDER: dict[str, int] = {"pass": 0, "warn": 1, "fail": 2}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file_cached(path: str | Path) -> str:
    """:func:`sha256_file`, remembered per process by the file's resolved path, size and modification time (ns), so
    a file asked for again is stat-ed, not read, and a file rewritten is hashed again.

    Raises:
        OSError: the file cannot be stat-ed or read.
    """
    st = Path(path).stat()
    return _sha256_by_stat(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_by_stat(path: str, size: int, mtime_ns: int) -> str:  # size and mtime key the memo only
    return sha256_file(path)


# --------------------------------------------------------------------------- catalogue
class Money(_Record):
    """A price: exact decimal amount and ISO 4217 currency code."""

    amount: Decimal
    currency: str = Field(pattern=r"^[A-Z]{3}$")

    @property
    def display(self) -> str:
        """Human price string, e.g. ``'$10.00'`` or ``'10.00 CHF'``."""
        symbol = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}.get(self.currency)
        q = f"{self.amount:.2f}" if self.currency != "JPY" else f"{self.amount:.0f}"
        return f"{symbol}{q}" if symbol else f"{q} {self.currency}"


class Product(_Record):
    """One product of the feed, cleaned: plain text (no HTML), parsed price, absolute image paths.

    ``images[0]`` is the primary packshot; the rest are additional views.
    """

    id: str
    title: str
    description: str = ""
    product_type: str = ""
    price: Money | None = None
    images: list[Path] = Field(min_length=1)
    row: int = Field(description="1-based data row number in the feed (header excluded)")


class Rejection(_Record):
    """A feed row that could not become a product: where, which field, and why."""

    source: str
    row: int
    product_id: str | None = None
    field: str | None = None
    reason: str
    locale: str | None = Field(default=None, description="the market this row was rejected for; None = every market")


# --------------------------------------------------------------------------- prompts
class Subject(_Record):
    description: str
    position: str = ""
    action: str = ""


class Camera(_Record):
    angle: str = ""
    lens: str = ""
    depth_of_field: str = ""


class StructuredPrompt(_Record):
    """A FLUX.2 JSON structured prompt (Black Forest Labs' prompting guide field names).

    ``color_palette`` holds ``'#RRGGBB'`` sRGB hex strings, brand colours first.
    """

    scene: str
    subjects: list[Subject] = Field(min_length=1)
    style: str = ""
    color_palette: list[str] = []
    lighting: str = ""
    mood: str = ""
    background: str = ""
    composition: str = ""
    camera: Camera = Camera()

    @field_validator("color_palette")
    @classmethod
    def _hexes(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not HEX_RE.match(c)]
        if bad:
            raise ValueError(f"color_palette entries must be '#RRGGBB'; got {bad}")
        return [c.upper() for c in v]

    def to_json(self) -> str:
        """Minified JSON, the form sent to a model (token budget: DESIGN.md, 512 tokens)."""
        return json.dumps(self.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


class ReferenceImage(_Record):
    """A reference image handed to the generator; ``role`` orders them (primary packshot first)."""

    path: Path
    role: Literal["primary_packshot", "alternate_view", "logo", "style"]
    sha256: str


# --------------------------------------------------------------------------- jobs
class Job(_Record):
    """One creative to make: product × format × variant, with its seed and rendered inputs.

    ``attempt`` counts from 1; a QA failure re-plans the job with the next seed.
    """

    campaign: str
    product_id: str
    product_title: str
    format: FormatSpec
    variant: int = Field(ge=0)
    seed: int = Field(ge=0)
    attempt: int = Field(default=1, ge=1)
    backend: str
    prompt: StructuredPrompt
    references: list[ReferenceImage] = Field(min_length=1)
    overlay: dict[str, str] = Field(default_factory=dict, description="slot → exact text, e.g. headline/price/cta")
    locale: str | None = Field(default=None, description="the job's BCP 47 market: CLDR prices, shaping, hyphenation, OCR language")
    notes: list[str] = Field(default_factory=list, description="what a reviewer should know from planning, e.g. a market "
                             "string that fell back to the campaign's")

    @property
    def job_id(self) -> str:
        """Stable, human-readable id: ``product/format/vN``, ``locale/product/format/vN`` for a job of a market."""
        base = f"{self.product_id}/{self.format.name}/v{self.variant}"
        return f"{self.locale}/{base}" if self.locale else base

    def content_key(self, *extra: Any) -> str:
        """sha256 of everything that determines the pixels: prompt, seed, backend, references, size, overlay."""
        payload = {
            "prompt": self.prompt.model_dump(mode="json"),
            "seed": self.seed,
            "backend": self.backend,
            "refs": [r.sha256 for r in self.references],
            "format": self.format.model_dump(mode="json"),
            "overlay": self.overlay,
            "extra": [str(e) for e in extra],
        }
        if self.locale:  # shaping, hyphenation and the OCR language follow it (absent: the keys of locale-less jobs stay as they were)
            payload["locale"] = self.locale
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Box(_Record):
    """A pixel rectangle ``[x0, y0, x1, y1)`` in image coordinates (origin top-left)."""

    x0: int
    y0: int
    x1: int
    y1: int


class TextPart(_Record):
    """A piece of a region's text set in one direction, with its ink box (image pixels), recorded when a line mixes
    directions (a price ``129.00 ر.س.``, a Latin brand name in an Arabic title): text QA reads the pieces in the
    other direction alone — Tesseract's Arabic model drops the Western digits of a right-to-left line (it read
    ``129.00 ر.س.`` as ``0 رر.س.``; the digits alone, exactly)."""

    text: str
    box: Box


class TextRegion(_Record):
    """Where compose drew an exact text: the box, the colours (sRGB hex) and their WCAG contrast ratio."""

    slot: str
    text: str
    box: Box
    fg: str
    bg: str
    contrast: float = Field(description="WCAG 2.x contrast ratio, 1–21")
    font_px: int
    fonts: list[str] = Field(default_factory=list, description="font files the text was drawn with (fallback chain, in "
                             "order); text QA checks their coverage (tofu). Empty = unknown")
    parts: list[TextPart] = Field(default_factory=list, description="the text's pieces of one direction with their "
                                  "boxes, when a line mixes directions; empty = one direction")


class PlacedImage(_Record):
    """An input image pasted into a picture as it is (scaled, never re-drawn): a packshot the compositor placed, or
    the logo compose pasted. ``box`` is where it lies in the picture, pixels (it may run past the frame when cropped);
    ``crop`` is the part of the input that box shows, as fractions of the input's width and height ``(x0, y0, x1, y1)``
    (a cut-out trimmed to its product), or ``None`` when not recorded (the whole input, or a record from before)."""

    path: Path
    sha256: str
    role: Literal["primary_packshot", "alternate_view", "logo"]
    box: Box
    crop: tuple[float, float, float, float] | None = None


class GeneratedImage(_Record):
    """What a generator wrote: path, size in pixels, content hash, timing, and what it cost (see pipeline/budget.py)."""

    path: Path
    width: int
    height: int
    sha256: str
    seconds: float = 0.0
    cost: float | None = Field(default=None, description="USD; None = the backend does not know (the stage prices it, see pipeline/budget.py)")
    cost_basis: str | None = Field(default=None, description="how cost was obtained: free | bfl-api | bfl-table | gpu-time | backend | unknown")
    moderation: dict[str, Any] | None = Field(
        default=None, description="the generating service's own moderation of this image, e.g. {provider: bfl, status: Ready, "
        "verdict: pass, safety_tolerance: 2}; the moderation check shows it beside its own scores",
    )
    notes: list[str] = Field(default_factory=list, description="what a reviewer should know, e.g. a packshot with too few pixels for its box")
    placed: list[PlacedImage] | None = Field(
        default=None, description="the inputs pasted into the image and where; a list only from a backend whose every other "
        "pixel carries no letters (the compositor: backdrop, shadows, leaves), so text QA reads these sources instead of the "
        "whole image. None = unknown (a model drew the pixels): text QA reads the whole image",
    )


class Creative(_Record):
    """A finished creative at the exact format size, with the overlay regions QA will read."""

    path: Path
    sha256: str
    width: int
    height: int
    file_type: str
    bytes: int
    regions: list[TextRegion] = []
    moderation: dict[str, Any] | None = Field(default=None, description="the generator's moderation verdict, carried from GeneratedImage")
    placed: list[PlacedImage] | None = Field(
        default=None, description="GeneratedImage.placed in the creative's pixels, plus the logo compose pasted; with "
        "``regions`` every source of letters in the creative. None = unknown: text QA reads the whole image",
    )
    palette: list[str] | None = Field(
        default=None, description="the structured prompt's color_palette the image was made for ('#RRGGBB' sRGB, brand "
        "colours first); the colour check counts these as on-palette. None = unknown (records made before it was kept)",
    )

    @field_validator("palette")
    @classmethod
    def _hex_palette(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and (bad := [c for c in v if not HEX_RE.match(c)]):
            raise ValueError(f"palette entries must be '#RRGGBB'; got {bad}")
        return v


# --------------------------------------------------------------------------- model licence
class ModelLicence(_Record):
    """The model that makes a campaign's pixels and the licence of its weights (declared by the generator plugin).

    ``licence`` is an SPDX identifier (``Apache-2.0``) or a ``LicenseRef-…`` for licences SPDX does not list
    (``LicenseRef-FLUX-Non-Commercial-2.1``, ``LicenseRef-BFL-API-Terms``); ``none`` for a backend with no model.
    """

    model: str = Field(description="human name, e.g. 'FLUX.2 [klein] 4B'")
    model_id: str = Field(description="where the weights or the service are, e.g. 'black-forest-labs/FLUX.2-klein-4B'")
    licence: str = Field(description="SPDX id or LicenseRef-…; 'none' when no model is involved")
    url: str | None = Field(default=None, description="the licence text or the model card that states it")
    commercial_use: bool | None = Field(description="whether the licence allows commercial use; None = unknown")
    trained: bool = Field(default=True, description="a trained generative model makes the pixels (False: compositor)")
    note: str = ""
    usage: Literal["commercial", "non-commercial"] | None = Field(default=None, description="the campaign's declared usage")
    recorded_licence: str | None = Field(default=None, description="the operator's licence identifier (generator.licence)")


# --------------------------------------------------------------------------- QA
class CheckResult(_Record):
    """One QA check's outcome: its numbers, the thresholds they were held to, a verdict and why."""

    check: str
    verdict: Verdict
    metrics: dict[str, Any] = {}
    thresholds: dict[str, Any] = {}
    reasons: list[str] = []
    seconds: float = 0.0


class QAResult(_Record):
    """All checks of one creative; the verdict is the worst of them."""

    verdict: Verdict
    checks: list[CheckResult]

    @classmethod
    def combine(cls, checks: list[CheckResult]) -> QAResult:
        worst = max((c.verdict for c in checks), key=VERDICT_ORDER.__getitem__, default="pass")
        return cls(verdict=worst, checks=checks)

    @property
    def reasons(self) -> list[str]:
        return [f"{c.check}: {r}" for c in self.checks for r in c.reasons]


class PublishedAsset(_Record):
    """A creative at its destination; ``written`` is False when identical bytes were already there."""

    uri: str
    key: str
    sha256: str
    etag: str | None = None
    written: bool = True
    link: str | None = Field(
        default=None,
        description="what a person opens: a presigned or CDN https URL for s3://, file:// for folders; presigned links expire",
    )
    cms_id: str | None = Field(
        default=None, description="the asset's id in a CMS (a Wagtail image id); None for folders and buckets"
    )


class FeedRecord(_Record):
    """A feed regenerated from the run's published creatives (e.g. the Merchant Center supplemental feed)."""

    feed: str = Field(description="the feed plugin's name, e.g. 'merchant-center'")
    locale: str | None = Field(default=None, description="the market this feed is for (one feed per market when the campaign has several)")
    key: str
    rows: int = Field(description="product rows written")
    errors: list[str] = Field(default_factory=list, description="products left out, each with why and the fix")
    notes: list[str] = Field(default_factory=list)
    published: PublishedAsset | None = None


class Attempt(_Record):
    """One try at a job: the seed, what came out, what QA said, timings in seconds per stage."""

    attempt: int
    seed: int
    creative: Creative | None = None
    qa: QAResult | None = None
    error: str | None = None
    stopped: Literal["budget"] | None = Field(
        default=None, description="why the attempt was not made: 'budget' = refused by budget.max_cost (nothing generated)"
    )
    cached: bool = Field(default=False, description="reused whole from an earlier run: image, creative and QA result")
    notes: list[str] = Field(default_factory=list, description="the generator's notes, e.g. a packshot with too few pixels for its box")
    timings: dict[str, float] = {}
    cost: float | None = Field(default=None, description="spent on this attempt in cost_currency (0 when reused); None = unknown")
    cost_currency: Literal["USD"] = "USD"


class ReviewDecision(_Record):
    """A human (or timeout) decision on one creative at the approval gate: what, who, when and why.

    ``verdict`` is ``pending`` in the manifest written while the run waits for a reviewer.
    """

    verdict: Literal["pending", "approved", "rejected"]
    by: str | None = Field(default=None, description="the reviewer's name as given with the decision; 'timeout' when none came")
    at: datetime | None = Field(default=None, description="UTC time the decision reached the run")
    reason: str = ""
    source: Literal["reviewer", "timeout", "gate"] = Field(
        default="reviewer", description="reviewer: an explicit choice; timeout: on_review_timeout applied; gate: the run's own rule"
    )
    verified: bool = Field(
        default=False, description="True when `by` was checked: the decision carried a valid signature of a configured reviewer"
    )


class JobRecord(_Record):
    """The manifest entry of one job: the final job inputs, every attempt, and where it was published."""

    job_id: str
    product_id: str
    product_title: str = ""
    format: str
    variant: int
    locale: str | None = Field(default=None, description="the job's BCP 47 market (one of the campaign's locales)")
    notes: list[str] = Field(default_factory=list, description="planning notes, e.g. a market string that fell back to the campaign's")
    backend: str
    prompt: StructuredPrompt
    overlay: dict[str, str]
    references: list[ReferenceImage]
    attempts: list[Attempt]
    status: Literal["published", "failed", "error", "held"]
    published: PublishedAsset | None = None
    publish_error: str | None = Field(default=None, description="why publishing this creative failed (status 'error'), redacted")
    decision: ReviewDecision | None = Field(default=None, description="the approval gate's decision (campaigns with review: required)")
    cost: float | None = Field(default=None, description="USD spent on all attempts of this job in this run; None if one is unknown")

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]
