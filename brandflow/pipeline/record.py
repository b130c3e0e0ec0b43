"""The run record (manifest.json + report.html) written whatever happens after planning.

The flow calls :func:`write_failure_record` when anything raises after the jobs are planned (a full disk,
an unreachable bucket, a bug): the manifest then carries what the run knew — every planned job, with the
attempts that finished — and the error, redacted; the report shows the same. A creative that cannot be
published or kept aside becomes an ``error`` of its own instead of ending the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from brandflow.errors import BrandflowError
from brandflow.manifest import RunManifest
from brandflow.pipeline.outcome import keep_aside
from brandflow.publishers.base import TargetUnavailableError
from brandflow.records import Attempt, Job, JobRecord, PublishedAsset
from brandflow.redact import redact, strip_signature
from brandflow.safenames import remove_stale_temps_below
from brandflow.review.report import render_report

log = logging.getLogger(__name__)


class RunFailedError(BrandflowError):
    """The run itself failed after planning; its manifest and report were written with the error.

    Attributes:
        manifest: path of the manifest.json written (``None`` if even that failed).
        report: path of the report.html written (``None`` if that failed).
    """

    def __init__(self, message: str, manifest: Path | None, report: Path | None):
        self.manifest, self.report = manifest, report
        where = f"; record: {manifest}" if manifest else "; no record could be written"
        super().__init__(f"the run failed: {message}{where}")


def keep_aside_all(records: list[JobRecord], run_dir: Path) -> list[JobRecord]:
    """:func:`keep_aside` for every record that is not published; a record whose copy fails becomes an
    ``error`` with the reason (one unlucky creative never ends the run)."""
    out = []
    for record in records:
        if record.published is None and record.status != "published":
            try:
                keep_aside(record, run_dir)
            except OSError as e:
                record = record.model_copy(update={"status": "error", "publish_error": redact(f"keeping it aside failed: {type(e).__name__}: {e}")})
        out.append(record)
    return out


def publish_each(records: list[JobRecord], publish_one: Callable[[JobRecord], PublishedAsset]) -> list[PublishedAsset | str]:
    """``publish_one(record)`` for each record: its asset, or its redacted error as a string, so one creative
    that cannot be published never takes the others down. :class:`TargetUnavailableError` is raised as it is
    (the store is down for all of them: the flow's task retries the batch, idempotently)."""
    out: list[PublishedAsset | str] = []
    for record in records:
        try:
            out.append(publish_one(record))
        except TargetUnavailableError:
            raise
        except Exception as e:  # noqa: BLE001 — recorded on the creative
            out.append((redact(f"{type(e).__name__}: {e}") or "")[:2000])
    return out


def with_published(record: JobRecord, outcome: PublishedAsset | str) -> JobRecord:
    """``record`` with its publish outcome: ``published`` with the asset (a presigned link is dropped from the
    audit record: it names the access key id and stays valid until it expires), or status ``error`` with the
    reason in ``publish_error``."""
    if isinstance(outcome, str):
        return record.model_copy(update={"status": "error", "publish_error": outcome})
    return record.model_copy(update={"published": outcome.model_copy(update={"link": strip_signature(outcome.link)})})


def unfinished(job: Job, error: str) -> JobRecord:
    """The record of a planned job the run did not finish before it failed (status ``error``)."""
    return JobRecord(
        job_id=job.job_id, product_id=job.product_id, product_title=job.product_title, format=job.format.name,
        variant=job.variant, locale=job.locale, backend=job.backend, prompt=job.prompt, overlay=job.overlay, references=job.references,
        attempts=[Attempt(attempt=job.attempt, seed=job.seed, error=f"not finished: {error}")], status="error",
    )


def write_record(manifest: RunManifest, run_dir: Path) -> tuple[Path, Path]:
    """Write ``manifest.json`` and ``report.html`` into ``run_dir``; returns their paths. First deletes the temporary
    files that writers killed in an earlier run left anywhere in the run folder
    (:func:`brandflow.safenames.remove_stale_temps_below`): a resumed run does not write into the folders of jobs that
    were done, so nothing else would."""
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temps_below(run_dir)
    return manifest.write(run_dir / "manifest.json"), render_report(manifest, run_dir / "report.html")


def write_failure_record(
    error: BaseException, jobs: list[Job], records: list[JobRecord] | None, manifest_of: Callable[[list[JobRecord]], RunManifest],
    run_dir: Path,
) -> RunFailedError:
    """Write the run record of a run that failed with ``error`` after planning and return the
    :class:`RunFailedError` to raise. ``records`` are the job records known so far (``None``: none yet;
    every planned job is then recorded as unfinished). Temporary files of killed writers are removed first, as by
    :func:`write_record`. Never raises: if the record cannot be written (the disk is full), the returned error
    says so."""
    message = redact(f"{type(error).__name__}: {error}")[:4000]
    if records is None:
        records = [unfinished(job, message) for job in jobs]
    manifest_path = report = None
    try:
        remove_stale_temps_below(run_dir)  # as write_record: the next run resumes into this folder
        manifest = manifest_of(records).model_copy(update={"error": message})
        manifest_path = manifest.write(run_dir / "manifest.json")
        report = render_report(manifest, run_dir / "report.html")
    except Exception as e:  # noqa: BLE001 — report what we could not write, never hide the first error
        log.error("could not write the run record after the run failed: %s", redact(f"{type(e).__name__}: {e}"))
    return RunFailedError(message, manifest_path, report)
