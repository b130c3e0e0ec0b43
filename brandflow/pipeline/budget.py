"""Cost accounting: what a creative costs on each backend, a run's estimate, and a budget that stops a run.

One currency inside brandflow: **US dollars** (floats, rounded to 10⁻⁶ in records). Black Forest Labs bills in
credits, converted at 1 credit = $0.01 (docs.bfl.ai/quick_start/pricing); a campaign budget can be written in
either (``budget.currency``).

Per backend, for one generated image:

- ``compositor``: $0 (CPU, no API, no GPU).
- ``bfl``: the ``cost`` the API returns for the task (credits) when it sends one; otherwise the megapixel
  price table of :data:`~brandflow.generators.bfl_options.MODELS`:
  ``first_mp + max(0, output_mp − 1) × per_mp + input_mp × per_mp`` credits, megapixels of 10⁶ px
  (BFL's ``input_mp``/``output_mp``: 1920×1080 → 2.07). Formula and prices: black-forest-labs/skills,
  bfl-api/SKILL.md; 1 MP floors cross-checked with docs.bfl.ai/quick_start/pricing. How fractional megapixels
  are rounded is not documented: this model does not round (so it can be a little under the bill).
- ``flux2`` / ``flux2-klein``: GPU-seconds × ``budget.price_per_gpu_hour`` / 3600. The actual cost uses the
  generator's measured ``seconds`` per image (denoise + decode; model loading excluded). Estimates use
  ``budget.gpu_seconds_per_image`` or :data:`GPU_SECONDS_PER_IMAGE`, scaled by output area and steps; with
  neither a price nor seconds the cost is reported as unknown, never guessed.
- any other backend: the ``cost`` its :class:`~brandflow.records.GeneratedImage` carries, else unknown.

The budget (:class:`BudgetSpec`, ``budget:`` in the campaign) is enforced by :class:`BudgetMeter`: before each
generation the job's estimated cost is *reserved*; if spent + reserved + this estimate would pass
``max_cost`` the job is refused with :class:`BudgetExhaustedError` ("budget exhausted: …") and nothing is
generated; after it, the reservation is replaced by the actual cost.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from brandflow.errors import BrandflowError
from brandflow.spec import CREDIT_USD, BudgetSpec

if TYPE_CHECKING:
    from brandflow.records import GeneratedImage, Job
    from brandflow.spec import CampaignSpec
    from brandflow.generators.bfl_options import BFLOptions

#: Pixels in one *billed* megapixel: BFL reports 1920×1080 as ``input_mp: 2.07`` (docs.bfl.ai, FLUX.2 Image Editing).
BILLING_MEGAPIXEL = 1_000_000
#: Backends that cost nothing per image.
FREE_BACKENDS = frozenset({"compositor"})
#: Backends priced by GPU time.
GPU_BACKENDS = frozenset({"flux2", "flux2-klein"})

#: Seconds per image of each local FLUX.2 variant at 1024² px (2**20) with its default steps, on one GPU, and the
#: source. ``None``: not measured — estimates then need ``budget.gpu_seconds_per_image``.
GPU_SECONDS_PER_IMAGE: dict[str, tuple[float | None, str]] = {
    "klein-4b": (0.57, "assumed: H100, bf16, 4 steps, 1024² (third-party anchor quoted in bench/gpu_throughput.py)"),
    "klein-9b": (None, "not measured"),
    "dev": (None, "not measured"),
}

CostBasis = str  # 'free' | 'bfl-api' | 'bfl-table' | 'gpu-time' | 'backend' | 'unknown' | 'reused'


def budget_of(spec: Any) -> BudgetSpec:
    """The campaign's :class:`BudgetSpec` (``spec.budget``), or the default (no cap, no GPU price) when it has none."""
    budget = getattr(spec, "budget", None)
    return budget if isinstance(budget, BudgetSpec) else BudgetSpec()


# --------------------------------------------------------------------------- per-image prices
def bfl_credits(options: BFLOptions | Mapping[str, Any], output_px: int, input_px: Sequence[int] = ()) -> float:
    """BFL's megapixel price of one task, in credits (1 credit = $0.01).

    ``first_mp + max(0, output_mp − 1) × per_mp + input_mp × per_mp``, megapixels of 10⁶ px, prices from the
    model's row of :data:`~.generate.bfl_options.MODELS` unless ``price_first_mp_credits`` /
    ``price_per_mp_credits`` override them.

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
    from brandflow.generators.bfl_options import BFLOptions, parse_options

    opts = options if isinstance(options, BFLOptions) else parse_options(options)
    first = opts.price_first_mp_credits if opts.price_first_mp_credits is not None else opts.info.first_mp_credits
    per = opts.price_per_mp_credits if opts.price_per_mp_credits is not None else opts.info.per_mp_credits
    out_mp = output_px / BILLING_MEGAPIXEL
    in_mp = sum(input_px) / BILLING_MEGAPIXEL
    return first + max(0.0, out_mp - 1.0) * per + in_mp * per


def gpu_cost(seconds: float, price_per_gpu_hour: float | None) -> float | None:
    """USD of ``seconds`` of one GPU at ``price_per_gpu_hour`` USD/h; ``None`` when the price is unknown."""
    return None if price_per_gpu_hour is None else seconds * price_per_gpu_hour / 3600.0


@dataclass(frozen=True)
class JobCost:
    """The cost of one generation: USD (``None`` = unknown), how it was obtained, and a note for humans."""

    usd: float | None
    basis: CostBasis
    note: str = ""


def generation_cost(generated: GeneratedImage, backend: str, budget: BudgetSpec | None = None) -> JobCost:
    """What one finished generation cost.

    Args:
        generated: the generator's record (``seconds``; ``cost`` / ``cost_basis`` when the backend reports them).
        backend: the backend name.
        budget: prices (``price_per_gpu_hour``); default: none.

    Returns:
        :class:`JobCost` — the backend's own number when it sent one (``bfl``: the API's cost), $0 for
        ``compositor``, GPU-seconds × price for ``flux2``/``flux2-klein``, else unknown.
    """
    budget = budget or BudgetSpec()
    reported = getattr(generated, "cost", None)
    if reported is not None:
        return JobCost(float(reported), getattr(generated, "cost_basis", None) or "backend")
    if backend in FREE_BACKENDS:
        return JobCost(0.0, "free")
    if backend in GPU_BACKENDS:
        usd = gpu_cost(generated.seconds, budget.price_per_gpu_hour)
        if usd is None:
            return JobCost(None, "unknown", "set budget.price_per_gpu_hour to price GPU time")
        return JobCost(round(usd, 6), "gpu-time", f"{generated.seconds:.2f} GPU-s × ${budget.price_per_gpu_hour:g}/h")
    return JobCost(None, "unknown", f"backend {backend!r} reports no cost")


@functools.lru_cache(maxsize=1024)
def _image_size(path: str) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header (no decode); ``(0, 0)`` when unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size
    except OSError:
        return 0, 0


def _bfl_job_px(opts: BFLOptions, width: int, height: int, ref_paths: Sequence[str] | None) -> tuple[int, list[int]]:
    """Output pixels and per-reference input pixels of one bfl job (refs unknown → the cap, an upper bound)."""
    from brandflow.errors import ImageError
    from brandflow.generators.bfl import output_size, reference_size
    from brandflow.generators.bfl_options import MEGAPIXEL

    w, h = output_size(width, height, opts.target_megapixels)
    cap = int(opts.reference_megapixels * MEGAPIXEL)
    if ref_paths is None:
        return w * h, [cap] * opts.references_limit
    inputs = []
    for p in ref_paths[: opts.references_limit]:
        rw, rh = _image_size(p)
        try:
            rw, rh = reference_size(rw, rh, cap) if rw and rh else (0, 0)
        except ImageError:
            rw, rh = 0, 0
        inputs.append(rw * rh)
    return w * h, inputs


def _gpu_seconds(spec: Any, budget: BudgetSpec, width: int, height: int) -> tuple[float | None, str]:
    """Estimated GPU-seconds for one image of a local FLUX.2 backend at a ``width × height`` format, and the source."""
    from brandflow.generators.flux2_options import MEGAPIXEL, VARIANTS, native_size, parse_options

    opts = parse_options(spec.generator.backend, spec.generator.options)
    if budget.gpu_seconds_per_image is not None:
        return budget.gpu_seconds_per_image, "budget.gpu_seconds_per_image"
    base, source = GPU_SECONDS_PER_IMAGE.get(str(opts.variant), (None, "not measured"))
    if base is None:
        return None, f"FLUX.2 {opts.variant}: seconds per image {source}; set budget.gpu_seconds_per_image"
    w, h = native_size(width, height, opts.target_megapixels, 16)
    default_steps = VARIANTS[str(opts.variant)].steps
    return base * (w * h / MEGAPIXEL) * ((opts.steps or default_steps) / default_steps), source


def job_estimate(job: Job, spec: CampaignSpec, budget: BudgetSpec | None = None) -> JobCost:
    """The expected cost of generating ``job`` once with the campaign's backend (before it runs).

    Args:
        job: the job (its format and reference images decide the megapixels).
        spec: the campaign (backend and options).
        budget: prices; default ``spec.budget``.

    Returns:
        :class:`JobCost`; ``usd`` is ``None`` when unknown (no GPU price or seconds, a third-party backend).

    Raises:
        GeneratorOptionsError: the backend's options do not validate.
    """
    return _estimate_one(spec, budget or budget_of(spec), job.format.width, job.format.height, [str(r.path) for r in _ordered(job)])


def _ordered(job: Job) -> list[Any]:
    from brandflow.generators.bfl import order_references

    return order_references(list(job.references), len(job.references))


def _estimate_one(spec: Any, budget: BudgetSpec, width: int, height: int, ref_paths: Sequence[str] | None) -> JobCost:
    backend = spec.generator.backend
    if backend in FREE_BACKENDS:
        return JobCost(0.0, "free")
    if backend == "bfl":
        from brandflow.generators.bfl_options import parse_options

        opts = parse_options(spec.generator.options)
        out_px, in_px = _bfl_job_px(opts, width, height, ref_paths)
        credits = bfl_credits(opts, out_px, in_px)
        return JobCost(credits * CREDIT_USD, "bfl-table", f"{opts.model}: {out_px / BILLING_MEGAPIXEL:.2f} MP out + {sum(in_px) / BILLING_MEGAPIXEL:.2f} MP in")
    if backend in GPU_BACKENDS:
        seconds, source = _gpu_seconds(spec, budget, width, height)
        if seconds is None:
            return JobCost(None, "unknown", source)
        usd = gpu_cost(seconds, budget.price_per_gpu_hour)
        if usd is None:
            return JobCost(None, "unknown", f"~{seconds:.2f} GPU-s per image ({source}); set budget.price_per_gpu_hour")
        return JobCost(usd, "gpu-time", f"~{seconds:.2f} GPU-s × ${budget.price_per_gpu_hour:g}/h ({source})")
    return JobCost(None, "unknown", f"backend {backend!r}: no price model")


@dataclass
class CostEstimate:
    """A run's cost before it runs, in USD.

    Attributes:
        backend: the generator backend.
        jobs: creatives planned.
        per_job: mean expected USD per creative (one attempt), or ``None`` when unknown.
        total: expected USD for every creative at one attempt each, or ``None``.
        worst: ``total`` × ``qa.max_attempts`` (every creative failing QA until its last attempt), or ``None``.
        unknown: jobs whose cost is unknown.
        basis: how the numbers were obtained ('free', 'bfl-table', 'gpu-time', 'unknown').
        notes: sources and assumptions, for humans.
        budget: the campaign's budget (for printing and the cap).
    """

    backend: str
    jobs: int
    per_job: float | None
    total: float | None
    worst: float | None
    unknown: int
    basis: str
    notes: list[str] = field(default_factory=list)
    budget: BudgetSpec = field(default_factory=BudgetSpec)

    @property
    def over_budget(self) -> bool:
        """Whether the expected total is over ``budget.max_cost`` (the run would stop early)."""
        cap = self.budget.max_usd
        return cap is not None and self.total is not None and self.total > cap

    def summary(self) -> str:
        """One line for ``brandflow validate``, in the budget's currency."""
        b = self.budget
        cap = f" · budget {b.fmt(b.max_usd)}" if b.max_usd is not None else ""
        if self.total is None:
            why = f" ({self.notes[0]})" if self.notes else ""
            return f"cost estimate ({self.backend}): unknown{why}{cap}"
        worst = f" · up to {b.fmt(self.worst)} if every creative uses all QA attempts" if self.worst and self.worst > self.total else ""
        partial = f" (+{self.unknown} creatives of unknown cost)" if self.unknown else ""
        return (
            f"cost estimate ({self.backend}, {self.basis}): {b.fmt(self.per_job)} per creative · {b.fmt(self.total)} for "
            f"{self.jobs - self.unknown} creatives{partial}{worst}{cap}"
        )


def estimate(spec: CampaignSpec, n_jobs: int, jobs: Sequence[Job] | None = None, budget: BudgetSpec | None = None) -> CostEstimate:
    """Estimate what a run of ``spec`` costs before it runs (``brandflow validate`` prints it).

    Megapixel-priced for ``bfl`` (output and input megapixels), $0 for ``compositor``, GPU-seconds × price for the
    local FLUX.2 backends, unknown otherwise.

    Args:
        spec: the campaign.
        n_jobs: creatives planned (≥ 0).
        jobs: the planned jobs, when known: each one's format and reference images are priced. Without them the
            ``n_jobs`` are spread evenly over the formats and every reference is assumed at the
            ``reference_megapixels`` cap (an upper bound for ``bfl``).
        budget: prices and cap; default ``spec.budget``.

    Returns:
        :class:`CostEstimate` in USD.

    Raises:
        GeneratorOptionsError: the backend's options do not validate.
        ValueError: ``n_jobs`` < 0.
    """
    if n_jobs < 0:
        raise ValueError(f"n_jobs must be ≥ 0, got {n_jobs}")
    budget = budget or budget_of(spec)
    costs: list[JobCost]
    if jobs is not None:
        costs = [_estimate_one(spec, budget, j.format.width, j.format.height, [str(r.path) for r in _ordered(j)]) for j in jobs]
    else:
        formats = list(spec.formats)
        costs = [_estimate_one(spec, budget, f.width, f.height, None) for f in formats for _ in range(n_jobs // len(formats))]
        costs += [_estimate_one(spec, budget, f.width, f.height, None) for f in formats[: n_jobs % len(formats)]]
    known = [c.usd for c in costs if c.usd is not None]
    unknown = len(costs) - len(known)
    total = None if costs and not known else math.fsum(known)
    per_job = total / len(known) if total is not None and known else (0.0 if total is not None else None)
    attempts = getattr(getattr(spec, "qa", None), "max_attempts", 1)
    notes = sorted({c.note for c in costs if c.note})
    basis = ",".join(sorted({c.basis for c in costs})) or "free"
    if spec.generator.backend == "bfl":
        notes.append("BFL price table (black-forest-labs/skills bfl-api; docs.bfl.ai/quick_start/pricing); runs record the API's own cost")
    return CostEstimate(
        backend=spec.generator.backend, jobs=len(costs), per_job=per_job, total=total,
        worst=None if total is None else total * attempts, unknown=unknown, basis=basis, notes=notes[:4], budget=budget,
    )


# --------------------------------------------------------------------------- the budget at run time
class BudgetExhaustedError(BrandflowError):
    """A generation was refused because it would take the run over ``budget.max_cost``; the message starts ``budget exhausted:``."""

    cost = 0.0  # nothing was generated, nothing charged


class BudgetHold:
    """A reservation of one job's estimated cost; :meth:`settle` replaces it with what was actually spent (once)."""

    def __init__(self, meter: BudgetMeter, amount: float):
        self.meter, self.amount, self.settled = meter, amount, False

    def settle(self, actual: float | None) -> None:
        """Release the reservation and add ``actual`` USD to the spent total (``None`` = unknown → the estimate counts)."""
        self.meter._settle(self, actual)


class BudgetMeter:
    """Running total of one run's spending against its budget; thread-safe (the flow runs jobs concurrently).

    Attributes:
        budget: the campaign's :class:`BudgetSpec`.
        spent: USD spent by settled generations.
        reserved: USD held by generations in flight.
        stopped: generations refused for the budget.
        unknown: settled generations whose actual cost was unknown (their estimate was counted).
    """

    def __init__(self, budget: BudgetSpec | None = None):
        self.budget = budget or BudgetSpec()
        self.spent = self.reserved = 0.0
        self.stopped = self.unknown = 0
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: Any) -> BudgetMeter:
        """A meter for ``spec.budget`` (no cap when the campaign has none)."""
        return cls(budget_of(spec))

    def reserve(self, job: Job, spec: CampaignSpec) -> BudgetHold:
        """Reserve ``job``'s estimated cost, or refuse it.

        With a cap, the job is refused when spent + reserved + its estimate would pass ``max_cost`` (an unknown
        estimate counts as 0: such a job is refused only once the cap is already reached).

        Raises:
            BudgetExhaustedError: "budget exhausted: …" with the amounts in the budget's currency and the fix.
            GeneratorOptionsError: the backend's options do not validate (estimating needs them).
        """
        cap = self.budget.max_usd
        est = job_estimate(job, spec, self.budget) if cap is not None else JobCost(None, "unknown")
        need = est.usd or 0.0
        with self._lock:
            committed = self.spent + self.reserved
            if cap is not None and (committed + need > cap + 1e-9 or (est.usd is None and committed >= cap)):
                self.stopped += 1
                f = self.budget.fmt
                raise BudgetExhaustedError(
                    f"budget exhausted: {f(committed)} of the {f(cap)} budget is spent or held by jobs in flight, and "
                    f"{job.job_id} would cost {f(est.usd) if est.usd is not None else 'an unknown amount'} more; not generated. "
                    "Fix: raise budget.max_cost and re-run (finished creatives are reused)"
                )
            self.reserved += need
        return BudgetHold(self, need)

    def _settle(self, hold: BudgetHold, actual: float | None) -> None:
        with self._lock:
            if hold.settled:
                return
            hold.settled = True
            self.reserved -= hold.amount
            if actual is None:
                self.unknown += 1
                self.spent += hold.amount
            else:
                self.spent += actual


# --------------------------------------------------------------------------- totals for records
#: How :func:`~brandflow.pipeline.stages.run_attempt` writes a refused generation into ``Attempt.error``.
BUDGET_STOP_PREFIX = "BudgetExhaustedError: budget exhausted"


def job_cost(attempts: Sequence[Any]) -> float | None:
    """USD spent on a job's attempts (``Attempt.cost``), or ``None`` when any attempt's cost is unknown."""
    costs = [getattr(a, "cost", None) for a in attempts]
    return None if any(c is None for c in costs) else round(math.fsum(costs), 6)


def stopped_by_budget(attempt: Any) -> bool:
    """Whether ``attempt`` was refused by the budget (its error starts with ``BudgetExhaustedError: budget exhausted``)."""
    return bool(getattr(attempt, "error", None) and attempt.error.startswith(BUDGET_STOP_PREFIX))
