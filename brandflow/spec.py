"""The declarative core: pydantic models of a campaign and a brand kit, loaded from YAML.

Every model forbids unknown keys (a typo is an error, never silently ignored). Relative paths
resolve against the folder of the YAML file that names them. Validation errors are rewrapped
into one :class:`SpecError` that names the file, the field path and the fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from brandflow.colour import HEX_RE, hex_to_rgb
from brandflow.errors import VALIDATION_FIXES, FieldValueError, SpecError, did_you_mean, fields_at
from brandflow.locales import check_locale
from brandflow.presets import expand_preset

ColourRole = Literal["primary", "secondary", "accent", "text", "background"]
FileType = Literal["png", "jpeg", "webp"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- brand kit
class BrandColour(_Model):
    """One brand colour: a ``#RRGGBB`` sRGB hex with its role in layouts."""

    name: str
    hex: str = Field(description="sRGB hex, '#RRGGBB'")
    role: ColourRole
    max_delta_e: float | None = Field(
        default=None, gt=0, description="per-colour ΔE00 pass threshold; None → the campaign's qa.colour.pass_delta_e"
    )
    required: bool = Field(default=True, description="the colour QA check asks that this colour appears")

    @field_validator("hex")
    @classmethod
    def _hex(cls, v: str) -> str:
        if not HEX_RE.match(v):
            raise ValueError(f"{v!r} is not a colour: expected '#RRGGBB' (six hex digits 0-9/A-F), e.g. '#1A63EC'")
        return v.upper()

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as an ``(R, G, B)`` tuple of sRGB uint8 values."""
        return hex_to_rgb(self.hex)


class BrandFonts(_Model):
    """Font files (TTF/OTF) for overlays; ``None`` → the bundled DejaVu Sans (Bold for headlines)."""

    headline: Path | None = None
    body: Path | None = None


class BrandKit(_Model):
    """A brand kit: colours with roles, fonts, logo, tone of voice and words that must never appear."""

    name: str
    colours: list[BrandColour] = Field(min_length=1)
    fonts: BrandFonts = BrandFonts()
    logo: Path | None = Field(default=None, description="RGBA PNG placed in the safe area when overlay.logo is true")
    tone: str = ""
    forbidden_words: list[str] = []

    @model_validator(mode="after")
    def _roles(self) -> BrandKit:
        roles = {c.role for c in self.colours}
        missing = {"primary"} - roles
        if missing:
            raise ValueError("brand kit needs a colour with role 'primary'")
        return self

    def colour(self, role: ColourRole) -> BrandColour | None:
        """The first colour with ``role``, or ``None``."""
        return next((c for c in self.colours if c.role == role), None)

    def beyond(self, palette: list[str] | tuple[str, ...]) -> list[str]:
        """The ``'#RRGGBB'`` colours of ``palette`` (a structured prompt's ``color_palette``) that are not the kit's,
        upper case, in order, each once: what a template asks for besides the brand (autumn's rust, ochre, chestnut)."""
        kit = {c.hex.upper() for c in self.colours}
        return list(dict.fromkeys(h.upper() for h in palette if h.upper() not in kit))

    @property
    def palette(self) -> list[str]:
        """All brand hex colours, primary first, as ``'#RRGGBB'`` strings."""
        order = ["primary", "secondary", "accent", "background", "text"]
        return [c.hex for c in sorted(self.colours, key=lambda c: order.index(c.role))]


# --------------------------------------------------------------------------- campaign
class FeedSpec(_Model):
    """Where the product feed is and how its columns map to brandflow's product fields.

    Default column names are Google Merchant Center's (``id, title, description, product_type,
    price, image_link, additional_image_link``); ``columns`` maps a field to another name.
    """

    path: Path
    format: Literal["auto", "csv", "json", "jsonl"] = "auto"
    columns: dict[Literal["id", "title", "description", "product_type", "price", "image_link", "additional_image_link"], str] = {}
    images_dir: Path | None = Field(default=None, description="base folder for relative image paths; default: the feed's folder")
    filter: FeedFilter | None = None


class FeedFilter(_Model):
    """Keep only some products: by id and/or by a product_type prefix (``'Groceries'``)."""

    ids: list[str] = []
    product_type_prefix: str | None = None


class FormatSpec(_Model):
    """A channel format: exact output size in pixels and file type."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    width: int = Field(ge=32, le=8192)
    height: int = Field(ge=32, le=8192)
    file_type: FileType = "png"
    max_bytes: int | None = Field(default=None, gt=0, description="upper bound on the file size, bytes (JPEG/WebP: met by a quality search)")
    text_free_top: float = Field(default=0.0, ge=0, le=0.4, description="fraction of the height at the top kept free of text (Stories UI)")
    text_free_bottom: float = Field(default=0.0, ge=0, le=0.4, description="fraction of the height at the bottom kept free of text")

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: Any) -> Any:
        return expand_preset(data)

    @property
    def aspect(self) -> float:
        return self.width / self.height


class SeedPolicy(_Model):
    """How job seeds are chosen: ``derived`` hashes (base, product, format, variant) so adding a
    product never changes another product's seeds; ``sequential`` is base + job index."""

    base: int = Field(default=0, ge=0)
    strategy: Literal["derived", "sequential"] = "derived"


class GeneratorSpec(_Model):
    """The image generator backend (a name in the ``brandflow.generators`` registry) and its options,
    validated by the backend's own ``Options`` model when the campaign is loaded."""

    backend: str = "compositor"
    options: dict[str, Any] = {}
    licence: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
        description="the commercial licence you hold for weights licensed for non-commercial use only (an identifier, "
                    "e.g. a BFL self-hosted licence reference); kept in the manifest and every file's XMP",
    )

    @model_validator(mode="after")
    def _backend_options(self) -> GeneratorSpec:
        from brandflow.registry import validate_generator_options

        validate_generator_options(self.backend, self.options)
        return self


class OverlaySpec(_Model):
    """Exact text drawn on every creative, as Jinja templates over ``product`` and ``campaign``.

    An empty string draws nothing for that slot.
    """

    headline: str = "{{ product.title }}"
    price: str = "{{ product.price.display if product.price else '' }}"
    cta: str = "Shop now"
    legal: str = Field(default="", description="a legal line (VAT, offer terms) drawn small below price and CTA, e.g. "
                       "'{{ strings.legal }}'; '' draws none (and leaves the layout as it is)")
    logo: bool = False
    safe_margin: float = Field(default=0.06, ge=0, le=0.25, description="fraction of the short side kept free")
    min_contrast: float = Field(default=4.5, ge=1, le=21, description="WCAG 2.x contrast ratio (4.5 = AA body text)")


#: A name of a market string (``strings.cta``, ``strings.legal``): a Jinja identifier, so templates write ``{{ strings.cta }}``.
_STRING_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,39}$"


class LocaleSpec(_Model):
    """One market of a campaign: its BCP 47 locale, optionally its own product feed (Merchant Center's practice of
    one feed per language and country) and its own fixed strings (CTA, legal line) for the overlay templates.

    In YAML either a bare code (``de-DE``) or a mapping ``{code, feed, strings}``; ``feed`` is a path or a full
    ``feed:`` block (its ``format`` and ``columns`` default to the campaign feed's when given as a path).
    """

    code: str = Field(description="BCP 47 locale, e.g. 'ar-SA': CLDR prices, shaping, hyphenation, OCR language")
    feed: FeedSpec | None = Field(default=None, description="this market's feed; products are matched to the campaign feed by id")
    strings: dict[str, str] = Field(default_factory=dict, description="name → text for overlay templates ({{ strings.cta }})")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"code": data}
        if isinstance(data, dict) and isinstance(data.get("feed"), str):
            return {**data, "feed": {"path": data["feed"]}}
        return data

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        return check_locale(v)

    @field_validator("strings")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if not re.match(_STRING_NAME, k)]
        if bad:
            raise ValueError(f"string names must be identifiers (letters, digits, _; e.g. cta, legal), got {bad}")
        return v


#: Checks a campaign runs when ``qa.checks`` is not given.
DEFAULT_CHECKS = ("format", "text", "colour", "identity")


class QASpec(_Model):
    """Which checks run, ``max_attempts`` seeds per job before giving up, and each check's settings under its
    own key (``qa.text``, ``qa.colour``, ``qa.<third-party check>``), validated by that check's ``Options``.

    Every check in ``checks`` has its settings as an attribute (``spec.qa.text.min_ned``): the YAML's, or the
    check's defaults.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    checks: list[str] = list(DEFAULT_CHECKS)
    max_attempts: int = Field(default=2, ge=1, le=10)

    @model_validator(mode="before")
    @classmethod
    def _check_settings(cls, data: Any) -> Any:
        return _plugin_settings(data, "check", "qa", cls, data.get("checks", DEFAULT_CHECKS) if isinstance(data, dict) else ())

    def options(self, check: str) -> BaseModel:
        """The settings of ``check`` (its ``Options`` model): the YAML's, or the defaults.

        Raises:
            UnknownPluginError: no such check is installed.
        """
        extra = self.__pydantic_extra__ or {}
        if check in extra:
            return extra[check]
        from brandflow.registry import validate_options

        return validate_options("check", check, None, f"qa.{check}")


class C2paSpec(_Model):
    """Sign a C2PA manifest into every creative (needs c2pa-python); paths relative to the campaign file."""

    cert_chain: Path = Field(description="PEM: signing certificate first, then intermediates")
    private_key: Path = Field(description="PEM (PKCS#8) signing key; keep it out of the repository")
    alg: Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"] = "es256"
    tsa_url: str | None = Field(default=None, description="an RFC 3161 time-stamp authority")


class ProvenanceSpec(_Model):
    """Machine-readable marking of published creatives (EU AI Act art. 50): XMP with the IPTC DigitalSourceType."""

    enabled: bool = True
    c2pa: C2paSpec | None = None


#: Fields a ``publish.key_template`` may use.
KEY_FIELDS = ("campaign", "product_id", "format", "variant", "ext", "seed", "job", "locale")
_KEY_LITERAL = re.compile(r"^[A-Za-z0-9._/-]*$")


def check_key_template(template: str) -> str:
    """Check a ``publish.key_template`` before anything is published; returns it unchanged.

    A key template is ``str.format`` text over :data:`KEY_FIELDS` (no conversions, format specs,
    attributes or indexes), whose literal text uses only ``[A-Za-z0-9._/-]``, is relative, has no ``.`` or
    ``..`` segment, names ``{product_id}`` or ``{job}`` (else every product gets one key) and ends in
    ``.{ext}`` (the file type, so a creative never lands on a ``.json`` sidecar's name).

    Raises:
        ValueError: what is wrong and the allowed fields.
    """
    import string

    allowed = ", ".join("{" + f + "}" for f in KEY_FIELDS)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as e:
        raise ValueError(f"key_template {template!r} is not a valid template ({e}); use fields {allowed}") from None
    names = set()
    for literal, name, spec, conversion in parsed:
        if not _KEY_LITERAL.match(literal):
            raise ValueError(f"key_template {template!r}: the text around fields may use only letters, digits, "
                             f"'.', '_', '-' and '/', got {literal!r}")
        if name is None:
            continue
        if name not in KEY_FIELDS:
            raise ValueError(f"key_template {template!r}: unknown field {{{name}}}; use {allowed}")
        if spec or conversion:
            raise ValueError(f"key_template {template!r}: {{{name}}} takes no format spec or conversion "
                             "(it could cut ids short and make two products share a key)")
        names.add(name)
    segments = template.split("/")
    if template.startswith("/") or any(seg in (".", "..") or ".." in seg for seg in segments):
        raise ValueError(f"key_template {template!r} must be a relative key without '..' or '.' segments")
    if not names & {"product_id", "job"}:
        raise ValueError(f"key_template {template!r} must name {{product_id}} or {{job}}: without it every "
                         "product would get the same key")
    if not template.endswith(".{ext}"):
        raise ValueError(f"key_template {template!r} must end in '.{{ext}}' (the creative's file type)")
    return template


class PublishSpec(_Model):
    """Where passing creatives go: ``file://DIR`` (default: ``<run dir>/published``), ``s3://bucket/prefix``, or
    a Wagtail image library ``wagtail+https://host/api/brandflow/v1/``.

    The target's scheme names the publisher plugin (``wagtail+https`` → ``wagtail``); each publisher's settings
    live under its own key (``publish.s3``, ``publish.wagtail``, ``publish.<third-party publisher>``) and are
    validated by that publisher's ``Options``.
    """

    target: str | None = None
    key_template: str = Field(
        default="{campaign}/{product_id}/{format}/{variant}.{ext}",
        description="object key: fields " + ", ".join("{" + f + "}" for f in KEY_FIELDS) + "; each value made safe and injective",
    )
    on_conflict: Literal["skip", "overwrite", "version"] = "version"
    warned: Literal["hold", "publish"] = Field(
        default="hold", description="QA 'warn' creatives: held for a human (default) or published and flagged"
    )
    provenance: ProvenanceSpec = ProvenanceSpec()
    feeds: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="feed plugin name → its options, e.g. {merchant-center: {...}}: regenerated once "
        "per run from the published creatives and published to the same target (brandflow.feeds entry points)",
    )

    @field_validator("key_template")
    @classmethod
    def _key_template(cls, v: str) -> str:
        return check_key_template(v)

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _publisher_settings(cls, data: Any) -> Any:
        data = _plugin_settings(data, "publisher", "publish", cls, ())
        target = data.get("target") if isinstance(data, dict) else None
        if isinstance(target, str) and target:
            from brandflow.registry import PluginOptionsError, UnknownPluginError, available, load, publisher_name

            try:
                load("publisher", publisher_name(urlparse(target).scheme or "file"))
            except UnknownPluginError as e:
                raise PluginOptionsError("publish.target", str(e).split("; installed:")[0],
                                         f"use a scheme of an installed publisher ({', '.join(available('publisher'))}): "
                                         "file://DIR, s3://bucket/prefix, wagtail+https://host/api/brandflow/v1/") from None
        return data

    def options_for(self, target: str) -> dict[str, Any]:
        """Keyword options for ``target``'s publisher: the block under its publisher's key (``publish.s3`` for
        ``s3://``, ``publish.wagtail`` for ``wagtail+https://``), only what the YAML set (so options in the URI's
        query still apply); nothing when the YAML sets none."""
        from brandflow.registry import publisher_name

        settings = (self.__pydantic_extra__ or {}).get(publisher_name(urlparse(target).scheme or "file"))
        return settings.model_dump(exclude_defaults=True) if isinstance(settings, BaseModel) else {}


def _plugin_settings(data: Any, kind: str, where: str, model: type[BaseModel], listed: Any) -> Any:
    """``data`` (a ``qa:`` or ``publish:`` mapping) with every key that is not a field of ``model`` validated as
    the settings of the ``kind`` plugin of that name, and default settings for each plugin ``listed``.

    Raises:
        PluginOptionsError: an unknown plugin name or key (with the nearest valid one), or a bad value.
    """
    if not isinstance(data, dict):
        return data
    from brandflow.registry import PluginOptionsError, UnknownPluginError, available, validate_options

    data = dict(data)
    names = available(kind)
    for i, name in enumerate(listed if isinstance(listed, (list, tuple)) else ()):
        if isinstance(name, str) and name not in names:
            try:
                from brandflow.registry import load

                load(kind, name)  # a plugin registered at run time
            except UnknownPluginError:
                raise PluginOptionsError(f"{where}.checks.{i}", f"no {kind} named {name!r}{did_you_mean(name, names)}",
                                         f"use one of: {', '.join(names)}") from None
    for key in [k for k in data if k not in model.model_fields]:
        try:
            data[key] = validate_options(kind, key, data[key], f"{where}.{key}")
        except UnknownPluginError:
            choices = sorted(set(model.model_fields) | set(names))
            raise PluginOptionsError(f"{where}.{key}", f"unknown key: neither a {where} setting nor an installed {kind}"
                                     f"{did_you_mean(key, choices)}", f"use one of: {', '.join(choices)}") from None
    for name in listed if isinstance(listed, (list, tuple)) else ():
        if isinstance(name, str) and name not in data:
            data[name] = validate_options(kind, name, None, f"{where}.{name}")
    return data


def overlay_strings(overlay: OverlaySpec) -> set[str]:
    """Names of ``strings`` the overlay templates read (``{{ strings.cta }}`` or ``strings['cta']``)."""
    text = " ".join((overlay.headline, overlay.price, overlay.cta, overlay.legal))
    return {a or b for a, b in re.findall(r"strings\s*(?:\.\s*(\w+)|\[\s*['\"](\w+)['\"]\s*\])", text)}


class ScheduleSpec(_Model):
    """When a served or deployed campaign runs by itself: a cron expression in an IANA time zone."""

    cron: str = Field(description="five-field cron, e.g. '0 6 * * 1' (Mondays 06:00)")
    timezone: str = Field(default="UTC", description="IANA time zone the cron is read in, e.g. 'Europe/Berlin'")

    @model_validator(mode="after")
    def _valid(self) -> ScheduleSpec:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}: use an IANA name such as 'UTC' or 'Europe/Berlin'") from None
        from prefect.client.schemas.schedules import CronSchedule  # Prefect's own cron grammar decides

        try:
            CronSchedule(cron=self.cron, timezone=self.timezone)
        except ValidationError:
            raise ValueError(f"{self.cron!r} is not a valid cron expression (five fields: minute hour day month weekday)") from None
        return self


NotifyEvent = Literal["awaiting_approval", "finished", "failed"]


class NotifySpec(_Model):
    """A webhook told when a run waits for approval, finishes or fails (Slack-compatible ``{text, blocks}``).

    Webhook URLs are secrets: prefer ``webhook_url_env`` (the name of an environment variable on the
    worker) over writing the URL into the YAML.
    """

    webhook_url: str | None = Field(default=None, description="http(s) URL that receives a JSON POST")
    webhook_url_env: str | None = Field(default=None, description="name of an environment variable holding the URL")
    on: list[NotifyEvent] = Field(default=["awaiting_approval", "finished", "failed"], min_length=1)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="per request")

    @model_validator(mode="after")
    def _one_source(self) -> NotifySpec:
        if (self.webhook_url is None) == (self.webhook_url_env is None):
            raise ValueError("set exactly one of webhook_url or webhook_url_env")
        if self.webhook_url is not None and urlparse(self.webhook_url).scheme not in ("http", "https"):
            raise ValueError(f"webhook_url must be an http(s) URL, got {self.webhook_url!r}")
        return self

    def url(self) -> str | None:
        """The webhook URL: ``webhook_url``, or the value of ``webhook_url_env`` (``None`` when that is unset)."""
        import os

        return self.webhook_url if self.webhook_url is not None else (os.environ.get(self.webhook_url_env or "") or None)


#: USD per BFL credit: "1 credit = $0.01 USD" (docs.bfl.ai/quick_start/pricing).
CREDIT_USD = 0.01


class BudgetSpec(BaseModel):
    """The campaign's ``budget:``: a spending cap and the prices brandflow cannot know by itself.

    Example::

        budget:
          max_cost: 25.0            # stop generating once this would be exceeded; omit for no cap
          currency: USD             # USD | credits (BFL credits, 1 credit = $0.01)
          price_per_gpu_hour: 2.50  # USD, for flux2 / flux2-klein on your own GPUs
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_cost: float | None = Field(default=None, gt=0, description="cap in `currency`; None = no cap (costs are still recorded)")
    currency: Literal["USD", "credits"] = Field(default="USD", description="unit of max_cost and of printed totals (credits: BFL's, $0.01 each)")
    price_per_gpu_hour: float | None = Field(default=None, ge=0, description="USD per GPU-hour for the local FLUX.2 backends; None → their cost is unknown")
    gpu_seconds_per_image: float | None = Field(
        default=None, gt=0, description="seconds per image on your GPU for estimates (at the campaign's size); default: the per-variant table"
    )

    @property
    def max_usd(self) -> float | None:
        """``max_cost`` in US dollars, or ``None``."""
        return None if self.max_cost is None else self.max_cost * (CREDIT_USD if self.currency == "credits" else 1.0)

    def fmt(self, usd: float | None) -> str:
        """``usd`` written in the budget's currency: ``'$1.2346'`` or ``'123.46 credits'``; ``'unknown'`` for ``None``."""
        if usd is None:
            return "unknown"
        if self.currency == "credits":
            return f"{usd / CREDIT_USD:,.2f} credits"
        return f"${usd:,.4f}" if usd < 1 else f"${usd:,.2f}"


class CampaignSpec(_Model):
    """A campaign: which products, how prompts are written, what sizes, how checked, where published."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9 _.-]*$")
    usage: Literal["commercial", "non-commercial"] = Field(
        default="commercial", description="commercial unless said otherwise: decides whether non-commercial model weights may run"
    )
    brand_kit: Path
    feed: FeedSpec
    template: str = Field(default="studio", description="a name in templates/prompts/ or a path to a .json.j2 file")
    locale: str | None = Field(
        default=None, description="BCP 47 market, e.g. 'ar-SA': prices in CLDR style, text shaping and hyphenation, OCR language"
    )
    locales: list[LocaleSpec] = Field(
        default_factory=list, description="the campaign's markets: codes or {code, feed, strings}; one job per product × format "
        "× variant × locale (README, 'Markets')",
    )
    strings: dict[str, str] = Field(
        default_factory=dict, description="name → text for overlay templates ({{ strings.cta }}); a market without its own "
        "text for a name uses this one, with a note on its jobs",
    )
    formats: list[FormatSpec] = Field(min_length=1)
    variants: int = Field(default=1, ge=1, le=16)
    seed: SeedPolicy = SeedPolicy()
    generator: GeneratorSpec = Field(default_factory=GeneratorSpec)
    overlay: OverlaySpec = OverlaySpec()
    qa: QASpec = Field(default_factory=QASpec)  # built when used: the defaults come from the check plugins
    publish: PublishSpec = Field(default_factory=PublishSpec)
    review: Literal["none", "required"] = Field(
        default="none", description="'required': the run pauses after QA until a reviewer approves (docs/operations.md)"
    )
    review_timeout_seconds: int = Field(
        default=86400, ge=1, le=30 * 86400, description="seconds a run waits for a review decision before on_review_timeout applies"
    )
    on_review_timeout: Literal["reject_all", "publish_passing"] = Field(
        default="reject_all", description="no decision in time: publish nothing, or publish the creatives that passed QA"
    )
    schedule: ScheduleSpec | None = Field(default=None, description="used by `brandflow serve` and `brandflow deploy --campaign`")
    notify: NotifySpec | None = None
    budget: BudgetSpec = Field(default=BudgetSpec(), description="spending cap and GPU price (brandflow/pipeline/budget.py, docs/bfl.md)")

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str | None) -> str | None:
        return check_locale(v) if v else v

    @field_validator("formats", mode="before")
    @classmethod
    def _presets(cls, v: Any) -> Any:
        return [expand_preset(f) for f in v] if isinstance(v, list) else v

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, v: list[FormatSpec]) -> list[FormatSpec]:
        names = [f.name for f in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"format names must be unique; repeated: {sorted(dup)}")
        return v

    @model_validator(mode="before")
    @classmethod
    def _market_feeds(cls, data: Any) -> Any:
        """A market's ``feed: products.de-DE.csv`` reads like the campaign's feed: same ``format`` and ``columns``."""
        if not isinstance(data, dict) or not isinstance(data.get("locales"), list) or not isinstance(data.get("feed"), dict):
            return data
        inherited = {k: data["feed"][k] for k in ("format", "columns") if k in data["feed"]}
        markets = [{**m, "feed": {"path": m["feed"], **inherited}} if isinstance(m, dict) and isinstance(m.get("feed"), str) else m
                   for m in data["locales"]]
        return {**data, "locales": markets}

    @field_validator("strings")
    @classmethod
    def _string_names(cls, v: dict[str, str]) -> dict[str, str]:
        return LocaleSpec._names(v)

    @model_validator(mode="after")
    def _keys_tell_creatives_apart(self) -> CampaignSpec:
        t = self.publish.key_template
        if "{job}" not in t and ((len(self.formats) > 1 and "{format}" not in t) or (self.variants > 1 and "{variant}" not in t)):
            raise ValueError(f"publish.key_template {t!r} gives every format and variant of a product the same key: "
                             "add {format} and {variant}, or {job}")
        if len(self.locales) > 1 and not {"{job}", "{locale}"} & set(re.findall(r"\{\w+\}", t)):
            raise FieldValueError("publish.key_template", f"{t!r} gives every market of a creative the same key",
                                  "add {locale}, e.g. '{campaign}/{locale}/{product_id}/{format}/{variant}.{ext}'")
        return self

    @model_validator(mode="after")
    def _markets(self) -> CampaignSpec:
        if self.locale and self.locales:
            raise FieldValueError("locale", "set together with locales: one campaign has either one market or a list",
                                  f"move {self.locale!r} into locales and remove locale")
        banners = [f for f in self.formats if f.width / f.height >= 2.5]  # compose.layout.aspect_kind's 'banner'
        if self.overlay.legal and banners:
            raise FieldValueError("overlay.legal", f"format {banners[0].name!r} ({banners[0].width}×{banners[0].height}) is a "
                                  "banner with no room for a legal line", "run banners in a campaign without overlay.legal, "
                                  "or leave the legal line out")
        codes = [m.code for m in self.locales]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                raise FieldValueError(f"locales.{i}.code", f"{code!r} is listed twice", "list each market once")
        used = overlay_strings(self.overlay)
        for i, market in enumerate(self.locales):
            for name in market.strings:
                if name not in self.strings:
                    raise FieldValueError(f"locales.{i}.strings.{name}", f"the campaign has no strings.{name} for markets "
                                          "without their own", f"add strings: {{{name}: ...}} at the top level (the fallback text)")
        for name in self.strings:
            if name not in used:
                raise FieldValueError(f"strings.{name}", "no overlay template uses it, so no creative would show it",
                                      f"write it where it goes, e.g. overlay.cta: '{{{{ strings.{name} }}}}'")
        return self

    @property
    def markets(self) -> list[LocaleSpec | None]:
        """The campaign's markets in order: ``locales``, else one for ``locale``, else ``[None]`` (no locale)."""
        if self.locales:
            return list(self.locales)
        return [LocaleSpec(code=self.locale)] if self.locale else [None]

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")


FeedSpec.model_rebuild()
LocaleSpec.model_rebuild()


# --------------------------------------------------------------------------- loading
def _read_yaml(path: Path) -> dict[str, Any]:
    from brandflow.safenames import regular_file_problem

    problem = regular_file_problem(path)
    if problem is not None and problem != "file not found":
        raise SpecError(path, None, problem, "point at a YAML file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, None, "file not found", "check the path") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        _unquoted_hex(None, text, path)  # the usual cause of a YAML error in a brand kit, reported at its own line
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        raise SpecError(path, where, f"not valid YAML: {getattr(e, 'problem', e)}", "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise SpecError(path, None, "expected a mapping at the top level", "see the README's YAML reference")
    _unquoted_hex(data, text, path)
    return data


#: ``key: #1864EC``, ``- #1864EC`` or ``[#1864EC, …]`` outside quotes: YAML starts a comment at that ``#``.
_UNQUOTED_HEX = re.compile(r"""^(?P<key>[^#'"]*?)(?::\s+|^\s*-\s+|[\[,]\s*)(?P<hex>#[0-9A-Fa-f]{6})\b""")


def _unquoted_hex(data: dict[str, Any] | None, text: str, path: Path) -> None:
    """Refuse ``hex: #1864EC`` (YAML reads ``#`` as the start of a comment, so the value is lost) naming the line.

    Raises:
        SpecError: names the line of the first unquoted hex colour and says to quote it.
    """
    for n, line in enumerate(text.splitlines(), start=1):
        m = _UNQUOTED_HEX.match(line)
        if m:
            key = re.split(r"[\s{,\[-]+", m.group("key").strip())[-1]
            after_key = line[m.end("key"):].lstrip().startswith(":")
            example = f"{key}: '{m.group('hex')}'" if key and after_key else f"'{m.group('hex')}'"
            raise SpecError(path, f"line {n}", f"{m.group('hex')} is not quoted, so YAML reads it as a comment and the value is lost",
                            f"quote it: {example} (# starts a comment in YAML)")


def _resolve_paths(obj: Any, base: Path) -> Any:
    """Make every ``Path`` field of a validated model (plugin settings included) absolute, relative to ``base``."""
    if isinstance(obj, BaseModel):
        updates = {}
        for name in [*type(obj).model_fields, *(obj.__pydantic_extra__ or {})]:
            value = getattr(obj, name)
            new = _resolve_paths(value, base)
            if new is not value:
                updates[name] = new
        return obj.model_copy(update=updates) if updates else obj
    if isinstance(obj, Path):
        return obj if obj.is_absolute() else (base / obj).resolve()
    if isinstance(obj, list):
        new = [_resolve_paths(v, base) for v in obj]
        return new if any(a is not b for a, b in zip(new, obj)) else obj
    return obj


def _validate(model: type[BaseModel], data: dict[str, Any], path: Path) -> Any:
    from brandflow.registry import PluginOptionsError

    try:
        return model.model_validate(data)
    except PluginOptionsError as e:  # raised outside pydantic's wrapping (an ``after`` validator's nested call)
        raise SpecError(path, e.field, e.reason, e.fix) from None
    except ValidationError as e:
        errors = e.errors()
        missing = {tuple(x["loc"][:-1]) for x in errors if x["type"] == "missing"}
        # a misspelt key also makes its field "missing": report the typo (with the nearest name), not the absence
        err = next((x for x in errors if x["type"] == "extra_forbidden" and tuple(x["loc"][:-1]) in missing), errors[0])
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, (PluginOptionsError, FieldValueError)):  # a plugin's own Options model, or a check that knows the field
            raise SpecError(path, cause.field, cause.reason, cause.fix, count=len(e.errors())) from None
        field = ".".join(str(p) for p in err["loc"]) or None
        fix = VALIDATION_FIXES.get(err["type"], "see the README's YAML reference")
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = fields_at(model, err["loc"][:-1])
            msg = f"unknown key{did_you_mean(str(err['loc'][-1]), allowed)}" if allowed else msg
            fix = f"remove it or use one of: {', '.join(allowed)}" if allowed else fix
        raise SpecError(path, field, msg, fix, count=len(e.errors())) from None
        ann = field.annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = args[0] if args else ann
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def load_brand_kit(path: str | Path) -> BrandKit:
    """Load and validate a brand-kit YAML file; relative paths resolve against its folder.

    Raises:
        SpecError: the file is missing, not YAML, or a field is invalid (names file, field and fix).
    """
    path = Path(path).resolve()
    kit = _validate(BrandKit, _read_yaml(path), path)
    kit = _resolve_paths(kit, path.parent)
    for p in (kit.logo, kit.fonts.headline, kit.fonts.body):
        if p is not None and not p.is_file():
            raise SpecError(path, "logo" if p == kit.logo else "fonts", f"file not found: {p}", "fix the path (relative to the brand kit)")
    _check_brand_files(kit, path)
    return kit


def _check_brand_files(kit: BrandKit, path: Path) -> None:
    """The logo must decode as an image and each font load as a TrueType/OpenType font, so a run never
    finds out at the first overlay (a renamed PDF, an HTML error page saved as ``.ttf``)."""
    from PIL import ImageFont

    from brandflow.errors import ImageError
    from brandflow.imageio import verify_image

    if kit.logo is not None:
        try:
            verify_image(kit.logo)
        except ImageError as e:
            raise SpecError(path, "logo", f"not a usable image: {e}", "use a PNG (RGBA for a transparent logo)") from None
    for role, font in (("headline", kit.fonts.headline), ("body", kit.fonts.body)):
        if font is None:
            continue
        try:
            ImageFont.truetype(str(font), 12)
        except OSError as e:
            raise SpecError(path, f"fonts.{role}", f"{font} is not a TrueType/OpenType font ({e})",
                            "use a .ttf or .otf font file") from None


def load_campaign(path: str | Path) -> tuple[CampaignSpec, BrandKit]:
    """Load a campaign YAML and the brand kit it names.

    Returns:
        ``(spec, brand_kit)`` with every path absolute.

    Raises:
        SpecError: names the file (campaign or brand kit), the field and the fix.
    """
    path = Path(path).resolve()
    spec: CampaignSpec = _resolve_paths(_validate(CampaignSpec, _read_yaml(path), path), path.parent)
    if "/" in spec.template or spec.template.endswith(".j2"):  # a path, not a built-in template name
        template = Path(spec.template)
        template = template if template.is_absolute() else (path.parent / template).resolve()
        if not template.is_file():
            raise SpecError(path, "template", f"file not found: {template}", "use a built-in name (studio, lifestyle) or a path to a .json.j2 file")
        spec = spec.model_copy(update={"template": str(template)})
    if not spec.feed.path.is_file():
        raise SpecError(path, "feed.path", f"file not found: {spec.feed.path}", "point feed.path at a CSV, JSON or JSONL product feed")
    for i, market in enumerate(spec.locales):
        if market.feed is not None and not market.feed.path.is_file():
            raise SpecError(path, f"locales.{i}.feed", f"file not found: {market.feed.path} (the {market.code} feed)",
                            f"point it at the {market.code} product feed (CSV, JSON or JSONL, relative to the campaign file), "
                            "or leave feed out to use the campaign's feed for this market")
    return _with_local_model(spec, path.parent), load_brand_kit(spec.brand_kit)


def _with_local_model(spec: CampaignSpec, base: Path) -> CampaignSpec:
    """``generator.options.model`` as an absolute folder when it names one relative to the campaign file
    (``./weights/klein``, ``models/klein`` that exists there), like every other path in the spec; a Hugging
    Face repo id (``owner/name``, no such folder) is left as it is."""
    model = spec.generator.options.get("model")
    if not isinstance(model, str) or not model or Path(model).expanduser().is_absolute() or model.startswith("~"):
        return spec
    local = (base / model).resolve()
    if not (model.startswith(("./", "../")) or local.is_dir()):
        return spec
    options = {**spec.generator.options, "model": str(local)}
    return spec.model_copy(update={"generator": spec.generator.model_copy(update={"options": options})})
