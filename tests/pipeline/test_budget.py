"""The cost model: BFL's megapixel prices, GPU time, run estimates, and the budget that stops a run."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from brandflow.records import GeneratedImage
from brandflow.spec import load_campaign
from brandflow.feed.catalog import load_feed
from brandflow.pipeline.budget import (
    BudgetExhaustedError,
    BudgetMeter,
    BudgetSpec,
    estimate,
    generation_cost,
    gpu_cost,
    job_estimate,
)
from brandflow.generators.bfl_options import bfl_credits
from brandflow.generators.flux2_options import GeneratorOptionsError
from brandflow.pipeline.plan import plan_jobs

MP = 1_000_000  # BFL bills megapixels of 10**6 px


# --------------------------------------------------------------------------- BFL prices
@pytest.mark.parametrize(
    ("model", "t2i_usd", "i2i_usd"),
    [  # 1 MP out (and 1 MP in): docs.bfl.ai/quick_start/pricing floors; black-forest-labs/skills bfl-api "1MP T2I / 1MP I2I"
        ("flux-2-klein-4b", 0.014, 0.015),
        ("flux-2-klein-9b", 0.015, 0.017),
        ("flux-2-pro", 0.03, 0.045),
        ("flux-2-max", 0.07, 0.10),
        ("flux-2-flex", 0.05, 0.10),
    ],
)
def test_bfl_prices_match_the_published_one_megapixel_prices(model, t2i_usd, i2i_usd):
    assert bfl_credits({"model": model}, 1 * MP) * 0.01 == pytest.approx(t2i_usd)
    assert bfl_credits({"model": model}, 1 * MP, [1 * MP]) * 0.01 == pytest.approx(i2i_usd)


def test_bfl_price_formula_scales_with_output_and_input_megapixels():
    # flux-2-max: 7 credits first MP, 3 per further output MP and per input MP.
    assert bfl_credits({"model": "flux-2-max"}, 2048 * 2048, [1_000_000, 500_000]) == pytest.approx(7 + 3.194304 * 3 + 1.5 * 3)
    # under one megapixel out still pays the first megapixel
    assert bfl_credits({"model": "flux-2-pro"}, 512 * 512) == pytest.approx(3.0)
    # the price table can be overridden per campaign (prices change; the API's own cost wins at run time anyway)
    assert bfl_credits({"model": "flux-2-pro", "price_first_mp_credits": 2.0, "price_per_mp_credits": 1.0}, 2 * MP, [MP]) == pytest.approx(4.0)
    with pytest.raises(GeneratorOptionsError):
        bfl_credits({"model": "flux-2-pro", "price_per_mp_credits": -1}, MP)


# --------------------------------------------------------------------------- finished generations
def _generated(**extra) -> GeneratedImage:
    fields = {"path": Path("/tmp/x.png"), "width": 1024, "height": 1024, "sha256": "0" * 64, "seconds": 3.6, **extra}
    return GeneratedImage(**{k: v for k, v in fields.items() if k in GeneratedImage.model_fields})


def test_generation_cost_per_backend():
    assert generation_cost(_generated(), "compositor").usd == 0.0
    gpu = generation_cost(_generated(), "flux2-klein", BudgetSpec(price_per_gpu_hour=10.0))
    assert (gpu.usd, gpu.basis) == (pytest.approx(0.01), "gpu-time")  # 3.6 s × $10/h
    unknown = generation_cost(_generated(), "flux2", BudgetSpec())
    assert unknown.usd is None and "price_per_gpu_hour" in unknown.note
    assert generation_cost(_generated(), "acme-remote").usd is None
    assert gpu_cost(3600, 2.5) == 2.5 and gpu_cost(1, None) is None
    if "cost" in GeneratedImage.model_fields:  # once records carry the backend's own number, it wins
        reported = generation_cost(_generated(cost=0.0307, cost_basis="bfl-api"), "bfl")
        assert (reported.usd, reported.basis) == (0.0307, "bfl-api")


# --------------------------------------------------------------------------- estimates
def _campaign(campaign_dir: Path, backend: str, options: dict | None = None, formats=None) -> tuple:
    path = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(path.read_text())
    data["generator"] = {"backend": backend, "options": options or {}}
    if formats:
        data["formats"] = formats
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products[:4])
    return spec, jobs


def test_estimate_compositor_is_free(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "compositor")
    est = estimate(spec, len(jobs), jobs)
    assert (est.total, est.per_job, est.unknown) == (0.0, 0.0, 0) and est.jobs == len(jobs)
    assert "$0.0000 per creative" in est.summary()


def test_estimate_bfl_prices_output_and_input_megapixels_of_each_job(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "bfl", {"model": "flux-2-pro", "max_references": 1},
                           formats=[{"name": "square", "width": 1080, "height": 1080}])
    budget = BudgetSpec(max_cost=1.0)
    est = estimate(spec, len(jobs), jobs, budget=budget)
    # 1024² out (1.048576 MP) + the primary packshot as sent: the example's first four are 1080 × 1080, over the
    # 1024² cap → sent as 1024 × 1024, 1.048576 MP in
    for job in jobs:
        one = job_estimate(job, spec, budget)
        assert one.basis == "bfl-table"
        assert one.usd == pytest.approx((3 + 0.048576 * 1.5 + 1.048576 * 1.5) * 0.01)
    assert est.total == pytest.approx(sum(job_estimate(j, spec, budget).usd for j in jobs))
    assert est.worst == pytest.approx(est.total * spec.qa.max_attempts)
    line = est.summary()
    assert "bfl-table" in line and f"for {len(jobs)} creatives" in line and "budget $1.00" in line
    # without the jobs, references are assumed at the cap: an upper bound
    rough = estimate(spec, len(jobs), budget=budget)
    assert rough.total >= est.total and rough.jobs == len(jobs)


def test_estimate_in_credits_and_over_budget(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "bfl", {"model": "flux-2-max"})
    est = estimate(spec, len(jobs), jobs, budget=BudgetSpec(max_cost=10, currency="credits"))
    assert est.budget.max_usd == pytest.approx(0.10) and est.over_budget
    assert "credits per creative" in est.summary() and "budget 10.00 credits" in est.summary()


def test_estimate_local_gpu_needs_a_price_and_seconds(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "flux2-klein", formats=[{"name": "square", "width": 1080, "height": 1080}])
    unknown = estimate(spec, len(jobs), jobs, budget=BudgetSpec())
    assert unknown.total is None and unknown.unknown == len(jobs) and "unknown" in unknown.summary()
    priced = estimate(spec, len(jobs), jobs, budget=BudgetSpec(price_per_gpu_hour=3.6))
    assert priced.basis == "gpu-time" and priced.per_job == pytest.approx(0.57 * 3.6 / 3600)  # klein-4b table, 1024²
    spec_dev, jobs_dev = _campaign(campaign_dir, "flux2")
    assert estimate(spec_dev, len(jobs_dev), jobs_dev, budget=BudgetSpec(price_per_gpu_hour=3.6)).total is None  # dev: not measured
    told = estimate(spec_dev, len(jobs_dev), jobs_dev, budget=BudgetSpec(price_per_gpu_hour=3.6, gpu_seconds_per_image=20))
    assert told.per_job == pytest.approx(0.02)


def test_estimate_checks_the_backends_options(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "bfl", {"model": "flux-2-pro"})
    bad = spec.model_copy(update={"generator": spec.generator.model_copy(update={"options": {"modle": "x"}})})
    with pytest.raises(GeneratorOptionsError, match="generator.options.modle"):
        estimate(bad, len(jobs), jobs)


# --------------------------------------------------------------------------- the budget at run time
def test_budget_refuses_the_job_that_would_exceed_it(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "bfl", {"model": "flux-2-pro", "max_references": 1},
                           formats=[{"name": "square", "width": 1080, "height": 1080}])
    each = job_estimate(jobs[0], spec).usd
    meter = BudgetMeter(BudgetSpec(max_cost=each * 2.5))
    a, b = meter.reserve(jobs[0], spec), meter.reserve(jobs[0], spec)
    with pytest.raises(BudgetExhaustedError, match=r"^budget exhausted: .* would cost \$0\.0\d+ more; not generated"):
        meter.reserve(jobs[0], spec)
    assert meter.stopped == 1
    a.settle(each / 2)  # the API charged less than the table said: room for one more
    b.settle(each)
    b.settle(each)  # settling twice counts once
    assert meter.spent == pytest.approx(each * 1.5) and meter.reserved == pytest.approx(0)
    meter.reserve(jobs[0], spec).settle(None)  # unknown actual cost: the estimate is counted
    assert meter.spent == pytest.approx(each * 2.5) and meter.unknown == 1


def test_budget_with_unknown_prices_stops_once_reached(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "flux2-klein")
    meter = BudgetMeter(BudgetSpec(max_cost=0.01))
    meter.reserve(jobs[0], spec).settle(0.006)
    meter.reserve(jobs[0], spec).settle(0.006)  # allowed: the estimate is unknown and 0.006 < 0.01
    with pytest.raises(BudgetExhaustedError, match="an unknown amount"):
        meter.reserve(jobs[0], spec)


def test_no_cap_never_refuses(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "bfl")
    meter = BudgetMeter()
    for _ in range(100):
        meter.reserve(jobs[0], spec).settle(1.0)
    assert meter.spent == 100.0 and meter.stopped == 0


def test_budget_is_exact_under_concurrent_reservations(campaign_dir):
    spec, jobs = _campaign(campaign_dir, "bfl", {"model": "flux-2-pro", "max_references": 1},
                           formats=[{"name": "square", "width": 1080, "height": 1080}])
    each = job_estimate(jobs[0], spec).usd
    meter = BudgetMeter(BudgetSpec(max_cost=each * 10 + each / 2))
    granted, refused = [], []
    barrier = threading.Barrier(40)

    def go() -> None:
        barrier.wait()
        try:
            granted.append(meter.reserve(jobs[0], spec))
        except BudgetExhaustedError:
            refused.append(1)

    threads = [threading.Thread(target=go) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(granted), len(refused)) == (10, 30) and meter.stopped == 30


def test_budget_spec_units():
    assert BudgetSpec(max_cost=2500, currency="credits").max_usd == pytest.approx(25.0)
    assert BudgetSpec(max_cost=25).max_usd == 25 and BudgetSpec().max_usd is None
    assert BudgetSpec(currency="credits").fmt(0.0307) == "3.07 credits" and BudgetSpec().fmt(12.5) == "$12.50"
    with pytest.raises(ValueError):
        BudgetSpec(max_cost=0)
