"""The campaign flow: the data flow of DESIGN.md, top to bottom, as Prefect tasks.

    campaign.yaml → spec → product feed → jobs → [generate → compose → QA]* → [approval] → publish → manifest + report

With ``review: required`` the run writes its manifest and report, pauses for a reviewer
(:mod:`brandflow.flows.approval`) and publishes only what was approved. ``notify:`` posts to a webhook
when the run waits for approval, finishes or fails (:mod:`brandflow.notify`).

Tasks pass paths, hashes and small records — never pixels. One ``make-creatives`` task runs a *batch* of jobs
(:mod:`brandflow.pipeline.jobs`: a task run costs about a third of one creative's CPU, so one per creative
would make orchestration a third of the run); jobs an earlier run finished are resumed before any task is
submitted, and the progress artifact is written every few seconds, not per creative. Stage work lives in
the stage rooms (``feed``, ``prompts``, ``generators``, ``compose``, ``qa``, ``publishers``, ``review``) and ``pipeline``; this module only wires it.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import opaque

from brandflow import notify, progress
from brandflow.errors import SpecError
from brandflow.flows import approval
from brandflow.flows.ephemeral import bind_ephemeral_server
from brandflow.licences import check_licence
from brandflow.manifest import RunManifest, RunResult, RunSummary
from brandflow.records import Attempt, FeedRecord, Job, JobRecord, Product, PublishedAsset, Rejection
from brandflow.spec import BrandKit, CampaignSpec, load_campaign
from brandflow.feed.catalog import load_feed
from brandflow.pipeline.budget import BudgetMeter
from brandflow.pipeline.plan import plan_jobs, run_folder, run_target
from brandflow.publishers.base import TargetUnavailableError
from brandflow.publishers.provenance import C2paSigning, check_signing
from brandflow.pipeline.jobs import MAX_BATCH, JobOutcome, batch_label, batches, chunked, run_batch, split_resumed
from brandflow.pipeline.outcome import record_of
from brandflow.pipeline.record import keep_aside_all, publish_each, with_published, write_failure_record, write_record
from brandflow.redact import install_log_redaction, redact
from brandflow.targets import check_publish_target
from brandflow.pipeline.stages import batch_size_of, feed_plugins, publish_feeds, publish_run_record, publish_stage

bind_ephemeral_server()  # a killed run leaves no temporary Prefect server behind (Linux: PR_SET_PDEATHSIG)

# Inputs are pydantic records, hashed by nothing: resumption is content-addressed in the run folder
# (see pipeline/stages.py), so Prefect's input-hash cache would only cost time.
_task = dict(cache_policy=NO_CACHE, persist_result=False)
# Large task arguments (the spec, the brand kit, jobs, records, the manifest) are passed as ``opaque(...)``: none holds a
# future, and Prefect would otherwise walk every field of every one twice per task run, to find upstream futures and to
# resolve them (``visit_collection``, seen in a py-spy profile of the example's run; timed A/B the saving is below this
# machine's noise, README Benchmarks).


@task(name="load-campaign", **_task)
def load_spec(spec_path: str, feed: str | None = None) -> tuple[CampaignSpec, BrandKit]:
    """Parse and validate the campaign YAML and its brand kit; ``feed`` replaces ``feed.path``."""
    if not spec_path or not spec_path.strip():
        raise SpecError("<spec_path>", None, "no campaign file given (empty spec_path)",
                        "pass spec_path, e.g. in the event payload as {\"spec_path\": \"/campaigns/autumn.yaml\"}")
    spec, brand = load_campaign(spec_path)
    check_licence(spec, spec_path)  # refuse non-commercial weights for a commercial campaign before any work
    if spec.publish.provenance.enabled and spec.publish.provenance.c2pa is not None:
        check_signing(C2paSigning(**spec.publish.provenance.c2pa.model_dump()))  # an expired certificate fails now, not at publish
    feed_plugins(spec)  # a feed's bad options fail now, not after every creative is published
    return (with_feed(spec, feed, Path(spec_path).resolve()), brand) if feed else (spec, brand)


def with_feed(spec: CampaignSpec, feed: str, spec_file: Path) -> CampaignSpec:
    """``spec`` reading its products from ``feed`` (relative paths: against the campaign file's folder)."""
    path = Path(feed).expanduser()
    path = path if path.is_absolute() else (spec_file.parent / path).resolve()
    if not path.is_file():
        raise SpecError(spec_file, "feed.path", f"the feed given to this run is not a file: {path}",
                        "pass the path of a CSV, JSON or JSONL feed that the worker can read")
    return spec.model_copy(update={"feed": spec.feed.model_copy(update={"path": path})})


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


@task(name="make-creatives", task_run_name="make-{label}", **_task)
def make_batch(jobs: list[Job], spec: CampaignSpec, brand: BrandKit, run_dir: Path, budget: BudgetMeter, label: str,
               counter: progress.Counter) -> list[JobOutcome]:
    """generate → compose → QA (with QA retries) for a batch of jobs (refused once the run's budget is spent);
    each finished creative advances ``counter`` (the CLI's progress bar)."""
    return run_batch(jobs, spec, brand, run_dir, budget, on_done=lambda outcome: counter.advance())


def _store_unavailable(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's retry_condition_fn signature
    """Retry the publish task only when the store stayed unavailable through the publisher's own retries
    (throttling, 5xx, dropped connections); a 4xx or a bad file is final."""
    try:
        state.result()
    except TargetUnavailableError:
        return True
    except Exception:  # noqa: BLE001
        return False
    return False


@task(name="publish", task_run_name="publish-{label}", retries=2,
      retry_delay_seconds=[30, 120], retry_condition_fn=_store_unavailable, **_task)
def publish(records: list[JobRecord], jobs: dict[str, Job], spec: CampaignSpec, target: str, label: str) -> list[PublishedAsset | str]:
    """Publish a batch of creatives that passed QA (idempotent by content sha256, so a retried batch
    writes only what is missing); a creative that cannot be published gets its (redacted) error instead."""
    return publish_each(records, lambda r: publish_stage(r.final.creative, jobs[r.job_id], r.final.qa, spec, target))  # type: ignore[arg-type]


@task(name="publish-run-record", retries=2, retry_delay_seconds=[30, 120], retry_condition_fn=_store_unavailable, **_task)
def publish_record(files: list[Path], spec: CampaignSpec, target: str, run_name: str) -> list[PublishedAsset]:
    """Publish manifest.json and report.html beside the creatives (the audit record travels with them)."""
    return publish_run_record(files, spec, target, run_name)


@task(name="publish-feeds", retries=2, retry_delay_seconds=[30, 120], retry_condition_fn=_store_unavailable, **_task)
def publish_feed_files(records: list[JobRecord], spec: CampaignSpec, target: str, product_ids: list[str], run_dir: Path) -> list[FeedRecord]:
    """Regenerate the campaign's feeds (Merchant Center supplemental feed …) from the published creatives and publish them."""
    return publish_feeds(records, spec, target, product_ids, run_dir)


@task(name="write-run-outputs", **_task)
def write_outputs(manifest: RunManifest, run_dir: Path) -> tuple[Path, Path]:
    """Write manifest.json and the self-contained report.html; returns their paths."""
    return write_record(manifest, run_dir)


#: Seconds between two updates of the progress artifact: each is an API write, a few ms of CPU on both sides.
PROGRESS_EVERY = 3.0


def make_all(jobs: list[Job], spec: CampaignSpec, brand: BrandKit, run_dir: Path) -> dict[str, JobOutcome]:
    """Every job through generate → compose → QA (a QA 'fail' is retried with the next seed up to
    ``qa.max_attempts``), one ``make-creatives`` task per batch; jobs an earlier run finished in ``run_dir``
    are resumed before anything is submitted, so they cost no task run. One :class:`BudgetMeter` keeps the
    run within ``budget.max_cost``. Returns ``job_id → (final job, attempts)`` in plan order."""
    outcomes, todo = split_resumed(jobs, spec, brand, run_dir)
    counter = progress.Counter("creatives", len(jobs), done=len(outcomes))
    progress_id = create_progress_artifact(100.0 * counter.done / max(1, len(jobs)), key=f"{spec.slug}-progress",
                                           description="creatives finished")
    budget = BudgetMeter.from_spec(spec)
    futures = {
        make_batch.submit(opaque(chunk), opaque(spec), opaque(brand), run_dir, opaque(budget), batch_label(chunk),
                          opaque(counter)): chunk
        for chunk in batches(todo, task_workers(), batch_size_of(spec) if todo else 1)
    }
    last = time.monotonic()
    for future in as_completed(list(futures)):
        try:
            done = future.result()
        except Exception as e:  # noqa: BLE001 — the task itself broke: each of its jobs records the error
            error = f"{type(e).__name__}: {e}"
            done = [(job, [Attempt(attempt=job.attempt, seed=job.seed, error=error)]) for job in futures[future]]
        outcomes.update((job.job_id, (final, attempts)) for job, (final, attempts) in zip(futures[future], done))
        if time.monotonic() - last >= PROGRESS_EVERY:
            update_progress_artifact(progress_id, 100.0 * counter.done / len(jobs))
            last = time.monotonic()
    if todo:
        update_progress_artifact(progress_id, 100.0)
    return {job.job_id: outcomes[job.job_id] for job in jobs}


def task_workers() -> int:
    """Threads for the flow's tasks: ``BRANDFLOW_TASK_WORKERS`` (1 … 64; set it per work pool or deployment
    in ``job_variables.env``), default 3. ``brandflow run --workers N`` overrides it for one run.

    Raises:
        ValueError: the variable is not a whole number from 1 to 64.
    """
    raw = os.environ.get("BRANDFLOW_TASK_WORKERS", "3").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 64:
        raise ValueError(f"BRANDFLOW_TASK_WORKERS must be a whole number from 1 to 64, got {raw!r}")
    return int(raw)


class WorkersFromEnv(ThreadPoolTaskRunner):
    """The flow's thread pool, sized by :func:`task_workers` when a run starts, not when this module is imported:
    a bad ``BRANDFLOW_TASK_WORKERS`` fails that run with its message instead of breaking the import."""

    def __init__(self, max_workers: int | None = None):
        super().__init__(max_workers=max_workers)
        self._from_env = max_workers is None

    def duplicate(self) -> WorkersFromEnv:
        return type(self)(max_workers=None if self._from_env else self._max_workers)

    def __enter__(self) -> WorkersFromEnv:
        if self._from_env:
            self._max_workers = task_workers()
        return super().__enter__()


@flow(name="brandflow-campaign", task_runner=WorkersFromEnv(), log_prints=True)
def campaign_flow(
    spec_path: str,
    out_dir: str | None = None,
    only: list[str] | None = None,
    limit: int | None = None,
    publish_to: str | None = None,
    feed: str | None = None,
) -> RunResult:
    """Run a campaign end to end and write ``manifest.json`` and ``report.html`` into the run folder.

    Args:
        spec_path: the campaign YAML, as a path the worker can read (relative: to the worker's
            working directory, which the deployments in prefect.yaml set to ``$BRANDFLOW_PROJECT_DIR``).
        out_dir: run folder; default ``runs/<campaign>`` beside the campaign file. Re-running into the
            same folder resumes: finished jobs are reused, published creatives are not written twice.
        only: product ids to run (default: all).
        limit: at most this many products (after ``only``).
        publish_to: a target URI overriding the campaign's ``publish.target`` for this run.
        feed: a product feed file replacing the campaign's ``feed.path`` for this run (e.g. from a
            ``brandflow.catalog.updated`` event); relative paths resolve against the campaign file's folder.
    """
    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    install_log_redaction()
    logger = get_run_logger()
    ctx = get_run_context()
    flow_run_id = str(ctx.flow_run.id) if getattr(ctx, "flow_run", None) else None
    spec, brand = load_spec(spec_path, feed or None)
    if spec.review == "required" and approval.configured_api_url() is None:
        raise SpecError(spec_path, "review", "review: required needs a Prefect server, and this run has none (ephemeral mode)",
                        "start one (`prefect server start`), set PREFECT_API_URL, and run again or deploy the campaign "
                        "(docs/operations.md); or set review: none")
    try:
        return _run(spec, brand, spec_path, out_dir, only, limit, publish_to, started, t0, flow_run_id, logger)
    except Exception as e:
        notify.notify(spec.notify, "failed", spec.slug, flow_run_id=flow_run_id, detail=(redact(f"{type(e).__name__}: {e}") or "")[:500])
        raise


def _run(
    spec: CampaignSpec, brand: BrandKit, spec_path: str, out_dir: str | None, only: list[str] | None, limit: int | None,
    publish_to: str | None, started: datetime, t0: float, flow_run_id: str | None, logger,  # noqa: ANN001
) -> RunResult:
    """The body of :func:`campaign_flow` once the spec is loaded (split out so failures can be notified)."""
    run_dir = run_folder(spec, spec_path, out_dir)
    target = run_target(spec, run_dir, publish_to)
    if publish_to or spec.publish.target:  # a flow-run parameter cannot send creatives (or a secret) anywhere new
        check_publish_target(target, runtime=bool(publish_to))

    progress.status("reading the product feed")
    products, rejections = load_products(opaque(spec), only, limit)
    progress.status("planning jobs")
    jobs, template_rejections = plan(opaque(spec), opaque(brand), opaque(products))
    all_rejections = rejections + template_rejections
    logger.info("%d products, %d rejected rows, %d jobs", len(products), len(all_rejections), len(jobs))

    known: list[JobRecord] | None = None  # what the run knows, for the record written if anything below fails

    def manifest_of(records: list[JobRecord]) -> RunManifest:
        return RunManifest(
            campaign=spec.slug, spec_path=str(Path(spec_path).resolve()), brand=brand.name, backend=spec.generator.backend,
            publish_target=target, started_at=started, flow_run_id=flow_run_id, model=check_licence(spec, spec_path),
            summary=RunSummary.of(records, all_rejections, len(products), time.perf_counter() - t0),
            jobs=records, rejections=all_rejections,
        ).redacted()  # what goes to the manifest, report, artifacts and notifications carries no secret

    try:
        history = make_all(jobs, spec, brand, run_dir)
        jobs_by_id = {job.job_id: job for job, _ in history.values()}
        records = known = [record_of(job, attempts, spec) for job, attempts in history.values()]

        if spec.review == "required":
            records = known = review_gate(records, spec, manifest_of, run_dir, flow_run_id)

        to_publish = [r for r in records if r.status == "published"]
        progress.status(f"publishing {len(to_publish)} creatives")
        chunks = list(chunked(to_publish, MAX_BATCH))
        futures = []
        for chunk in chunks:  # each task gets its own jobs only: Prefect walks every parameter of every task run
            own = {r.job_id: jobs_by_id[r.job_id] for r in chunk}
            futures.append(publish.submit(opaque(chunk), opaque(own), opaque(spec), target, batch_label(list(own.values()))))
        outcomes = {r.job_id: result for chunk, f in zip(chunks, futures) for r, result in zip(chunk, publish_outcomes(f, chunk))}
        records = known = [with_published(r, outcomes[r.job_id]) if r.job_id in outcomes else r for r in records]
        records = known = keep_aside_all(records, run_dir)

        manifest = manifest_of(records)
        if spec.publish.feeds:  # regenerated once per run, after every creative of the run is published
            feeds = publish_feed_files(opaque(records), opaque(spec), target, [p.id for p in products], run_dir)
            manifest = manifest.model_copy(update={"feeds": feeds})
        progress.status("writing the manifest and report")
        manifest_path, report = write_outputs(opaque(manifest), run_dir)
        record = publish_record([manifest_path, report], opaque(spec), target, flow_run_id or started.strftime("%Y%m%dT%H%M%SZ"))
    except Exception as e:  # the run record survives: manifest.json + report.html with what is known and the error
        raise write_failure_record(e, jobs, known, manifest_of, run_dir) from e
    report_link = next((a.link or a.uri for a in record if a.key.endswith("/report.html")), None)
    publish_artifacts(manifest, report, report_link)
    notify.notify(spec.notify, "finished", spec.slug, manifest, report_link or str(report), flow_run_id)
    return RunResult(summary=manifest.summary, run_dir=run_dir, manifest=manifest_path, report=report, published_report=report_link)


def publish_outcomes(future: PrefectFuture, chunk: list[JobRecord]) -> list[PublishedAsset | str]:
    """The publish task's answer per record: an asset, or the error of that record; when the task itself
    failed (the target stayed unavailable through every retry), that error for each of its records."""
    try:
        return future.result()
    except Exception as e:  # noqa: BLE001 — recorded per creative; the run goes on to write its record
        return [redact(f"{type(e).__name__}: {e}") or ""] * len(chunk)


def review_gate(records: list[JobRecord], spec: CampaignSpec, manifest_of, run_dir: Path, flow_run_id: str | None) -> list[JobRecord]:  # noqa: ANN001
    """The approval gate: write the manifest and report with every creative under review ``held`` and
    ``pending``, notify, pause for an :class:`~brandflow.flows.approval.ApprovalInput`, then return the
    records with one decision each (approved ones keep status ``published``, to be published next)."""
    logger = get_run_logger()
    if not approval.under_review(records):
        logger.info("review: required, but no creative passed QA: nothing to review")
        return records
    waiting = manifest_of(approval.pending(records))
    manifest_path, report = write_outputs(opaque(waiting), run_dir)
    create_markdown_artifact(
        key=f"{spec.slug}-review", description="brandflow: awaiting approval",
        markdown=f"## {spec.slug}: awaiting approval\n\n{waiting.summary.held} creatives to review.\n\nReport: `{report}`\n",
    )
    description = approval.pause_description(
        spec.slug, records, str(report), str(manifest_path), spec.review_timeout_seconds, spec.on_review_timeout, flow_run_id
    )
    notify.notify(spec.notify, "awaiting_approval", spec.slug, waiting, str(report), flow_run_id,
                  detail=f"decide: brandflow review {flow_run_id} (or brandflow approve {flow_run_id} --all | --ids JOB … | --reject JOB …)")
    logger.warning(  # a warning, so that `brandflow run` (quiet by default) shows it too
        "awaiting approval of %d creatives; report: %s; decide in `brandflow review %s` (or `brandflow approve %s --all | --ids …`)",
        waiting.summary.held, report, flow_run_id, flow_run_id,
    )
    answer = approval.wait_for_approval(description, spec.review_timeout_seconds, flow_run_id)
    if answer is None:
        outcome = approval.decide_on_timeout(records, spec.on_review_timeout, spec.review_timeout_seconds)
        logger.warning("no review decision within %d s: %s", spec.review_timeout_seconds, spec.on_review_timeout)
    else:
        outcome = approval.decide(records, answer, flow_run_id=flow_run_id)
        for job_id, why in outcome.ignored.items():
            logger.warning("review answer names %s, which is not under review (%s): ignored", job_id, why)
    logger.info("review: %d approved, %d rejected", len(outcome.approved), len(outcome.rejected))
    return approval.apply(records, outcome)


def publish_artifacts(manifest: RunManifest, report: Path, report_link: str | None = None) -> None:
    """A markdown summary and a per-job table as Prefect artifacts (visible in the UI); ``report_link`` is
    the published report (a presigned link expires after ``publish.s3.presign_expiry``)."""
    s = manifest.summary
    create_markdown_artifact(
        key=f"{manifest.campaign}-summary",
        description="brandflow run summary",
        markdown=(
            f"## {manifest.campaign}\n\n"
            f"| products | jobs | published | held for review | failed QA | errors | rejected rows | attempts | reused |\n"
            f"|---|---|---|---|---|---|---|---|---|\n"
            f"| {s.products} | {s.jobs} | {s.published} | {s.held} | {s.failed} | {s.errors} | {s.rejected_rows} | {s.attempts} | {s.reused} |\n\n"
            f"Summary: [{report.name}#summary]({report.resolve().as_uri()}#summary) (`{report}`; prints as one page)"
            + (f" · [published copy]({report_link}#summary)" if report_link else "") + "\n"
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
                "link": (r.published.link or "") if r.published else "",
                "reasons": "; ".join(r.final.qa.reasons if r.final.qa else [r.final.error or ""])[:300],
                "review": f"{r.decision.verdict} by {r.decision.by}: {r.decision.reason}"[:300] if r.decision else "",
            }
            for r in manifest.jobs
        ],
    )

