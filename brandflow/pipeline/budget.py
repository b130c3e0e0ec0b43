"""Cost accounting: a run's estimate, and a budget that stops a run — for any backend, by its own price.

One currency inside brandflow: **US dollars** (floats, rounded to 10⁻⁶ in records). A campaign budget can be
written in USD or in BFL credits (``budget.currency``; 1 credit = $0.01).

This module never names a backend: each generator plugin prices itself (:mod:`brandflow.generators.base`):
``estimate`` gives a job's expected cost before it runs and ``price`` what a finished image cost (the
compositor is free, ``bfl`` uses the API's reported cost or its price table, the local FLUX.2 backends
GPU-seconds × ``budget.price_per_gpu_hour``; a backend without a price model is "unknown", never guessed).

The budget (:class:`BudgetSpec`, ``budget:`` in the campaign) is enforced by :class:`BudgetMeter`: before each
generation the job's estimated cost is *reserved*; if spent + reserved + this estimate would pass
``max_cost`` the job is refused with :class:`BudgetExhaustedError` ("budget exhausted: …") and nothing is
generated; after it, the reservation is replaced by the actual cost.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brandflow.errors import BrandflowError
from brandflow.generators.base import Generator, JobCost, generator_class, gpu_cost, order_references
from brandflow.spec import BudgetSpec

if TYPE_CHECKING:
    from brandflow.records import GeneratedImage, Job
    from brandflow.spec import CampaignSpec

__all__ = ["BudgetExhaustedError", "BudgetMeter", "BudgetSpec", "CostEstimate", "JobCost", "estimate",
           "generation_cost", "gpu_cost", "job_estimate", "job_cost", "stopped_by_budget"]

CostBasis = str  # 'free' | 'bfl-api' | 'bfl-table' | 'gpu-time' | 'backend' | 'unknown' | 'reused'


def budget_of(spec: Any) -> BudgetSpec:
    """The campaign's :class:`BudgetSpec` (``spec.budget``), or the default (no cap, no GPU price) when it has none."""
    budget = getattr(spec, "budget", None)
    return budget if isinstance(budget, BudgetSpec) else BudgetSpec()


def generation_cost(generated: GeneratedImage, backend: str, budget: BudgetSpec | None = None) -> JobCost:
    """What one finished generation cost, as the backend prices it (its ``price``).

    Args:
        generated: the generator's record (``seconds``; ``cost`` / ``cost_basis`` when the backend reports them).
        backend: the backend name.
        budget: prices (``price_per_gpu_hour``); default: none.

    Returns:
        :class:`JobCost`; unknown for a backend that is not installed or has no price model.
    """
    from brandflow.registry import UnknownPluginError

    budget = budget or BudgetSpec()
    try:
        return generator_class(backend).price(generated, budget)
    except UnknownPluginError:  # a record of a backend no longer installed: only what it reported
        return Generator.price(generated, budget)


def _references(job: Job) -> list[Path]:
    """The job's reference images in the order backends send them (primary packshot first)."""
    return [r.path for r in order_references(list(job.references))]


class _Pricer:
    """The campaign backend's ``estimate`` with its options parsed once."""

    def __init__(self, spec: Any, budget: BudgetSpec):
        self.cls = generator_class(spec.generator.backend)
        self.options = self.cls.parse_options(spec.generator.options)
        self.budget = budget

    def __call__(self, width: int, height: int, references: Sequence[Path] | None) -> JobCost:
        return self.cls.estimate(self.options, width, height, references, self.budget)


def job_estimate(job: Job, spec: CampaignSpec, budget: BudgetSpec | None = None) -> JobCost:
    """The expected cost of generating ``job`` once with the campaign's backend (before it runs).

    Args:
        job: the job (its format and reference images decide the megapixels).
        spec: the campaign (backend and options).
        budget: prices; default ``spec.budget``.

    Returns:
        :class:`JobCost`; ``usd`` is ``None`` when unknown (no GPU price or seconds, a backend without a price model).

    Raises:
        GeneratorOptionsError: the backend's options do not validate.
    """
    return _Pricer(spec, budget or budget_of(spec))(job.format.width, job.format.height, _references(job))


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

    Each job is priced by the backend's own ``estimate`` (its format and reference images).

    Args:
        spec: the campaign.
        n_jobs: creatives planned (≥ 0).
        jobs: the planned jobs, when known: each one's format and reference images are priced. Without them the
            ``n_jobs`` are spread evenly over the formats and every reference is assumed at the
            backend's reference cap (an upper bound).
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
    price = _Pricer(spec, budget)
    costs: list[JobCost]
    if jobs is not None:
        costs = [price(j.format.width, j.format.height, _references(j)) for j in jobs]
    else:
        formats = list(spec.formats)
        costs = [price(f.width, f.height, None) for f in formats for _ in range(n_jobs // len(formats))]
        costs += [price(f.width, f.height, None) for f in formats[: n_jobs % len(formats)]]
    known = [c.usd for c in costs if c.usd is not None]
    unknown = len(costs) - len(known)
    total = None if costs and not known else math.fsum(known)
    per_job = total / len(known) if total is not None and known else (0.0 if total is not None else None)
    attempts = getattr(getattr(spec, "qa", None), "max_attempts", 1)
    notes = sorted({c.note for c in costs if c.note})
    basis = ",".join(sorted({c.basis for c in costs})) or "free"
    if getattr(price.cls, "pricing", "") and basis not in ("free", "unknown"):
        notes.append(price.cls.pricing)
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
def job_cost(attempts: Sequence[Any]) -> float | None:
    """USD spent on a job's attempts (``Attempt.cost``), or ``None`` when any attempt's cost is unknown."""
    costs = [getattr(a, "cost", None) for a in attempts]
    return None if any(c is None for c in costs) else round(math.fsum(costs), 6)


def stopped_by_budget(attempt: Any) -> bool:
    """Whether ``attempt`` was refused by the budget (``Attempt.stopped == 'budget'``, set from the typed
    :class:`BudgetExhaustedError`, never from its message)."""
    return getattr(attempt, "stopped", None) == "budget"
