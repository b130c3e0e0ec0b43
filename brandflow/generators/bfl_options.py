"""Options of the ``bfl`` generator backend (Black Forest Labs' hosted FLUX.2 API), parsed from ``generator.options``.

Plain pydantic, no network: a campaign's options can be checked (and its cost estimated) before a run.
Every model the backend can call is in one table, :data:`MODELS`, with its endpoint, reference-image
limit and price, and the source of each number.

Example (campaign YAML)::

    generator:
      backend: bfl
      options:
        model: flux-2-pro          # flux-2-pro | flux-2-max | flux-2-flex | flux-2-klein-4b | flux-2-klein-9b
        region: eu                 # global (api.bfl.ai) | eu (api.eu.bfl.ai) | us (api.us.bfl.ai)
        target_megapixels: 1.0     # 1.0 = 1024 × 1024 px; ≤ 4.0
        max_in_flight: 24          # BFL's documented concurrency limit per account

The API key is never an option: it comes from the environment variable ``BFL_API_KEY`` (or the one
named by ``api_key_env``) or from a Prefect Secret block named by ``api_key_block``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from brandflow.generators.options import GeneratorOptionsError, validate_options

Model = Literal["flux-2-pro", "flux-2-max", "flux-2-flex", "flux-2-klein-4b", "flux-2-klein-9b"]
Region = Literal["global", "eu", "us"]

#: Regional base URLs (docs.bfl.ai, "API Endpoints Overview"): the global endpoint routes across all
#: clusters with failover; ``eu`` / ``us`` keep requests in that region.
REGIONS: dict[str, str] = {"global": "https://api.bfl.ai", "eu": "https://api.eu.bfl.ai", "us": "https://api.us.bfl.ai"}

#: Largest output BFL accepts: "Maximum: 4MP (e.g., 2048x2048)" (docs.bfl.ai, FLUX.2 Image Editing), so
#: 4 × 2**20 px; both sides multiples of 16, at least 64 px.
MAX_OUTPUT_PIXELS = 2048 * 2048
MIN_SIDE = 64
SIZE_MULTIPLE = 16

#: One megapixel in ``target_megapixels`` / ``reference_megapixels``: 2**20 px (1.0 → 1024 × 1024), the
#: same unit as the local ``flux2`` backends, so switching backends keeps the image size. (BFL *bills*
#: in 10**6 px: see :data:`brandflow.pipeline.budget.BILLING_MEGAPIXEL`.)
MEGAPIXEL = 1024 * 1024

#: Largest encoded reference image: "Supports up to 20MB or 20 megapixels" (docs.bfl.ai, FLUX.2 Image Editing).
MAX_REFERENCE_BYTES = 20 * 1000 * 1000

#: BFL's documented concurrency limit: 24 tasks in flight for most endpoints (black-forest-labs/skills,
#: bfl-api/references/rate-limiting.md: "Concurrent requests means in-flight requests (submitted but not
#: yet completed)").
DEFAULT_MAX_IN_FLIGHT = 24


@dataclass(frozen=True)
class ModelInfo:
    """One hosted FLUX.2 model: where it is and what it allows and costs.

    Attributes:
        name: the ``model`` option value, also the endpoint's last path segment.
        endpoint: path under the base URL (``POST`` submits a task).
        max_references: reference images accepted (``input_image``, ``input_image_2`` …).
        flex_controls: whether ``steps`` / ``guidance`` / ``prompt_upsampling`` are accepted.
        first_mp_credits: price of the first output megapixel, credits (1 credit = $0.01).
        per_mp_credits: price of every further output megapixel and of every input megapixel, credits.
    """

    name: str
    endpoint: str
    max_references: int
    flex_controls: bool
    first_mp_credits: float
    per_mp_credits: float


# Sources:
# - endpoints: docs.bfl.ai/quick_start/generating_images ("Available Endpoints": /flux-2-max, /flux-2-pro,
#   /flux-2-flex, /flux-2-klein-4b, /flux-2-klein-9b), under /v1 (black-forest-labs/skills, bfl-api/references/endpoints.md).
# - max_references: docs.bfl.ai, FLUX.2 Image Editing: [max]/[pro]/[flex] "Up to 8 reference images via API",
#   [klein] "Up to 4 reference images via API".
# - flex_controls: same page, parameter table: guidance and steps are "[flex only]". prompt_upsampling for
#   [flex] is from BFL's prompting tip ("disable Prompt Upsampling") and API mirrors (DMXAPI's flex page);
#   it is not in BFL's own parameter table, so it is only sent when set.
# - prices (credits): black-forest-labs/skills, bfl-api/SKILL.md "Model Endpoints & Pricing" (1st MP / +MP)
#   with "Pricing formula: (firstMP + (outputMP-1) * mpPrice) + (inputMP * mpPrice) in cents"; the 1 MP
#   floors match docs.bfl.ai/quick_start/pricing ("from $0.014 … $0.015 … $0.03 … $0.07 … $0.05").
MODELS: dict[str, ModelInfo] = {
    "flux-2-pro": ModelInfo("flux-2-pro", "/v1/flux-2-pro", 8, False, 3.0, 1.5),
    "flux-2-max": ModelInfo("flux-2-max", "/v1/flux-2-max", 8, False, 7.0, 3.0),
    "flux-2-flex": ModelInfo("flux-2-flex", "/v1/flux-2-flex", 8, True, 5.0, 5.0),
    "flux-2-klein-4b": ModelInfo("flux-2-klein-4b", "/v1/flux-2-klein-4b", 4, False, 1.4, 0.1),
    "flux-2-klein-9b": ModelInfo("flux-2-klein-9b", "/v1/flux-2-klein-9b", 4, False, 1.5, 0.2),
}

_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FLEX_ONLY = ("steps", "guidance", "prompt_upsampling")


class BFLOptions(BaseModel):
    """``generator.options`` of the ``bfl`` backend (unknown keys are errors). Times in seconds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Model = Field(default="flux-2-pro", description="the hosted FLUX.2 model (endpoint name)")
    region: Region = Field(default="global", description="global | eu | us (data residency); ignored when base_url is set")
    base_url: str | None = Field(default=None, description="another API root (a proxy, or the local test server); http(s), no credentials")
    api_key_env: str = Field(default="BFL_API_KEY", description="always BFL_API_KEY (kept for old campaign files; another name is refused)")
    api_key_block: str | None = Field(default=None, description="name of a Prefect Secret block holding the API key (wins over api_key_env)")

    target_megapixels: float = Field(default=1.0, gt=0.0, le=4.0, description="output area, 1.0 = 1024² px; multiples of 16 nearest the format's aspect, ≤ 2048² px")
    output_format: Literal["png", "jpeg"] = Field(default="png", description="format BFL renders (the file written is always an RGB PNG)")
    safety_tolerance: int = Field(default=2, ge=0, le=5, description="moderation of inputs and outputs: 0 strictest … 5 most permissive (BFL default 2)")
    max_references: int | None = Field(default=None, ge=0, description="reference images sent, primary packshot first; default and maximum: the model's limit (8, klein 4)")
    reference_megapixels: float = Field(default=1.0, gt=0.0, le=4.0, description="each reference is downscaled to at most this area (2**20 px units); input megapixels are billed")
    reference_format: Literal["jpeg", "png"] = Field(default="jpeg", description="encoding of references before base64 (jpeg quality 95: ~5× smaller uploads)")

    steps: int | None = Field(default=None, ge=1, le=50, description="[flex only] inference steps; default: the API's (50)")
    guidance: float | None = Field(default=None, ge=1.5, le=10.0, description="[flex only] guidance scale; default: the API's (4.5)")
    prompt_upsampling: bool | None = Field(default=None, description="[flex only] let BFL rewrite the prompt; default: the API's")

    max_in_flight: int = Field(default=DEFAULT_MAX_IN_FLIGHT, ge=1, le=1000, description="tasks submitted and not yet finished, per API key and process")
    timeout: float = Field(default=300.0, gt=0.0, description="seconds per job from submission to a downloaded image")
    request_timeout: float = Field(default=60.0, gt=0.0, description="seconds per HTTP request")
    poll_interval: float = Field(default=0.5, gt=0.0, description="first wait between polls (BFL's examples poll every 0.5 s)")
    poll_max_interval: float = Field(default=5.0, gt=0.0, description="polls back off ×1.5 up to this")
    max_retries: int = Field(default=8, ge=0, le=50, description="retries of one HTTP call on 429, 5xx or a dropped connection")
    retry_base_delay: float = Field(default=1.0, ge=0.0, description="first back-off delay (doubles, with jitter); a Retry-After header wins")
    retry_max_delay: float = Field(default=30.0, ge=0.0, description="largest back-off delay (not applied to Retry-After)")

    price_first_mp_credits: float | None = Field(default=None, ge=0.0, description="override the price table: credits for the first output megapixel")
    price_per_mp_credits: float | None = Field(default=None, ge=0.0, description="override the price table: credits per further output and per input megapixel")

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        if v is None:
            return v
        u = urlparse(v)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{v!r} is not an http(s) URL, e.g. 'https://api.eu.bfl.ai'")
        if u.username or u.password:
            raise ValueError("credentials never go in base_url: the key comes from BFL_API_KEY or a Prefect Secret block")
        if u.path not in ("", "/") or u.query or u.fragment:
            raise ValueError(f"base_url is the API root without a path (got path {u.path!r}); the /v1/<model> path is added")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not _ENV_RE.match(v):
            raise ValueError(f"{v!r} is not an environment variable name: give the NAME of the variable (e.g. BFL_API_KEY), never the key")
        if v != "BFL_API_KEY":  # a campaign file must not pick which of the worker's secrets is sent
            raise ValueError(f"{v!r}: the key is read from BFL_API_KEY on the worker only (a campaign file cannot choose "
                             "which variable, i.e. which secret, is sent); remove api_key_env, or use api_key_block")
        return v

    @property
    def info(self) -> ModelInfo:
        """The :class:`ModelInfo` of ``model``."""
        return MODELS[self.model]

    @property
    def url(self) -> str:
        """The API root requests go to: ``base_url`` or the region's."""
        return self.base_url or REGIONS[self.region]

    @property
    def references_limit(self) -> int:
        """How many reference images are sent at most: ``max_references`` or the model's limit."""
        return self.max_references if self.max_references is not None else self.info.max_references


#: Pixels in one *billed* megapixel: BFL reports 1920×1080 as ``input_mp: 2.07`` (docs.bfl.ai, FLUX.2 Image Editing).
BILLING_MEGAPIXEL = 1_000_000


def bfl_credits(options: BFLOptions | Mapping[str, Any], output_px: int, input_px: Sequence[int] = ()) -> float:
    """BFL's megapixel price of one task, in credits (1 credit = $0.01).

    ``first_mp + max(0, output_mp − 1) × per_mp + input_mp × per_mp``, megapixels of 10⁶ px, prices from the
    model's row of :data:`MODELS` unless ``price_first_mp_credits`` / ``price_per_mp_credits`` override them.
    Formula and prices: black-forest-labs/skills, bfl-api/SKILL.md; 1 MP floors cross-checked with
    docs.bfl.ai/quick_start/pricing. How fractional megapixels are rounded is not documented: this model does
    not round (so it can be a little under the bill).

    Args:
        options: the ``bfl`` backend's options (validated, or a raw ``generator.options`` mapping).
        output_px: output pixels (width × height).
        input_px: pixels of each reference image sent.

    Returns:
        Credits, ≥ the model's first-megapixel price. Example: flux-2-pro, 1024×1024 out, no inputs →
        3 + 0.048576 × 1.5 ≈ 3.07 credits.

    Raises:
        GeneratorOptionsError: ``options`` is a mapping that does not validate.
    """
    opts = options if isinstance(options, BFLOptions) else parse_options(options)
    first = opts.price_first_mp_credits if opts.price_first_mp_credits is not None else opts.info.first_mp_credits
    per = opts.price_per_mp_credits if opts.price_per_mp_credits is not None else opts.info.per_mp_credits
    out_mp = output_px / BILLING_MEGAPIXEL
    in_mp = sum(input_px) / BILLING_MEGAPIXEL
    return first + max(0.0, out_mp - 1.0) * per + in_mp * per


def parse_options(options: Mapping[str, Any]) -> BFLOptions:
    """Validate ``generator.options`` of the ``bfl`` backend.

    Args:
        options: the campaign's ``generator.options`` mapping.

    Returns:
        A frozen :class:`BFLOptions`.

    Raises:
        GeneratorOptionsError: an unknown key, a bad value, an API key written into the YAML, a [flex]-only
            control on another model, or more references than the model accepts. The message names
            ``generator.options.<field>`` and the fix.
    """
    options = dict(options)
    for secret in ("api_key", "key", "x_key", "x-key", "token", "webhook_secret"):
        if secret in options:
            raise GeneratorOptionsError(
                f"generator.options.{secret}: secrets never go in the campaign YAML (it is committed, logged and hashed into "
                "cache keys). Fix: remove it; export BFL_API_KEY in the worker's environment, or store the key in a Prefect "
                "Secret block and set generator.options.api_key_block: <block name> (docs/bfl.md)"
            )
    opts = validate_options(BFLOptions, options, "bfl", "docs/bfl.md")
    info = opts.info
    if not info.flex_controls:
        given = [f for f in _FLEX_ONLY if getattr(opts, f) is not None]
        if given:
            raise GeneratorOptionsError(
                f"generator.options.{given[0]}: only FLUX.2 [flex] takes {', '.join(given)} (model is {opts.model}). "
                "Fix: remove it, or set model: flux-2-flex"
            )
    if opts.max_references is not None and opts.max_references > info.max_references:
        raise GeneratorOptionsError(
            f"generator.options.max_references: {opts.max_references} is over the limit of {opts.model} "
            f"({info.max_references} reference images via the API; docs.bfl.ai, FLUX.2 Image Editing). Fix: use at most {info.max_references}"
        )
    if opts.poll_max_interval < opts.poll_interval:
        raise GeneratorOptionsError("generator.options.poll_max_interval must be ≥ poll_interval. Fix: raise poll_max_interval")
    return opts
