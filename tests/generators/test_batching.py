"""Batched generation in the flow: jobs of one native size and reference set share a pipeline call, and
every image, its cost, its cache record and its errors stay those of its own job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from brandflow.spec import load_campaign
from brandflow.pipeline import stages
from brandflow.pipeline.budget import BudgetExhaustedError, BudgetMeter
from brandflow.generators import flux2
from brandflow.generators.flux2_options import GeneratorOptionsError
from brandflow.pipeline.plan import plan_jobs
from brandflow.feed.catalog import load_feed


def _campaign(campaign_dir: Path, options: dict, variants: int = 3, formats: list[dict] | None = None, **extra) -> Path:
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = formats or [{"name": "square", "width": 1080, "height": 1080, "file_type": "png"}]
    spec["variants"] = variants
    spec["generator"] = {"backend": "flux2-klein", "options": options}
    spec["qa"] = {"checks": ["format"], "max_attempts": 1}  # random weights: only the format check means anything
    spec.update(extra)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _jobs(path: Path, product: str = "white-plimsolls"):
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id == product])
    return spec, brand, jobs


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).astype(int)


def test_batch_jobs_groups_by_native_size_and_references(campaign_dir, tiny_klein_dir, tiny_options):
    formats = [
        {"name": "square", "width": 1080, "height": 1080, "file_type": "png"},
        {"name": "square-small", "width": 540, "height": 540, "file_type": "png"},  # same aspect → same native size
        {"name": "story", "width": 1080, "height": 1920, "file_type": "png"},
    ]
    path = _campaign(campaign_dir, tiny_options(tiny_klein_dir, batch_size=4), variants=2, formats=formats)
    spec, _, jobs = _jobs(path)
    batches = stages.batch_jobs(jobs, spec, 4)
    assert sorted(len(b) for b in batches) == [2, 4], "4 square jobs (two formats, one native size) and 2 story jobs"
    for b in batches:
        assert len({j.format.height / j.format.width for j in b}) == 1
    assert [j.job_id for b in batches for j in b] != [] and sum(map(len, batches)) == len(jobs)
    assert [len(b) for b in stages.batch_jobs(jobs, spec, 3)] == [3, 1, 2]


def test_batch_stage_matches_single_generation_and_resumes(campaign_dir, tiny_klein_dir, tiny_options, tmp_path, pipeline_calls):
    path = _campaign(campaign_dir, tiny_options(tiny_klein_dir, batch_size=3))
    spec, brand, jobs = _jobs(path)
    assert stages.batch_size_of(spec) == 3

    out = stages.generate_batch_stage(jobs, spec, brand, tmp_path / "batched")
    assert len(pipeline_calls) == 1 and len(pipeline_calls[0]["prompt"]) == 3
    for job in jobs:
        image, cached = out[job.job_id]
        alone, _ = stages.generate_stage(job, spec, brand, tmp_path / "alone")
        assert not cached and image.seconds > 0 and image.cost_basis == alone.cost_basis, "priced as a single image is"
        assert np.abs(_pixels(image.path) - _pixels(alone.path)).max() <= 1, "a batched image is its job's own image"
        assert image.path.parent == stages.work_dir(job, spec, brand, tmp_path / "batched")

    pipeline_calls.clear()
    again = stages.generate_batch_stage(jobs, spec, brand, tmp_path / "batched")
    assert pipeline_calls == [] and all(again[j.job_id][1] for j in jobs), "a re-run reuses every image"
    reused, cached = stages.generate_stage(jobs[0], spec, brand, tmp_path / "batched")
    assert cached and reused.sha256 == out[jobs[0].job_id][0].sha256, "the single-job path reads the batch's records"


def test_budget_refuses_jobs_of_a_batch_one_by_one(campaign_dir, tiny_klein_dir, tiny_options, tmp_path, pipeline_calls):
    path = _campaign(campaign_dir, tiny_options(tiny_klein_dir, batch_size=3))
    spec, brand, jobs = _jobs(path)

    class Cap(BudgetMeter):
        """Refuses the third job, as a spent budget would."""

        def reserve(self, job, spec):
            if job.job_id == jobs[2].job_id:
                raise BudgetExhaustedError(f"budget exhausted: {job.job_id} would pass the cap")
            return super().reserve(job, spec)

    out = stages.generate_batch_stage(jobs, spec, brand, tmp_path, Cap(BudgetMeter.from_spec(spec).budget))
    assert isinstance(out[jobs[2].job_id], BudgetExhaustedError)
    assert len(pipeline_calls) == 1 and len(pipeline_calls[0]["prompt"]) == 2, "the refused job is left out of the call"
    attempt = stages.run_attempt(jobs[2], spec, brand, tmp_path, pregenerated=out[jobs[2].job_id])
    assert attempt.error and attempt.error.startswith("BudgetExhaustedError: budget exhausted")
    assert attempt.creative is None


def test_failed_batch_leaves_its_jobs_to_go_alone(campaign_dir, tiny_klein_dir, tiny_options, tmp_path, monkeypatch, caplog):
    path = _campaign(campaign_dir, tiny_options(tiny_klein_dir, batch_size=3))
    spec, brand, jobs = _jobs(path)
    calls: list[int] = []
    real = flux2.Flux2Generator._call_pipeline

    def too_big_for_three(gen, pipe, **kwargs):
        calls.append(len(kwargs["prompt"]))
        if len(kwargs["prompt"]) > 1:
            raise flux2.GenerationOutOfMemoryError("out of CUDA memory (simulated)")
        return real(gen, pipe, **kwargs)

    monkeypatch.setattr(flux2.Flux2Generator, "_call_pipeline", too_big_for_three)
    out = stages.generate_batch_stage(jobs, spec, brand, tmp_path)
    assert out == {} and "generating them one at a time" in caplog.text
    attempts = [stages.run_attempt(j, spec, brand, tmp_path, pregenerated=out.get(j.job_id)) for j in jobs]
    assert [a.error for a in attempts] == [None, None, None]
    assert calls == [3, 1, 1, 1]


def test_backend_without_batches_generates_per_job(campaign_dir):
    spec, _ = load_campaign(campaign_dir / "campaign.yaml")  # the example: compositor
    assert stages.batch_size_of(spec) == 1


def test_unbuildable_backend_is_left_to_each_job(campaign_dir, tiny_klein_dir, tiny_options):
    path = _campaign(campaign_dir, tiny_options(tiny_klein_dir))
    spec, _, _ = _jobs(path)
    broken = spec.model_copy(update={"generator": spec.generator.model_copy(update={"options": {"steps": -1}})})
    with pytest.raises(GeneratorOptionsError):
        flux2.Flux2KleinGenerator(broken.generator.options)
    assert stages.batch_size_of(broken) == 1


def test_campaign_flow_batches_generation(prefect_harness, campaign_dir, tiny_klein_dir, tiny_options, tmp_path, pipeline_calls):
    from brandflow.flows.campaign import campaign_flow
    from brandflow.manifest import RunManifest

    path = _campaign(campaign_dir, tiny_options(tiny_klein_dir, batch_size=2), variants=3)
    before = flux2.load_count()
    result = campaign_flow(str(path), str(tmp_path / "run"), only=["white-plimsolls"])

    manifest = RunManifest.read(result.manifest)
    assert [j.final.error for j in manifest.jobs] == [None] * 3
    assert sorted(len(c["prompt"]) for c in pipeline_calls) == [1, 2], "3 jobs → a batch of 2 and a batch of 1"
    assert flux2.load_count() - before == 1, "one resident pipeline for the whole run"
    for j in manifest.jobs:
        a = j.final
        assert a.timings["generate"] > 0, "each job carries its share of the batch's time"
        with Image.open(a.creative.path) as im:
            assert im.size == (1080, 1080)
    assert manifest.summary.published == 3

    pipeline_calls.clear()
    again = RunManifest.read(campaign_flow(str(path), str(tmp_path / "run"), only=["white-plimsolls"]).manifest)
    assert pipeline_calls == [] and all(j.final.cached for j in again.jobs), "a re-run generates nothing"
