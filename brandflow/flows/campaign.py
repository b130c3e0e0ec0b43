"""The campaign flow: the data flow of DESIGN.md, top to bottom, as Prefect tasks.

    campaign.yaml → spec → product feed → jobs → [generate → compose → QA]* → publish → manifest + report

Tasks pass paths, hashes and small records — never pixels. Stage work lives in
``brandflow.tasks`` and ``brandflow.qa``; this module only wires it.
"""

from __future__ import annotations

import shutil
import time
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from brandflow import progress
from brandflow.manifest import RunManifest, RunResult, RunSummary
from brandflow.qa.report import render_report
from brandflow.records import Attempt, Job, JobRecord, Product, PublishedAsset, Rejection
from brandflow.spec import BrandKit, CampaignSpec, load_campaign
from brandflow.tasks.catalog import load_feed
from brandflow.tasks.plan import next_attempt, plan_jobs
from brandflow.tasks.publish.s3 import S3UnavailableError
from brandflow.tasks.stages import publish_stage, run_attempt

# Inputs are pydantic records, hashed by nothing: resumption is content-addressed in the run folder
# (see tasks/stages.py), so Prefect's input-hash cache would only cost time.
_task = dict(cache_policy=NO_CACHE, persist_result=False)


@task(name="load-campaign", **_task)
def load_spec(spec_path: str) -> tuple[CampaignSpec, BrandKit]:
    """Parse and validate the campaign YAML and its brand kit."""
    return load_campaign(spec_path)


@task(name="load-product-feed", **_task)
def load_products(spec: CampaignSpec, only: list[str] | None, limit: int | None) -> tuple[list[Product], list[Rejection]]:
    """Read the product feed; bad rows become rejections with their row number and reason."""
    products, rejections = load_feed(spec.feed)
    if only:
        products = [p for p in products if p.id in set(only)]
    return products[:limit] if limit else products, rejections


@task(name="plan-jobs", **_task)
def plan(spec: CampaignSpec, brand: BrandKit, products: list[Product]) -> tuple[list[Job], list[Rejection]]:
    """product × format × variant → jobs with seeds, structured prompts and overlay text."""
    return plan_jobs(spec, brand, products)


@task(name="make-creative", task_run_name="make-{job.product_id}-{job.format.name}-v{job.variant}-a{job.attempt}", **_task)
def make_creative(job: Job, spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> Attempt:
    """generate → compose → QA for one attempt of one job."""
    return run_attempt(job, spec, brand, run_dir)


def _store_unavailable(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry_condition_fn signature
    """Retry the publish task only when the store stayed unavailable through the publisher's own retries
    (throttling, 5xx, dropped connections); a 4xx or a bad file is final."""
    try:
        state.result()
    except S3UnavailableError:
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


@task(name="publish", task_run_name="publish-{job.product_id}-{job.format.name}-v{job.variant}", retries=2,
      retry_delay_seconds=[30, 120], retry_condition_fn=_store_unavailable, **_task)
def publish(attempt: Attempt, job: Job, spec: CampaignSpec, target: str) -> PublishedAsset:
    """Publish one creative that passed QA (idempotent by content sha256)."""
    assert attempt.creative is not None and attempt.qa is not None
    return publish_stage(attempt.creative, job, attempt.qa, spec, target)


@task(name="write-run-outputs", **_task)
def write_outputs(manifest: RunManifest, run_dir: Path) -> tuple[Path, Path]:
    """Write manifest.json and the self-contained report.html; returns their paths."""
    return manifest.write(run_dir / "manifest.json"), render_report(manifest, run_dir / "report.html")


def make_all(jobs: list[Job], spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> dict[str, tuple[Job, list[Attempt]]]:
    """Every job through generate → compose → QA; a QA 'fail' is retried with the next seed up to
    ``qa.max_attempts``. Returns ``job_id → (final job, attempts)``."""
    history: dict[str, tuple[Job, list[Attempt]]] = {j.job_id: (j, []) for j in jobs}
    progress_id = create_progress_artifact(0.0, key=f"{spec.slug}-progress", description="creatives finished")
    pending, done = jobs, 0
    while pending:
        futures = {make_creative.submit(job, spec, brand, run_dir): job for job in pending}
        retry: list[Job] = []
        for future in as_completed(list(futures)):
            job, attempt = futures[future], future.result()
            history[job.job_id] = (job, history[job.job_id][1] + [attempt])
            failed = attempt.qa is not None and attempt.qa.verdict == "fail"
            if failed and job.attempt < spec.qa.max_attempts:
                retry.append(next_attempt(job, spec))
            else:
                done += 1
                progress.emit("creatives", done, len(jobs))
                update_progress_artifact(progress_id, 100.0 * done / len(jobs))
        pending = retry
    return history


def status_of(attempt: Attempt, spec: CampaignSpec) -> str:
    """published | held | failed | error, from the final attempt's QA verdict."""
    if attempt.error or attempt.qa is None:
        return "error"
    if attempt.qa.verdict == "fail":
        return "failed"
    if attempt.qa.verdict == "warn" and spec.publish.warned == "hold":
        return "held"
    return "published"


def keep_aside(record: JobRecord, run_dir: Path) -> None:
    """Copy a creative that is not published to ``run_dir/<status>/`` with its reasons beside it."""
    creative = record.final.creative
    if creative is None:
        return
    dest = run_dir / record.status / f"{record.job_id.replace('/', '__')}{creative.path.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(creative.path, dest)
    reasons = record.final.qa.reasons if record.final.qa else []
    dest.with_suffix(".txt").write_text("\n".join(reasons) + "\n")


@flow(name="brandflow-campaign", task_runner=ThreadPoolTaskRunner(max_workers=3), log_prints=True)
def campaign_flow(
    spec_path: str,
    out_dir: str | None = None,
    only: list[str] | None = None,
    limit: int | None = None,
    publish_to: str | None = None,
) -> RunResult:
    """Run a campaign end to end and write ``manifest.json`` and ``report.html`` into the run folder.

    Args:
        spec_path: the campaign YAML.
        out_dir: run folder; default ``runs/<campaign>`` beside the campaign file. Re-running into the
            same folder resumes: finished jobs are reused, published creatives are not written twice.
        only: product ids to run (default: all).
        limit: at most this many products (after ``only``).
        publish_to: a target URI overriding the campaign's ``publish.target`` for this run.
    """
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    logger = get_run_logger()
    spec, brand = load_spec(spec_path)
    run_dir = Path(out_dir).resolve() if out_dir else Path(spec_path).resolve().parent / "runs" / spec.slug
    target = publish_to or spec.publish.target or (run_dir / "published").as_uri()

    products, rejections = load_products(spec, only, limit)
    jobs, template_rejections = plan(spec, brand, products)
    logger.info("%d products, %d rejected rows, %d jobs", len(products), len(rejections) + len(template_rejections), len(jobs))

    history = make_all(jobs, spec, brand, run_dir)

    to_publish = {}
    records: list[JobRecord] = []
    for job, attempts in history.values():
        status = status_of(attempts[-1], spec)
        if status == "published":
            to_publish[job.job_id] = publish.submit(attempts[-1], job, spec, target)
        records.append(
            JobRecord(
                job_id=job.job_id, product_id=job.product_id, product_title=job.product_title, format=job.format.name, variant=job.variant,
                backend=job.backend, prompt=job.prompt, overlay=job.overlay, references=job.references,
                attempts=attempts, status=status,  # type: ignore[arg-type]
            )
        )
    for i, record in enumerate(records):
        if record.job_id in to_publish:
            records[i] = record.model_copy(update={"published": to_publish[record.job_id].result()})
        else:
            keep_aside(record, run_dir)

    all_rejections = rejections + template_rejections
    summary = RunSummary.of(records, all_rejections, len(products), time.perf_counter() - t0)
    ctx = get_run_context()
    manifest = RunManifest(
        campaign=spec.slug, spec_path=str(Path(spec_path).resolve()), brand=brand.name, backend=spec.generator.backend,
        publish_target=target, started_at=started, flow_run_id=str(ctx.flow_run.id) if getattr(ctx, "flow_run", None) else None,
        summary=summary, jobs=records, rejections=all_rejections,
    )
    manifest_path, report = write_outputs(manifest, run_dir)
    publish_artifacts(manifest, report)
    return RunResult(summary=summary, run_dir=run_dir, manifest=manifest_path, report=report)


def publish_artifacts(manifest: RunManifest, report: Path) -> None:
    """A markdown summary and a per-job table as Prefect artifacts (visible in the UI)."""
    s = manifest.summary
    create_markdown_artifact(
        key=f"{manifest.campaign}-summary",
        description="brandflow run summary",
        markdown=(
            f"## {manifest.campaign}\n\n"
            f"| products | jobs | published | held for review | failed QA | errors | rejected rows | attempts | reused |\n"
            f"|---|---|---|---|---|---|---|---|---|\n"
            f"| {s.products} | {s.jobs} | {s.published} | {s.held} | {s.failed} | {s.errors} | {s.rejected_rows} | {s.attempts} | {s.reused} |\n\n"
            f"Report: `{report}`\n"
        ),
    )
    create_table_artifact(
        key=f"{manifest.campaign}-jobs",
        description="one row per job",
        table=[
            {
                "job": r.job_id,
                "status": r.status,
                "verdict": r.final.qa.verdict if r.final.qa else "error",
                "attempts": len(r.attempts),
                "seed": r.final.seed,
                "uri": r.published.uri if r.published else "",
                "reasons": "; ".join(r.final.qa.reasons if r.final.qa else [r.final.error or ""])[:300],
            }
            for r in manifest.jobs
        ],
    )

