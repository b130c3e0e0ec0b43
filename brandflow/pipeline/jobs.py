"""Jobs end to end, plain Python: resumption, QA retries, and batches of jobs run as one unit of work.

The flow (``flows/campaign.py``) submits one Prefect task per :func:`run_batch` call, and the benchmark's plain
loop calls the very same functions, so both do the same work. A Prefect task run costs ~35–40 ms of CPU
(half of it in the API server), about a third of one creative's work: one task per *batch* of creatives
keeps orchestration a few percent of the run while the UI still shows progress batch by batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator

from pathlib import Path

from brandflow.pipeline.budget import BudgetMeter
from brandflow.pipeline.plan import next_attempt
from brandflow.pipeline.stages import Pregenerated, batch_jobs, batch_size_of, cached_attempt, generate_batch_stage, run_attempt
from brandflow.records import Attempt, Job
from brandflow.spec import BrandKit, CampaignSpec

#: ``(final job, its attempts in order)``: what running (or resuming) one job yields.
JobOutcome = tuple[Job, list[Attempt]]

#: Largest batch of creatives in one task: ~16 × 0.25 s of CPU, so a retried or failed task redoes little.
MAX_BATCH = 16
#: Batches per worker thread, at least: enough that the last batches balance across the threads.
BATCHES_PER_WORKER = 4


def resumed(job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> JobOutcome | None:
    """``job``'s outcome from an earlier run in ``run_dir`` when it is complete — every attempt it needed,
    up to one that did not fail QA or ``qa.max_attempts`` — else ``None`` (something must still run).

    Reads only the stage records and hashes their files (no decoding, no writing), so a re-run that finds
    everything done costs about one sha256 per file.
    """
    attempts: list[Attempt] = []
    while True:
        attempt = cached_attempt(job, spec, brand, run_dir)
        if attempt is None:
            return None
        attempts.append(attempt)
        if attempt.qa is None or attempt.qa.verdict != "fail" or job.attempt >= spec.qa.max_attempts:
            return job, attempts
        job = next_attempt(job, spec)


def run_job(
    job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path, budget: BudgetMeter | None = None,
    pregenerated: Pregenerated | None = None,
) -> JobOutcome:
    """Every attempt of one job: generate → compose → QA, and while QA says ``fail`` the next seed, up to
    ``qa.max_attempts``. ``pregenerated`` is the first attempt's image from a batch call (see
    :func:`~brandflow.pipeline.stages.generate_batch_stage`). Never raises for a bad product (see
    :func:`~brandflow.pipeline.stages.run_attempt`)."""
    attempts = [run_attempt(job, spec, brand, run_dir, budget, pregenerated)]
    while attempts[-1].qa is not None and attempts[-1].qa.verdict == "fail" and job.attempt < spec.qa.max_attempts:
        job = next_attempt(job, spec)
        attempts.append(run_attempt(job, spec, brand, run_dir, budget))
    return job, attempts


def run_batch(
    jobs: list[Job], spec: CampaignSpec, brand: BrandKit, run_dir: Path, budget: BudgetMeter | None = None,
    on_done: Callable[[JobOutcome], None] | None = None,
) -> list[JobOutcome]:
    """:func:`run_job` for each of ``jobs``, in order; with a backend that renders several images per call
    (``batch_size`` > 1) their first attempts are generated in such calls, grouped by :func:`batch_jobs`.
    ``on_done`` is called with each outcome as it finishes (progress)."""
    size = batch_size_of(spec)
    groups = batch_jobs(jobs, spec, size) if size > 1 else [[job] for job in jobs]
    out: dict[str, JobOutcome] = {}
    for group in groups:
        pre = generate_batch_stage(group, spec, brand, run_dir, budget) if size > 1 else {}
        for job in group:
            out[job.job_id] = outcome = run_job(job, spec, brand, run_dir, budget, pre.get(job.job_id))
            if on_done is not None:
                on_done(outcome)
    return [out[job.job_id] for job in jobs]


def batches(jobs: list[Job], workers: int, multiple: int = 1) -> list[list[Job]]:
    """Split ``jobs`` (in order, so a product's jobs stay together) into batches for :func:`run_batch`:
    at least :data:`BATCHES_PER_WORKER` per worker thread when there are enough jobs, at most
    :data:`MAX_BATCH` jobs each, and a multiple of ``multiple`` (the backend's images per call) when possible."""
    if not jobs:
        return []
    size = max(1, min(MAX_BATCH, math.ceil(len(jobs) / (max(1, workers) * BATCHES_PER_WORKER))))
    if multiple > 1:
        size = max(multiple, size // multiple * multiple)
    return [jobs[i : i + size] for i in range(0, len(jobs), size)]


def batch_label(jobs: list[Job]) -> str:
    """A short task-run label for a batch: ``<first product>…<last product>-x<n>`` (ids cut to 24 characters,
    only ``[A-Za-z0-9._-]``)."""

    def clean(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s)[:24]

    first, last = clean(jobs[0].product_id), clean(jobs[-1].product_id)
    return f"{first}-x{len(jobs)}" if first == last else f"{first}…{last}-x{len(jobs)}"


def split_resumed(
    jobs: list[Job], spec: CampaignSpec, brand: BrandKit, run_dir: Path
) -> tuple[dict[str, JobOutcome], list[Job]]:
    """``(outcomes of the jobs already complete in run_dir, keyed by job_id; the jobs still to run)``."""
    done: dict[str, JobOutcome] = {}
    todo: list[Job] = []
    for job in jobs:
        if (outcome := resumed(job, spec, brand, run_dir)) is not None:
            done[job.job_id] = outcome
        else:
            todo.append(job)
    return done, todo


def chunked(items: list, size: int) -> Iterator[list]:
    """``items`` in consecutive lists of at most ``size``."""
    for i in range(0, len(items), max(1, size)):
        yield items[i : i + size]
