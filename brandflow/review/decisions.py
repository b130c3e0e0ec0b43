"""The approval rules: what a reviewer answers and how the answer becomes one decision per creative.

Pure functions of the run's job records and the answer; the Prefect wiring (pausing, resuming) is in
:mod:`brandflow.flows.approval`, the served review page in :mod:`brandflow.review.app`. All three ways
to answer — the review page, ``brandflow approve`` and the Prefect UI form — send a :class:`ReviewAnswer`.

Rules, in order:

1. Only creatives that QA let through are under review: QA ``pass`` (and ``warn`` when
   ``publish.warned: publish``) — and the ``warn`` creatives QA *held* (``publish.warned: hold``).
   Failed and errored jobs are never published, whatever the answer says.
2. ``reject`` wins over everything: an id in ``reject`` (or a signed ``rejected`` decision) is rejected.
3. ``approve_all`` approves every creative QA let through, **not** the held ``warn`` ones:
   those are published only when their id is listed in ``approve`` (or approved one by one).
4. Every creative under review that was not approved is rejected ("not approved").
5. Ids that are not under review (unknown, failed, errored) are ignored and reported back.

Identity (:mod:`brandflow.review.reviewers`): when the worker has reviewers configured, the answer's
own fields count only with a valid ``signature`` by ``reviewer``, and each entry of ``decisions`` only with
its own valid signature; anything else makes the whole answer refused (:class:`~brandflow.review.reviewers.ReviewerError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from pydantic import BaseModel, Field

from brandflow.records import JobRecord, ReviewDecision
from brandflow.review import reviewers


class SignedDecision(BaseModel):
    """One reviewer's decision on one creative, as the review page sends it."""

    job_id: str
    verdict: Literal["approved", "rejected"]
    reason: str = ""
    by: str = Field(description="the reviewer's name (checked against the signature when reviewers are configured)")
    at: str = Field(description="ISO 8601 UTC time the reviewer decided")
    signature: str = Field(default="", description="HMAC-SHA256 by the reviewer's token of payload(flow_run_id)")

    def payload(self, flow_run_id: str | None) -> dict[str, str]:
        """What the signature covers: the run, the creative, the verdict, the reason, who and when."""
        return {"run": flow_run_id or "", "job": self.job_id, "verdict": self.verdict, "reason": self.reason, "by": self.by, "at": self.at}


class ReviewAnswer(BaseModel):
    """A reviewer's answer at the approval gate (the Prefect UI renders it as the resume form)."""

    approve_all: bool = Field(
        default=False, description="approve every creative that passed QA (held 'warn' creatives still need their id in 'approve')"
    )
    approve: list[str] = Field(default_factory=list, description="job ids to publish, e.g. 'apple-juice/square/v0'")
    reject: list[str] = Field(default_factory=list, description="job ids not to publish (wins over approve and approve_all)")
    reason: str = Field(default="", description="why: recorded in the manifest with every decision of this answer")
    reviewer: str = Field(default="", description="who decides: recorded in the manifest")
    signature: str = Field(default="", description="the reviewer's signature of this answer (brandflow approve --token makes it)")
    decisions: list[SignedDecision] = Field(
        default_factory=list, description="one-by-one decisions, each signed by its reviewer (the review page sends these)"
    )

    def payload(self, flow_run_id: str | None) -> dict[str, object]:
        """What ``signature`` covers: the run and the answer's own fields (not ``decisions``, signed one by one)."""
        return {"run": flow_run_id or "", "approve_all": self.approve_all, "approve": sorted(self.approve),
                "reject": sorted(self.reject), "reason": self.reason, "by": self.reviewer}

    @property
    def has_own_fields(self) -> bool:
        return bool(self.approve_all or self.approve or self.reject)


@dataclass
class GateOutcome:
    """The decisions of one review: per job id, plus the ids of the answer that matched no creative under review."""

    decisions: dict[str, ReviewDecision]
    ignored: dict[str, str] = field(default_factory=dict)

    @property
    def approved(self) -> set[str]:
        """Job ids to publish."""
        return {j for j, d in self.decisions.items() if d.verdict == "approved"}

    @property
    def rejected(self) -> set[str]:
        """Job ids under review that will not be published."""
        return {j for j, d in self.decisions.items() if d.verdict == "rejected"}


def under_review(records: list[JobRecord]) -> dict[str, Literal["passed", "held"]]:
    """The creatives a reviewer decides on: job id → ``'passed'`` (QA let it through, status
    ``published`` before the gate) or ``'held'`` (a QA ``warn`` held by ``publish.warned: hold``)."""
    return {r.job_id: ("passed" if r.status == "published" else "held") for r in records if r.status in ("published", "held")}


def pending(records: list[JobRecord]) -> list[JobRecord]:
    """The records as written while the run waits: every creative under review is ``held`` with a
    ``pending`` decision (nothing is published before the decision)."""
    review = under_review(records)
    return [
        r.model_copy(update={"status": "held", "decision": ReviewDecision(verdict="pending", reason="awaiting approval", source="gate")})
        if r.job_id in review else r
        for r in records
    ]


def identify(answer: ReviewAnswer, flow_run_id: str | None) -> dict[str, tuple[str, bool]]:
    """Who gave each part of ``answer``: ``{"": (name, verified)}`` for its own fields and
    ``{job_id: (name, verified)}`` per signed decision.

    Raises:
        reviewers.ReviewerError: reviewers are configured and a part is unsigned or wrongly signed.
    """
    checking = reviewers.configured()
    who: dict[str, tuple[str, bool]] = {}
    if answer.has_own_fields or not answer.decisions:
        name = answer.reviewer.strip() or "unknown reviewer"
        if checking:
            if not answer.signature:
                raise reviewers.ReviewerError(
                    "this answer is not signed, and this worker only accepts decisions from its reviewers: decide in "
                    "`brandflow review`, or with `brandflow approve --token` (the operator issues tokens with `brandflow reviewer add`)")
            reviewers.check(name, answer.payload(flow_run_id), answer.signature)
        who[""] = (name, checking)
    for d in answer.decisions:
        if checking:
            reviewers.check(d.by, d.payload(flow_run_id), d.signature)
        who[d.job_id] = (d.by.strip() or "unknown reviewer", checking)
    return who


def decide(records: list[JobRecord], answer: ReviewAnswer, at: datetime | None = None, flow_run_id: str | None = None) -> GateOutcome:
    """Turn a reviewer's answer into one decision per creative under review (rules in the module docstring).

    Args:
        records: the job records before the gate (status from QA: published | held | failed | error).
        answer: the reviewer's :class:`ReviewAnswer`.
        at: time of the decision (default: now, UTC).
        flow_run_id: the paused run's id, which every signature covers.

    Raises:
        reviewers.ReviewerError: reviewers are configured and the answer is not signed by one (see :func:`identify`).
    """
    at = at or datetime.now(timezone.utc)
    who = identify(answer, flow_run_id)
    by, verified = who.get("", ("unknown reviewer", False))
    review = under_review(records)
    status = {r.job_id: r.status for r in records}
    signed = {d.job_id: d for d in answer.decisions}
    ignored: dict[str, str] = {}
    for job_id in dict.fromkeys([*answer.approve, *answer.reject, *signed]):
        if job_id not in review:
            ignored[job_id] = f"{status[job_id]} in QA: never published" if job_id in status else "no such creative in this run"
    rejected, approved = set(answer.reject), set(answer.approve)
    decisions: dict[str, ReviewDecision] = {}
    for job_id, kind in review.items():
        one = signed.get(job_id)
        if job_id in rejected:
            verdict, reason = "rejected", answer.reason or "rejected by the reviewer"
        elif one is not None:
            verdict = one.verdict
            reason = one.reason or ("approved by the reviewer" if verdict == "approved" else "rejected by the reviewer")
            decisions[job_id] = ReviewDecision(verdict=verdict, by=who[job_id][0], at=_time(one.at, at), reason=reason,
                                               source="reviewer", verified=who[job_id][1])
            continue
        elif job_id in approved or (answer.approve_all and kind == "passed"):
            # the answer's reason explains its rejections when it has any; otherwise it is the approval's
            verdict, reason = "approved", (answer.reason if answer.reason and not rejected else "approved by the reviewer")
        elif answer.approve_all and kind == "held":
            verdict, reason = "rejected", "QA warned: approve_all does not cover held creatives; list its id in approve"
        elif "" not in who:  # one-by-one decisions only: nobody decided this one, the gate's rule 4 did
            decisions[job_id] = ReviewDecision(verdict="rejected", by=answer.reviewer.strip() or "unknown reviewer", at=at,
                                               reason="not approved: no reviewer decided it before the decisions were sent", source="gate")
            continue
        else:
            verdict, reason = "rejected", "not approved"
        decisions[job_id] = ReviewDecision(verdict=verdict, by=by, at=at, reason=reason, source="reviewer", verified=verified)
    return GateOutcome(decisions=decisions, ignored=ignored)


def _time(text: str, default: datetime) -> datetime:
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return default
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def decide_on_timeout(
    records: list[JobRecord], policy: Literal["reject_all", "publish_passing"], waited_seconds: int, at: datetime | None = None
) -> GateOutcome:
    """The decisions when no reviewer answered in time.

    Args:
        records: the job records before the gate.
        policy: ``reject_all`` publishes nothing; ``publish_passing`` publishes what QA let through
            (held ``warn`` creatives stay unpublished: they need a human).
        waited_seconds: the review timeout, for the recorded reason.
        at: time of the decision (default: now, UTC).
    """
    at = at or datetime.now(timezone.utc)
    decisions = {}
    for job_id, kind in under_review(records).items():
        if policy == "publish_passing" and kind == "passed":
            verdict, reason = "approved", f"no decision within {waited_seconds} s: on_review_timeout=publish_passing"
        elif policy == "publish_passing":
            verdict, reason = "rejected", f"no decision within {waited_seconds} s: QA warned, needs an explicit approval"
        else:
            verdict, reason = "rejected", f"no decision within {waited_seconds} s: on_review_timeout=reject_all"
        decisions[job_id] = ReviewDecision(verdict=verdict, by="timeout", at=at, reason=reason, source="timeout")
    return GateOutcome(decisions=decisions)


def apply(records: list[JobRecord], outcome: GateOutcome) -> list[JobRecord]:
    """Records after the gate: approved creatives keep ``published`` as their (planned) status, all other
    creatives under review become ``held``; each carries its decision."""
    out = []
    for r in records:
        d = outcome.decisions.get(r.job_id)
        if d is None:
            out.append(r)
        else:
            out.append(r.model_copy(update={"status": "published" if d.verdict == "approved" else "held", "decision": d}))
    return out


def pause_description(campaign: str, records: list[JobRecord], report: str, manifest: str, timeout_seconds: int, on_timeout: str,
                      flow_run_id: str | None = None) -> str:
    """Markdown shown with the paused run in the Prefect UI: where the report is and what to decide."""
    review = under_review(records)
    passed = [j for j, k in review.items() if k == "passed"]
    held = [j for j, k in review.items() if k == "held"]
    lines = [
        f"**Review {len(review)} creatives of `{campaign}`** before anything is published.",
        "",
        f"Report: `{report}`  ",
        f"Manifest: `{manifest}`",
        "",
        f"Decide in the review page: `brandflow review {flow_run_id or '<this run id>'}` (or `brandflow approve`).",
        "",
        f"`approve_all` publishes the {len(passed)} that passed QA; the {len(held)} QA held ('warn') are published only "
        "when listed in `approve`. `reject` wins. Without a decision within "
        f"{timeout_seconds} s: {on_timeout.replace('_', ' ')}.",
        "",
        "Passed QA: " + (", ".join(f"`{j}`" for j in passed) or "none"),
        "",
        "Held (QA warn): " + (", ".join(f"`{j}`" for j in held) or "none"),
    ]
    return "\n".join(lines)
