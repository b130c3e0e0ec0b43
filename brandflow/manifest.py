"""The run manifest: the audit record of a campaign run, written as ``manifest.json``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from brandflow import __version__
from brandflow.imageio import write_atomic
from brandflow.records import FeedRecord, JobRecord, ModelLicence, Rejection
from brandflow.redact import redact, secret_values
from brandflow.pipeline.budget import stopped_by_budget


class RunSummary(BaseModel):
    """Counts of one run: jobs by status, products, rejected rows, attempts, cached jobs, seconds, cost."""

    model_config = ConfigDict(extra="forbid")

    products: int
    jobs: int
    published: int
    failed: int
    errors: int
    held: int
    warned: int
    rejected_rows: int
    attempts: int
    reused: int = Field(description="attempts reused whole from an earlier run: image, creative and QA result (an attempt whose QA ran again, e.g. after a QA setting changed, is not counted)")
    seconds: float
    cost: float = Field(default=0.0, description="spent by this run's attempts, in cost_currency (attempts of unknown cost excluded)")
    cost_currency: str = "USD"
    cost_unknown: int = Field(default=0, description="attempts whose cost is unknown (e.g. local GPU without budget.price_per_gpu_hour)")
    budget_stopped: int = Field(default=0, description="jobs not generated because budget.max_cost was reached (status 'error')")

    @classmethod
    def of(cls, records: list[JobRecord], rejections: list[Rejection], products: int, seconds: float) -> RunSummary:
        status = Counter(r.status for r in records)
        return cls(
            products=products,
            jobs=len(records),
            published=status["published"],
            failed=status["failed"],
            errors=status["error"],
            held=status["held"],
            warned=sum(1 for r in records if r.final.qa is not None and r.final.qa.verdict == "warn"),
            rejected_rows=len(rejections),
            attempts=sum(len(r.attempts) for r in records),
            reused=sum(1 for r in records for a in r.attempts if a.cached),
            seconds=round(seconds, 2),
            cost=round(sum(a.cost for r in records for a in r.attempts if a.cost is not None), 6),
            cost_unknown=sum(1 for r in records for a in r.attempts if a.cost is None),
            budget_stopped=sum(1 for r in records if stopped_by_budget(r.final)),
        )


def redact_tree(obj: Any, secrets: list[str] | None = None) -> Any:
    """``obj`` (JSON data) with every string redacted (the environment's secrets read once per tree)."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, list):
        return [redact_tree(v, secrets) for v in obj]
    if isinstance(obj, dict):
        return {k: redact_tree(v, secrets) for k, v in obj.items()}
    return obj


#: Exit statuses of ``brandflow run`` (README, "Exit status").
EXIT_OK, EXIT_CREATIVES, EXIT_BAD_INPUT, EXIT_RUN_FAILED = 0, 1, 2, 3


def exit_code(summary: RunSummary, error: str | None = None) -> int:
    """0: every creative published or held for review; 1: some creatives failed QA or errored (a run where
    every job errored included); 2: bad input (no job could be planned from the feed); 3: the run itself
    failed (``error``)."""
    if error:
        return EXIT_RUN_FAILED
    if summary.jobs == 0:
        return EXIT_BAD_INPUT
    if summary.failed or summary.errors:
        return EXIT_CREATIVES
    return EXIT_OK


class RunResult(BaseModel):
    """What a campaign flow run returns: its summary and where its outputs are."""

    model_config = ConfigDict(extra="forbid")

    summary: RunSummary
    run_dir: Path
    manifest: Path
    report: Path
    published_report: str | None = Field(default=None, description="link to the report published beside the creatives")
    error: str | None = Field(default=None, description="the run itself failed (then exit_code is 3)")

    @property
    def exit_code(self) -> int:
        """The run's exit status (:func:`exit_code`)."""
        return exit_code(self.summary, self.error)


class RunManifest(BaseModel):
    """Everything a run did: the campaign, every job with every attempt and QA number, rejections."""

    model_config = ConfigDict(extra="forbid")

    brandflow_version: str = __version__
    campaign: str
    spec_path: str
    brand: str
    backend: str
    publish_target: str
    started_at: datetime
    finished_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    flow_run_id: str | None = None
    model: ModelLicence | None = Field(
        default=None, description="the generating model, its licence, the campaign's usage and any recorded licence (brandflow/licences.py)"
    )
    summary: RunSummary
    jobs: list[JobRecord]
    rejections: list[Rejection]
    feeds: list[FeedRecord] = Field(default_factory=list, description="feeds regenerated from the published creatives")
    error: str | None = Field(
        default=None, description="the run itself failed after planning: the exception, redacted; jobs hold what was known then"
    )

    @property
    def exit_code(self) -> int:
        """The run's exit status (:func:`exit_code`)."""
        return exit_code(self.summary, self.error)

    def redacted(self) -> RunManifest:
        """This manifest with every string passed through :func:`brandflow.redact.redact` (error bodies that
        echo a key, signed URLs, credentials in URLs), as it may go to the manifest, report and artifacts."""
        return type(self).model_validate(redact_tree(self.model_dump(mode="json")))

    def write(self, path: Path) -> Path:
        """Write atomically as indented JSON; returns ``path``."""
        write_atomic(path, self.model_dump_json(indent=1).encode())
        return path

    @classmethod
    def read(cls, path: Path) -> RunManifest:
        return cls.model_validate_json(Path(path).read_text())
