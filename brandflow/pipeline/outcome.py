"""What becomes of a finished job: its status, its manifest record, and a copy kept aside when it is not published.

Plain Python shared by the flow and the benchmark's loop, so both decide and record alike.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from brandflow.pipeline.budget import job_cost
from brandflow.records import Attempt, Job, JobRecord, sha256_file
from brandflow.safenames import atomic_temp, hashed_name, write_atomic
from brandflow.spec import CampaignSpec


def status_of(attempt: Attempt, spec: CampaignSpec) -> str:
    """published | held | failed | error, from the final attempt's QA verdict (``warn`` is held when
    ``publish.warned`` is ``hold``)."""
    if attempt.error or attempt.qa is None:
        return "error"
    if attempt.qa.verdict == "fail":
        return "failed"
    if attempt.qa.verdict == "warn" and spec.publish.warned == "hold":
        return "held"
    return "published"


def record_of(job: Job, attempts: list[Attempt], spec: CampaignSpec) -> JobRecord:
    """The manifest record of one job, its status decided by QA (``published`` = to be published)."""
    return JobRecord(
        job_id=job.job_id, product_id=job.product_id, product_title=job.product_title, format=job.format.name, variant=job.variant, locale=job.locale,
        notes=job.notes,
        backend=job.backend, prompt=job.prompt, overlay=job.overlay, references=job.references,
        attempts=attempts, status=status_of(attempts[-1], spec), cost=job_cost(attempts),  # type: ignore[arg-type]
    )


def aside_path(record: JobRecord, run_dir: Path) -> tuple[Path, Path, str]:
    """Where :func:`keep_aside` puts a creative that is not published: ``(copy, reasons note, the note's text)``,
    ``run_dir/<status>/<slug>-<hash of the job id>.<ext>`` and the ``.txt`` beside it (the job id first).
    Only for a record whose final attempt has a creative."""
    creative = record.final.creative
    assert creative is not None
    dest = run_dir / record.status / f"{hashed_name(record.job_id)}{creative.path.suffix}"
    reasons = [f"job: {record.job_id}", *(record.final.qa.reasons if record.final.qa else []),
               *(f"note: {n}" for n in [*record.notes, *record.final.notes])]
    if record.decision is not None:
        d = record.decision
        reasons.insert(1, f"review: {d.verdict} by {d.by} at {d.at:%Y-%m-%d %H:%M:%S} UTC: {d.reason}" if d.at else f"review: {d.verdict}")
    return dest, dest.with_suffix(".txt"), "\n".join(reasons) + "\n"


def keep_aside(record: JobRecord, run_dir: Path) -> None:
    """Copy a creative that is not published to ``run_dir/<status>/<slug>-<hash of the job id>.<ext>`` with its
    reasons (the job id first) in a ``.txt`` beside it (:func:`aside_path`). The job id comes from the feed, so it
    is never a path component: an id ``../../x`` or 300 characters long gets a safe, bounded, distinct name."""
    creative = record.final.creative
    if creative is None:
        return
    dest, note, text = aside_path(record, run_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not (dest.is_file() and sha256_file(dest) == creative.sha256):  # a re-run rewrites nothing
        tmp = atomic_temp(dest)
        try:
            shutil.copyfile(creative.path, tmp)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
    if not (note.is_file() and note.read_text() == text):
        write_atomic(note, text.encode())
