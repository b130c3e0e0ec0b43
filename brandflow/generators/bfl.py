"""FLUX.2 through Black Forest Labs' HTTP API: the ``bfl`` generator backend.

For teams without a GPU. Same interface as the local backends (:class:`~.base.Generator`): one job in,
one RGB PNG out. One job is one BFL task:

1. **Submit** ``POST {base}/v1/{model}`` with header ``x-key`` and a JSON body: ``prompt`` (the job's
   structured prompt, minified JSON), the reference packshots as base64 in ``input_image``,
   ``input_image_2`` … (primary packshot first, up to the model's limit: 8, klein 4), ``seed``,
   ``width`` / ``height`` (multiples of 16 nearest the format's aspect, ≤ 2048² px), ``output_format``,
   ``safety_tolerance`` and, for [flex] only, ``steps`` / ``guidance`` / ``prompt_upsampling``.
   The answer is ``{id, polling_url, cost?, input_mp?, output_mp?}`` (``cost`` in credits, 1 credit = $0.01).
2. **Poll** ``GET polling_url`` (with ``x-key``) every ``poll_interval`` s, backing off ×1.5 up to
   ``poll_max_interval``, until a terminal ``status``: ``Ready`` (→ ``result.sample``, a signed URL),
   ``Error``, ``Request Moderated``, ``Content Moderated`` (→ :class:`ModerationError`) or a persistent
   ``Task not found``.
3. **Download** ``result.sample`` at once — it expires 10 minutes after the task is ready — *without* the
   API key (it is a storage URL, not the API), decode it, flatten to RGB and write a PNG to ``out_path``.

Around that:

- **In flight**: a process-wide limiter per API key holds at most ``max_in_flight`` tasks (default 24, BFL's
  documented limit) between submission and a terminal status, across threads and generator instances.
- **Retries**: 429 (honouring ``Retry-After``), 5xx and dropped connections are retried with exponential
  back-off and jitter, up to ``max_retries`` per call. A submission whose request may have reached the
  server (a read timeout) is *not* resent: it could be charged twice.
- **Timeouts**: ``timeout`` per job (submission → image written), ``request_timeout`` per HTTP call.
- **Errors** are :class:`BFLError` subclasses naming the job, the task and the fix; every one raised after a
  submission carries ``cost`` (USD), so a budget counts what was charged. Moderation is a
  :class:`ModerationError` whose message starts ``request moderated:`` / ``content moderated:``: the stage
  records it as the attempt's error and the report shows it.
- **Secrets**: the key comes from ``BFL_API_KEY`` (or ``api_key_env``) or a Prefect Secret block
  (``api_key_block``), never from YAML; it is sent only to the API root's host (or ``*.bfl.ai`` when the root
  is BFL's), never to the sample URL, and requests carrying it never follow redirects.

Not implemented: webhook mode (``webhook_url`` / ``webhook_secret``); see docs/bfl.md.
Protocol sources and what is verified versus assumed: docs/bfl.md.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import hashlib
import io
import logging
import math
import os
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from PIL import Image, ImageOps

from brandflow.errors import BrandflowError, ImageError
from brandflow.redact import redact
from brandflow.targets import check_secret_destination
from brandflow.imageio import INPUT_MAX_SIDE, MAX_PIXELS, encode, load_rgb, to_rgba, write_work_png
from brandflow.retry import RetryPolicy
from brandflow.records import GeneratedImage, Job, ModelLicence
from brandflow.spec import CREDIT_USD
from brandflow.generators.base import Capabilities, Generator, JobCost, order_references
from brandflow.generators.bfl_options import (
    BILLING_MEGAPIXEL,
    MAX_OUTPUT_PIXELS,
    MAX_REFERENCE_BYTES,
    MEGAPIXEL,
    MIN_SIDE,
    SIZE_MULTIPLE,
    BFLOptions,
    bfl_credits,
    parse_options,
)
from brandflow.generators.flux2_options import native_size as _nearest_size

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1024)
def _image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header (no decode); ``(0, 0)`` when unreadable."""
    try:
        with Image.open(path) as im:
            return im.size
    except OSError:
        return 0, 0


#: ``status`` values of ``GET /v1/get_result`` (BFL OpenAPI ``StatusResponse`` enum).
READY, PENDING, ERROR = "Ready", "Pending", "Error"
REQUEST_MODERATED, CONTENT_MODERATED, TASK_NOT_FOUND = "Request Moderated", "Content Moderated", "Task not found"
#: Consecutive ``Task not found`` answers tolerated before giving up (a task can be briefly unknown to the
#: cluster that answers the first poll; assumed, not documented).
NOT_FOUND_GRACE = 3
#: Statuses of a sample download that mean "the signed URL is no longer valid".
EXPIRED_STATUSES = (401, 403, 404, 410)


# --------------------------------------------------------------------------- errors
class BFLError(BrandflowError):
    """An error of the ``bfl`` backend; names the job, the BFL task (when there is one) and the fix.

    Attributes:
        task_id: the BFL task id, or ``None`` when nothing was submitted.
        cost: USD charged for the task so far (the API's ``cost``, else the price-table estimate) — ``0.0``
            when nothing was submitted. Budgets count it.
    """

    def __init__(self, message: str, *, task_id: str | None = None, cost: float = 0.0):
        super().__init__(message)
        self.task_id, self.cost = task_id, cost


class MissingAPIKeyError(BFLError):
    """No API key in ``BFL_API_KEY`` (or ``api_key_env``) nor in the named Prefect Secret block."""


class BFLAuthError(BFLError):
    """The API refused the key (HTTP 401/403)."""


class BFLCreditsError(BFLError):
    """The account has no credits left (HTTP 402)."""


class BFLRequestError(BFLError, ValueError):
    """The API rejected the request as invalid (HTTP 400/422); the message quotes the fields it named."""


class BFLUnavailableError(BFLError):
    """The API stayed unavailable (429, 5xx or no connection) through every retry of one call."""


class BFLTimeoutError(BFLError, TimeoutError):
    """A job did not finish within ``generator.options.timeout`` seconds."""


class BFLGenerationError(BFLError):
    """The task ended with ``Error``, stayed ``Task not found``, or the result was unusable."""


class BFLProtocolError(BFLError):
    """An answer does not follow the documented protocol (missing ``polling_url``, a foreign polling host …)."""


class ModerationError(BFLError):
    """BFL's moderation refused the request (``Request Moderated``) or withheld the image (``Content Moderated``).

    The message starts with ``request moderated:`` or ``content moderated:`` and is meant for the review
    report: the stage records it as the attempt's error, the run goes on.

    Attributes:
        status: the API's status string.
        details: the API's ``details`` object, when it sent one.
        moderation: the provider verdict the QA moderation check maps (``{provider, status, verdict: fail, …}``).
    """

    moderation: dict[str, Any] | None = None

    def __init__(self, message: str, *, status: str, details: Any = None, task_id: str | None = None, cost: float = 0.0):
        super().__init__(message, task_id=task_id, cost=cost)
        self.status, self.details = status, details


class SampleExpiredError(BFLError):
    """``result.sample`` could no longer be downloaded (signed URLs expire 10 minutes after a task is ready)."""


# --------------------------------------------------------------------------- in-flight limit
class InFlightLimiter:
    """A counting limit on BFL tasks in flight (submitted, not yet terminal), shared by threads.

    Unlike a semaphore its limit can change while tasks run (the latest configured ``max_in_flight`` wins).

    Attributes:
        limit: tasks allowed in flight at once (≥ 1).
        in_flight: tasks in flight now.
        peak: the most tasks ever in flight at once (for tests and benchmarks).
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"an in-flight limit must be ≥ 1, got {limit}")
        self._cond = threading.Condition()
        self.limit, self.in_flight, self.peak = limit, 0, 0

    def set_limit(self, limit: int) -> None:
        """Change the limit (≥ 1); waiting threads re-check at once."""
        if limit < 1:
            raise ValueError(f"an in-flight limit must be ≥ 1, got {limit}")
        with self._cond:
            self.limit = limit
            self._cond.notify_all()

    @contextmanager
    def slot(self, timeout: float | None = None) -> Iterator[None]:
        """Hold one in-flight slot for the ``with`` block, waiting up to ``timeout`` seconds for one.

        Raises:
            TimeoutError: no slot became free within ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self.in_flight < self.limit, timeout=timeout):
                raise TimeoutError(f"no BFL in-flight slot free within {timeout:.1f} s ({self.in_flight}/{self.limit} in flight)")
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            yield
        finally:
            with self._cond:
                self.in_flight -= 1
                self._cond.notify()


_limiters: dict[str, InFlightLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(api_key: str, limit: int) -> InFlightLimiter:
    """The process-wide :class:`InFlightLimiter` of ``api_key`` (BFL counts in-flight tasks per account), set to ``limit``.

    Keyed by a sha256 fingerprint of the key, so the key itself is not kept here.
    """
    fp = hashlib.sha256(api_key.encode()).hexdigest()[:16]
    with _limiters_lock:
        lim = _limiters.get(fp)
        if lim is None:
            lim = _limiters[fp] = InFlightLimiter(limit)
        elif lim.limit != limit:
            log.info("BFL in-flight limit for this key changed from %d to %d", lim.limit, limit)
            lim.set_limit(limit)
        return lim


def reset_limiters() -> None:
    """Forget every process-wide limiter (tests)."""
    with _limiters_lock:
        _limiters.clear()


# --------------------------------------------------------------------------- API key
def _secret_block_value(name: str) -> str:
    """The value of the Prefect ``Secret`` block ``name`` (the one seam tests replace)."""
    from prefect.blocks.system import Secret

    return str(Secret.load(name).get())


def resolve_api_key(opts: BFLOptions) -> str:
    """The BFL API key: from the Prefect Secret block ``api_key_block`` if set, else the environment variable ``api_key_env``.

    Raises:
        MissingAPIKeyError: the variable is unset or empty, or the block cannot be loaded or is empty. The
            message names ``BFL_API_KEY`` (or the configured variable) and where to create a key.
    """
    where = f"the Prefect Secret block {opts.api_key_block!r}" if opts.api_key_block else f"the environment variable {opts.api_key_env}"
    if opts.api_key_block:
        try:
            value = _secret_block_value(opts.api_key_block)
        except Exception as e:  # noqa: BLE001 — ValueError (no such block), no server, …: all mean "no key"
            raise MissingAPIKeyError(
                f"the bfl backend could not read its API key from {where} ({type(e).__name__}: {e}). Fix: create it "
                f"(`prefect block create secret`, name {opts.api_key_block!r}), or remove generator.options.api_key_block and "
                f"export {opts.api_key_env}"
            ) from None
    else:
        value = os.environ.get(opts.api_key_env, "")
    value = value.strip()
    if not value:
        raise MissingAPIKeyError(
            f"the bfl backend needs a Black Forest Labs API key and {where} is empty. Fix: export {opts.api_key_env}=<key> "
            "in the worker's environment (create a key at dashboard.bfl.ai → API → Keys), or store it in a Prefect Secret "
            "block and set generator.options.api_key_block: <block name>. Keys never go in the campaign YAML"
        )
    return value


# --------------------------------------------------------------------------- sizes and references
def output_size(width: int, height: int, target_megapixels: float = 1.0) -> tuple[int, int]:
    """The size requested from BFL for a ``width × height`` format.

    Multiples of 16 nearest the format's aspect at ``target_megapixels`` (2**20 px units; see
    :func:`~.flux2_options.native_size`), then shrunk in steps of 16 px until within BFL's 4 MP maximum
    (2048 × 2048 = 4,194,304 px), each side at least 64 px.

    Returns:
        ``(w, h)`` in pixels. Example: 1080×1920 at 1.0 → 768×1360.

    Raises:
        ValueError: a non-positive size or target.
    """
    w, h = _nearest_size(width, height, target_megapixels, SIZE_MULTIPLE)
    while w * h > MAX_OUTPUT_PIXELS:
        scale = math.sqrt(MAX_OUTPUT_PIXELS / (w * h))
        w2 = max(MIN_SIDE, int(w * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
        h2 = max(MIN_SIDE, int(h * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
        w, h = (w2, h2) if (w2, h2) != (w, h) else (w - SIZE_MULTIPLE, h - SIZE_MULTIPLE)
    return max(MIN_SIDE, w), max(MIN_SIDE, h)


def reference_size(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The size a ``width × height`` reference is sent at: area ≤ ``max_pixels``, sides floored to multiples of 16.

    BFL crops input sides that are not multiples of 16 (docs.bfl.ai, FLUX.2 Image Editing); sending aligned
    sides keeps the whole packshot (the aspect changes by < 16 px).

    Raises:
        ImageError: a side would be under 64 px (BFL's minimum input size).
    """
    scale = min(1.0, math.sqrt(max_pixels / (width * height)))
    w = int(width * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE
    h = int(height * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE
    if min(w, h) < MIN_SIDE:
        raise ImageError(
            f"a {width}×{height} px reference becomes {w}×{h} px, under BFL's 64 px minimum. Fix: a larger packshot, or a "
            "larger generator.options.reference_megapixels"
        )
    return w, h


@functools.lru_cache(maxsize=128)
def encode_reference(path: str, sha256: str, max_pixels: int, file_type: str) -> tuple[str, int, int]:
    """A reference packshot as sent to BFL: RGB (alpha flattened onto white), sized by :func:`reference_size`, encoded, base64.

    Cached (128 entries) by ``(path, sha256, max_pixels, file_type)``: each packshot is encoded once per process.

    Args:
        path: the image file.
        sha256: its content hash (cache key).
        max_pixels: largest area in pixels.
        file_type: ``'jpeg'`` (quality 95) or ``'png'``.

    Returns:
        ``(base64 ASCII string without a data-URI prefix, width, height)``.

    Raises:
        ImageError: unreadable, under 64 px, or over BFL's 20 MB per input image once encoded.
    """
    im = Image.fromarray(load_rgb(path, max_side=INPUT_MAX_SIDE))
    w, h = reference_size(im.width, im.height, max_pixels)
    if (w, h) != im.size:
        im = im.resize((w, h), Image.Resampling.LANCZOS)
    data = encode(im, file_type, quality=95)
    if len(data) > MAX_REFERENCE_BYTES:
        raise ImageError(f"{path}: {len(data):,} bytes as {file_type}, over BFL's 20 MB per input image. Fix: reference_format: jpeg, or a smaller reference_megapixels")
    return base64.b64encode(data).decode("ascii"), w, h


def decode_result(data: bytes, source: str) -> Image.Image:
    """Decode a downloaded result into an RGB image (alpha flattened onto white, EXIF orientation applied).

    Raises:
        ImageError: not an image, or over :data:`~brandflow.imageio.MAX_PIXELS`.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"{source}: {im.width}×{im.height} px is over the {MAX_PIXELS:,} pixel limit")
            im.load()
            rgba = to_rgba(ImageOps.exif_transpose(im))
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"{source}: the downloaded result is not a readable image ({e})") from None
    if rgba.getextrema()[3][0] == 255:
        return rgba.convert("RGB")
    base = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(base, rgba).convert("RGB")


# --------------------------------------------------------------------------- task records
@dataclass
class BFLTask:
    """What one BFL task did, for audit and benchmarks (kept in :attr:`BFLGenerator.history`).

    Attributes:
        job_id: the brandflow job.
        task_id: BFL's task id.
        model: the endpoint name.
        width, height: pixels requested.
        references: reference images sent.
        credits: the API's ``cost`` (credits) or ``None`` when it sent none.
        cost: USD charged (the API's cost × 0.01, else the price-table estimate).
        cost_basis: ``'bfl-api'`` (the API's number) or ``'bfl-table'`` (estimated from the price table).
        input_mp, output_mp: the API's megapixel counts (10**6 px), when sent.
        status: the terminal status.
        polls: ``GET polling_url`` calls made.
        retries: HTTP calls repeated after 429 / 5xx / dropped connections.
        seconds: submission → image written (or → the error).
    """

    job_id: str
    task_id: str
    model: str
    width: int
    height: int
    references: int
    credits: float | None = None
    cost: float = 0.0
    cost_basis: str = "bfl-table"
    input_mp: float | None = None
    output_mp: float | None = None
    status: str = PENDING
    polls: int = 0
    retries: int = 0
    seconds: float = 0.0


def _generated_image(**fields: Any) -> GeneratedImage:
    """A :class:`GeneratedImage`, with ``cost`` / ``cost_basis`` only when the record has those fields (wiring patch)."""
    known = GeneratedImage.model_fields
    return GeneratedImage(**{k: v for k, v in fields.items() if k in known})


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


# --------------------------------------------------------------------------- the backend
class BFLGenerator(Generator):
    """FLUX.2 [pro] / [max] / [flex] / [klein] through Black Forest Labs' API (backend ``bfl``); see the module docstring.

    Args:
        options: the campaign's ``generator.options`` (see :class:`~.bfl_options.BFLOptions` and docs/bfl.md).
            Validated here; the API key is read at the first :meth:`generate`, not before.

    Attributes:
        options: the validated options.
        history: the last 10,000 :class:`BFLTask` records of this instance (newest last).

    Raises:
        GeneratorOptionsError: invalid options (names ``generator.options.<field>``).
    """

    name = "bfl"
    Options = BFLOptions
    pricing = ("BFL price table (black-forest-labs/skills bfl-api; docs.bfl.ai/quick_start/pricing); "
               "runs record the API's own cost")

    def __init__(self, options: Mapping[str, Any]) -> None:
        self.options: BFLOptions = self.parse_options(options)
        self.history: deque[BFLTask] = deque(maxlen=10_000)
        self._key: str | None = None
        self._key_lock = threading.Lock()
        n = self.options.max_in_flight + 8
        self._http = httpx.Client(
            timeout=httpx.Timeout(self.options.request_timeout),
            limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            follow_redirects=False,  # a redirect would carry x-key to wherever it points
            headers={"user-agent": "brandflow-bfl/0.1"},
        )
        self._api_host = urlparse(self.options.url).hostname or ""
        # the key goes only to BFL's own hosts, a loopback test server or a proxy the operator allowed
        check_secret_destination(self.options.url, "the BFL API key", public_hosts=("bfl.ai",))

    @classmethod
    def parse_options(cls, options: Mapping[str, Any]) -> BFLOptions:
        """Validate ``options`` without any network access (usable at campaign-validation time).

        Raises:
            GeneratorOptionsError: see :func:`~.bfl_options.parse_options`.
        """
        return parse_options(options)

    #: BFL's FLUX API Service Terms (part of its Developer Terms) govern API use and its outputs, whichever model.
    TERMS_URL = "https://bfl.ai/legal/flux-api-service-terms"

    @classmethod
    def model_licence(cls, options: Mapping[str, Any]) -> ModelLicence:
        """The terms of the hosted model ``options`` select: BFL's API terms (the provider's, not a weights
        licence; commercial API use is what they license). Loads nothing, calls nothing.

        Raises:
            GeneratorOptionsError: invalid options.
        """
        model = cls.parse_options(options).model
        size = model.removeprefix("flux-2-")
        name = f"FLUX.2 [{size.split('-')[0]}]" + (f" {size.split('-')[1].upper()}" if "-" in size else "")
        return ModelLicence(
            model=f"{name} (BFL API)", model_id=f"bfl-api:{model}", licence="LicenseRef-BFL-API-Terms",
            url=cls.TERMS_URL, commercial_use=True,
            note="hosted by Black Forest Labs; use is governed by the provider's API and developer terms",
        )

    @property
    def capabilities(self) -> Capabilities:
        """One image per request; the model's reference limit (or ``max_references``); sizes in multiples of 16."""
        return Capabilities(batch_size=1, max_references=self.options.references_limit, size_multiple=SIZE_MULTIPLE)

    @classmethod
    def estimate(cls, options: Any, width: int, height: int, references: Sequence[Path] | None, budget: Any) -> JobCost:
        """The price table's USD for one task: output megapixels at the requested size plus each reference sent, at
        its downscaled size (``references=None``: every reference at the ``reference_megapixels`` cap, an upper bound).

        Raises:
            GeneratorOptionsError: ``options`` do not validate.
        """
        opts = options if isinstance(options, BFLOptions) else cls.parse_options(options)
        w, h = output_size(width, height, opts.target_megapixels)
        cap = int(opts.reference_megapixels * MEGAPIXEL)
        if references is None:
            inputs = [cap] * opts.references_limit
        else:
            inputs = []
            for p in list(references)[: opts.references_limit]:
                rw, rh = _image_size(str(p))
                try:
                    rw, rh = reference_size(rw, rh, cap) if rw and rh else (0, 0)
                except ImageError:
                    rw, rh = 0, 0
                inputs.append(rw * rh)
        credits = bfl_credits(opts, w * h, inputs)
        return JobCost(credits * CREDIT_USD, "bfl-table",
                       f"{opts.model}: {w * h / BILLING_MEGAPIXEL:.2f} MP out + {sum(inputs) / BILLING_MEGAPIXEL:.2f} MP in")

    def close(self) -> None:
        """Close the HTTP connection pool (the instance cannot generate afterwards)."""
        self._http.close()

    def native_size(self, width: int, height: int) -> tuple[int, int]:
        """The size requested for a ``width × height`` format: see :func:`output_size` (compose delivers the exact size)."""
        return output_size(width, height, self.options.target_megapixels)

    @property
    def limiter(self) -> InFlightLimiter:
        """The process-wide in-flight limiter of this instance's API key.

        Raises:
            MissingAPIKeyError: no API key (see :func:`resolve_api_key`).
        """
        return limiter_for(self._api_key(), self.options.max_in_flight)

    # ----------------------------------------------------------------- the job
    def generate(self, job: Job, out_path: Path) -> GeneratedImage:
        """Render ``job`` with the hosted model and write an RGB PNG at :meth:`native_size` (or the size BFL returned).

        Waits for an in-flight slot first (not counted in the job's ``timeout``), then submits, polls and
        downloads as the module docstring describes.

        Args:
            job: the job (prompt, seed, references, format).
            out_path: where the PNG goes (written atomically; folders created).

        Returns:
            :class:`GeneratedImage` with the image's real size in pixels, its sha256, ``seconds`` from submission to
            written, and (once records carry them) ``cost`` in USD and ``cost_basis`` ('bfl-api' | 'bfl-table').

        Raises:
            MissingAPIKeyError: no key in ``BFL_API_KEY`` / the Secret block.
            ImageError: a reference packshot cannot be read or sent, or the result is not an image.
            BFLRequestError: HTTP 400/422 (a request field the API refused).
            BFLAuthError / BFLCreditsError: HTTP 401/403 / 402.
            BFLUnavailableError: 429 / 5xx / no connection through every retry.
            ModerationError: ``Request Moderated`` or ``Content Moderated``.
            BFLGenerationError: status ``Error``, a persistent ``Task not found``, or no ``result.sample``.
            SampleExpiredError: the signed sample URL was refused (expired).
            BFLTimeoutError: over ``timeout`` seconds.
            BFLProtocolError: an answer that does not follow the documented protocol.
        """
        o = self.options
        key = self._api_key()
        width, height = self.native_size(job.format.width, job.format.height)
        payload, input_px = self._payload(job, width, height)
        with limiter_for(key, o.max_in_flight).slot():
            t0 = time.monotonic()
            deadline = t0 + o.timeout
            task = BFLTask(job.job_id, "", o.model, width, height, len(input_px))
            self.history.append(task)
            submitted = self._submit(job, payload, key, deadline, task)
            task.task_id = str(submitted.get("id") or "")
            self._record_cost(task, submitted, width * height, input_px)
            result = self._poll(job, submitted, key, deadline, task)
        ready_at = time.monotonic()
        data = self._download(job, result, deadline, task, ready_at)
        image = decode_result(data, f"{job.job_id}: BFL task {task.task_id}")
        if image.size != (width, height):
            log.warning("%s: BFL returned %d×%d px for a %d×%d request", job.job_id, image.width, image.height, width, height)
        _png, sha = write_work_png(out_path, image)  # a work file (compose re-encodes): fast zlib, pixels handed on
        task.seconds = round(time.monotonic() - t0, 4)
        return _generated_image(
            path=Path(out_path), width=image.width, height=image.height, sha256=sha,
            seconds=task.seconds, cost=round(task.cost, 6), cost_basis=task.cost_basis,
            moderation={"provider": "bfl", "status": "Ready", "verdict": "pass", "task_id": task.task_id,
                        "safety_tolerance": self.options.safety_tolerance},
        )

    # ----------------------------------------------------------------- steps
    def _api_key(self) -> str:
        with self._key_lock:
            if self._key is None:
                self._key = resolve_api_key(self.options)
            return self._key

    def _payload(self, job: Job, width: int, height: int) -> tuple[dict[str, Any], list[int]]:
        """The submission body (documented fields only) and the pixel count of each reference sent."""
        o = self.options
        payload: dict[str, Any] = {
            "prompt": job.prompt.to_json(),
            "seed": job.seed,
            "width": width,
            "height": height,
            "output_format": o.output_format,
            "safety_tolerance": o.safety_tolerance,
        }
        input_px: list[int] = []
        max_px = int(o.reference_megapixels * MEGAPIXEL)
        for i, ref in enumerate(order_references(list(job.references), o.references_limit)):
            b64, w, h = encode_reference(str(ref.path), ref.sha256, max_px, o.reference_format)
            payload["input_image" if i == 0 else f"input_image_{i + 1}"] = b64
            input_px.append(w * h)
        if o.info.flex_controls:
            for name in ("steps", "guidance", "prompt_upsampling"):
                if getattr(o, name) is not None:
                    payload[name] = getattr(o, name)
        return payload, input_px

    def _headers(self, key: str) -> dict[str, str]:
        return {"x-key": key, "accept": "application/json"}

    def _submit(self, job: Job, payload: dict[str, Any], key: str, deadline: float, task: BFLTask) -> dict[str, Any]:
        url = self.options.url + self.options.info.endpoint
        resp = self._call("POST", url, job, task, deadline, headers=self._headers(key), json=payload, idempotent=False)
        data = self._json(resp, job, task, "submission")
        polling_url = data.get("polling_url")
        if not isinstance(polling_url, str) or not polling_url:
            raise BFLProtocolError(f"{job.job_id}: BFL accepted the task but sent no polling_url (answer keys: {sorted(data)})", task_id=data.get("id"))
        return data

    def _record_cost(self, task: BFLTask, answer: Mapping[str, Any], output_px: int, input_px: list[int]) -> None:
        """Set ``task.credits/cost/cost_basis/input_mp/output_mp`` from an API answer, else from the price table."""
        task.input_mp = _num(answer.get("input_mp")) if task.input_mp is None else task.input_mp
        task.output_mp = _num(answer.get("output_mp")) if task.output_mp is None else task.output_mp
        credits = _num(answer.get("cost"))
        if credits is not None:
            task.credits, task.cost, task.cost_basis = credits, credits * CREDIT_USD, "bfl-api"
        elif task.credits is None:
            table = bfl_credits(self.options, output_px, input_px)
            task.cost, task.cost_basis = table * CREDIT_USD, "bfl-table"

    def _poll(self, job: Job, submitted: Mapping[str, Any], key: str, deadline: float, task: BFLTask) -> dict[str, Any]:
        polling_url = str(submitted["polling_url"])
        self._check_polling_url(job, polling_url, task)
        wait, not_found, status = self.options.poll_interval, 0, PENDING
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._timeout(job, task, f"the task was still {status}")
            time.sleep(min(wait, left))  # the last poll happens at the deadline
            wait = min(wait * 1.5, self.options.poll_max_interval)
            resp = self._call("GET", polling_url, job, task, deadline, headers=self._headers(key), idempotent=True)
            task.polls += 1
            if resp.status_code == 404:
                data: dict[str, Any] = {"status": TASK_NOT_FOUND}
            else:
                data = self._json(resp, job, task, "poll")
            status = str(data.get("status", ""))
            task.status = status
            if status == READY:
                if task.credits is None and _num(data.get("cost")) is not None:
                    self._record_cost(task, data, task.width * task.height, [])
                result = data.get("result")
                sample = result.get("sample") if isinstance(result, dict) else None
                if not isinstance(sample, str) or urlparse(sample).scheme not in ("http", "https"):
                    raise BFLGenerationError(
                        f"{job.job_id}: BFL task {task.task_id} is Ready but has no downloadable result.sample (result: {str(result)[:200]})",
                        task_id=task.task_id, cost=task.cost,
                    )
                return result
            if status in (REQUEST_MODERATED, CONTENT_MODERATED):
                raise self._moderation(job, task, status, data.get("details"))
            if status == ERROR:
                why = data.get("error") or data.get("details") or "no reason given"
                raise BFLGenerationError(
                    f"{job.job_id}: BFL task {task.task_id} ended with status Error ({str(why)[:300]}). A new seed may succeed",
                    task_id=task.task_id, cost=task.cost,
                )
            if status == TASK_NOT_FOUND:
                not_found += 1
                if not_found >= NOT_FOUND_GRACE:
                    raise BFLGenerationError(
                        f"{job.job_id}: BFL reports task {task.task_id} as 'Task not found' ({not_found} polls of {polling_url}). "
                        "Results are kept for a limited time; with a regional base URL, poll the returned polling_url only (this client does)",
                        task_id=task.task_id, cost=task.cost,
                    )
                continue
            not_found = 0
            if status != PENDING:
                log.debug("%s: BFL task %s has status %r; still waiting", job.job_id, task.task_id, status)

    def _moderation(self, job: Job, task: BFLTask, status: str, details: Any) -> ModerationError:
        reasons = _describe(details)
        if status == REQUEST_MODERATED:
            msg = (
                f"request moderated: BFL's moderation refused the prompt or reference images of {job.job_id} "
                f"(task {task.task_id}; {reasons}). Fix: reword the prompt template or check the packshots; "
                f"safety_tolerance is {self.options.safety_tolerance} (0 strict … 5 permissive)"
            )
        else:
            msg = (
                f"content moderated: BFL withheld the generated image of {job.job_id} (task {task.task_id}; {reasons}). "
                f"A new seed or prompt may pass; safety_tolerance is {self.options.safety_tolerance} (0 strict … 5 permissive)"
            )
        error = ModerationError(msg, status=status, details=details, task_id=task.task_id, cost=task.cost)
        error.moderation = {"provider": "bfl", "status": status, "verdict": "fail", "task_id": task.task_id,
                            "safety_tolerance": self.options.safety_tolerance, "reasons": reasons, "message": msg}
        return error

    def _download(self, job: Job, result: Mapping[str, Any], deadline: float, task: BFLTask, ready_at: float) -> bytes:
        url = str(result["sample"])
        # No x-key: the sample is a signed storage URL, and redirects (to a CDN) are fine here.
        resp = self._call("GET", url, job, task, deadline, headers={"accept": "image/*"}, idempotent=True, follow_redirects=True)
        if resp.status_code in EXPIRED_STATUSES:
            raise SampleExpiredError(
                f"{job.job_id}: the result of BFL task {task.task_id} could not be downloaded (HTTP {resp.status_code} from "
                f"{urlparse(url).hostname}, {time.monotonic() - ready_at:.1f} s after it was Ready): result.sample is a signed URL "
                "that expires 10 minutes after the task is ready (docs.bfl.ai), and the image is gone with it. Fix: re-run the job "
                "(it is submitted again and charged again); keep workers from stalling between polling and download",
                task_id=task.task_id, cost=task.cost,
            )
        if resp.status_code != 200:
            raise BFLGenerationError(
                f"{job.job_id}: downloading the result of BFL task {task.task_id} failed with HTTP {resp.status_code}",
                task_id=task.task_id, cost=task.cost,
            )
        return resp.content

    # ----------------------------------------------------------------- HTTP
    def _check_polling_url(self, job: Job, url: str, task: BFLTask) -> None:
        """Refuse to send the key to a polling host that is neither the API root's host nor (for BFL's roots) ``*.bfl.ai``."""
        u = urlparse(url)
        host = u.hostname or ""
        bfl_root = self._api_host == "bfl.ai" or self._api_host.endswith(".bfl.ai")
        trusted = host == self._api_host or (bfl_root and (host == "bfl.ai" or host.endswith(".bfl.ai")))
        if u.scheme not in ("http", "https") or not trusted or (u.scheme == "http" and bfl_root):
            raise BFLProtocolError(
                f"{job.job_id}: BFL task {task.task_id} returned polling_url {url!r}, not on {self._api_host}: refusing to send the API "
                "key there. If a proxy rewrites polling URLs, set generator.options.base_url to that proxy",
                task_id=task.task_id, cost=task.cost,
            )

    def _call(
        self, method: str, url: str, job: Job, task: BFLTask, deadline: float, *, headers: dict[str, str],
        idempotent: bool, json: Any = None, follow_redirects: bool = False,
    ) -> httpx.Response:
        """One HTTP call with retries on 429 (Retry-After), 5xx and dropped connections; other statuses are returned.

        A request that may have reached the server (read/write timeout, connection reset mid-request) is retried only
        when ``idempotent``; connection failures before sending are always retried.

        Raises:
            BFLUnavailableError: still failing after ``max_retries`` retries.
            BFLTimeoutError: the next try would start after the job's deadline.
        """
        o = self.options
        tries = 0
        while True:
            retry_after: float | None = None
            try:
                resp = self._http.request(method, url, headers=headers, json=json, follow_redirects=follow_redirects)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
                problem = f"no connection to {urlparse(url).hostname} ({type(e).__name__})"
            except httpx.TransportError as e:
                if not idempotent:
                    raise BFLUnavailableError(
                        f"{job.job_id}: the connection to {urlparse(url).hostname} failed after the submission was sent ({type(e).__name__}: {e}); "
                        "it is not resent because BFL may already have accepted (and charged) it. Retry the job",
                        task_id=task.task_id or None, cost=task.cost,
                    ) from None
                problem = f"{type(e).__name__} talking to {urlparse(url).hostname}"
            else:
                if resp.status_code != 429 and resp.status_code < 500:
                    return resp
                problem = f"HTTP {resp.status_code}"
                if resp.status_code == 429:
                    retry_after = _retry_after(resp)
            if tries >= o.max_retries:
                raise BFLUnavailableError(
                    f"{job.job_id}: BFL stayed unavailable: {problem} on {method} {urlparse(url).path} after {tries + 1} tries. "
                    "Fix: lower generator.options.max_in_flight (429 = too many tasks in flight), or retry later",
                    task_id=task.task_id or None, cost=task.cost,
                )
            delay = retry_after if retry_after is not None else RetryPolicy(o.max_retries + 1, o.retry_base_delay, o.retry_max_delay).delay(tries + 1)
            log.info("%s: %s on %s %s; retry %d in %.2f s", job.job_id, problem, method, urlparse(url).path, tries + 1, delay)
            self._wait(delay, job, task, deadline, f"retrying after {problem}")
            tries += 1
            task.retries += 1

    def _json(self, resp: httpx.Response, job: Job, task: BFLTask, what: str) -> dict[str, Any]:
        """The JSON object of a 2xx answer; 4xx statuses become the matching :class:`BFLError`."""
        code = resp.status_code
        tid = task.task_id or None
        if code in (401, 403):
            raise BFLAuthError(
                f"{job.job_id}: BFL refused the API key (HTTP {code} on {what}: {_detail(resp)}). Fix: check {self.options.api_key_env} "
                f"(or the Secret block) holds a valid key for {self._api_host} (dashboard.bfl.ai → API → Keys)",
                task_id=tid, cost=task.cost,
            )
        if code == 402:
            raise BFLCreditsError(
                f"{job.job_id}: BFL says the account has no credits left (HTTP 402: {_detail(resp)}). Fix: add credits at dashboard.bfl.ai",
                task_id=tid, cost=task.cost,
            )
        if code in (400, 422):
            raise BFLRequestError(
                f"{job.job_id}: BFL rejected the {what} request (HTTP {code}): {_detail(resp)}. Fix: the generator.options or "
                "the format size named there (docs/bfl.md lists the accepted values)",
                task_id=tid, cost=task.cost,
            )
        if not 200 <= code < 300:
            raise BFLError(f"{job.job_id}: unexpected HTTP {code} from BFL on {what}: {_detail(resp)}", task_id=tid, cost=task.cost)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BFLProtocolError(f"{job.job_id}: BFL's {what} answer is not a JSON object: {resp.text[:200]!r}", task_id=tid, cost=task.cost)
        return data

    def _wait(self, seconds: float, job: Job, task: BFLTask, deadline: float, doing: str) -> None:
        """Sleep ``seconds``, or raise :class:`BFLTimeoutError` at once when that would pass the job's deadline."""
        if time.monotonic() + seconds > deadline:
            raise self._timeout(job, task, doing)
        time.sleep(seconds)

    def _timeout(self, job: Job, task: BFLTask, doing: str) -> BFLTimeoutError:
        return BFLTimeoutError(
            f"{job.job_id}: BFL task {task.task_id or '(not submitted)'} did not finish within generator.options.timeout = "
            f"{self.options.timeout:g} s ({doing}; {task.polls} polls, {task.retries} retries). Fix: raise timeout, or lower "
            "max_in_flight if the API is throttling",
            task_id=task.task_id or None, cost=task.cost,
        )


def _retry_after(resp: httpx.Response) -> float | None:
    """Seconds to wait from a 429's ``Retry-After`` header (seconds or an HTTP date), else its JSON ``retry_after``."""
    value = resp.headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
            except (TypeError, ValueError):
                pass
    try:
        body = resp.json()
    except ValueError:
        return None
    return _num(body.get("retry_after")) if isinstance(body, dict) else None


def _detail(resp: httpx.Response) -> str:
    """A short human text of an error answer, redacted (an endpoint may echo the ``x-key`` header back)."""
    return redact(_raw_detail(resp)) or ""


def _raw_detail(resp: httpx.Response) -> str:
    """FastAPI's ``detail`` (with field locations) or the body, cut short."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:300] or "(empty body)"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI/pydantic validation errors: [{loc, msg, type}, …]
        parts = []
        for d in detail[:5]:
            if isinstance(d, dict):
                loc = ".".join(str(p) for p in d.get("loc", []) if p != "body")
                parts.append(f"{loc}: {d.get('msg', '')}" if loc else str(d.get("msg", d)))
            else:
                parts.append(str(d))
        return "; ".join(parts)
    return str(detail)[:300]


def _describe(details: Any) -> str:
    """Moderation ``details`` as a short phrase ('Moderation Reasons: Derivative Works')."""
    if not details:
        return "no reason given"
    if isinstance(details, dict):
        return "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in details.items())[:300]
    return str(details)[:300]
