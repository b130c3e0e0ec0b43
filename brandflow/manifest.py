"""The run manifest: the audit record of a campaign run, written as ``manifest.json``."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from brandflow import __version__
from brandflow.imageio import write_atomic
from brandflow.records import FeedRecord, JobRecord, ModelLicence, Rejection
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
    reused: int = Field(description="attempts whose generate + compose results were reused from an earlier run")
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


class RunResult(BaseModel):
    """What a campaign flow run returns: its summary and where its outputs are."""

    model_config = ConfigDict(extra="forbid")

    summary: RunSummary
    run_dir: Path
    manifest: Path
    report: Path
    published_report: str | None = Field(default=None, description="link to the report published beside the creatives")


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

    def write(self, path: Path) -> Path:
        """Write atomically as indented JSON; returns ``path``."""
        write_atomic(path, self.model_dump_json(indent=1).encode())
        return path

    @classmethod
    def read(cls, path: Path) -> RunManifest:
        return cls.model_validate_json(Path(path).read_text())
