"""The human approval gate: what a reviewer answers, how the answer becomes per-creative decisions,
and how the campaign flow waits for it on a Prefect server.

A campaign with ``review: required`` pauses after QA with :func:`wait_for_approval`
(``prefect.flow_runs.pause_flow_run`` with ``wait_for_input=ApprovalInput``): the Prefect UI shows the
pause description (the report's path and the creatives under review) and renders :class:`ApprovalInput`
as a form; ``brandflow approve`` (:func:`resume_run`) sends the same answer over the REST API
(``POST /api/flow_runs/{id}/resume`` with ``run_input``).

:func:`decide` and :func:`decide_on_timeout` are pure functions from the run's job records and the
answer (or its absence) to one :class:`~brandflow.records.ReviewDecision` per creative under review.

Rules, in order:

1. Only creatives that QA let through are under review: QA ``pass`` (and ``warn`` when
   ``publish.warned: publish``) — and the ``warn`` creatives QA *held* (``publish.warned: hold``).
   Failed and errored jobs are never published, whatever the answer says.
2. ``reject`` wins over everything: an id in ``reject`` is rejected with ``reason``.
3. ``approve_all`` approves every creative QA let through, **not** the held ``warn`` ones:
   those are published only when their id is listed in ``approve``.
4. Every creative under review that was not approved is rejected ("not approved").
5. Ids that are not under review (unknown, failed, errored) are ignored and reported back.
"""

from __future__ import annotations

import getpass
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field
from prefect.input import RunInput

from brandflow.records import JobRecord, ReviewDecision

#: seconds between the paused flow's checks for a decision; small values only for tests
POLL_ENV = "BRANDFLOW_REVIEW_POLL_SECONDS"


class ApprovalInput(RunInput):
    """A reviewer's answer at the approval gate (the Prefect UI renders it as the resume form)."""

    approve_all: bool = Field(
        default=False, description="approve every creative that passed QA (held 'warn' creatives still need their id in 'approve')"
    )
    approve: list[str] = Field(default_factory=list, description="job ids to publish, e.g. 'apple-juice/square/v0'")
    reject: list[str] = Field(default_factory=list, description="job ids not to publish (wins over approve and approve_all)")
    reason: str = Field(default="", description="why: recorded in the manifest with every decision of this answer")
    reviewer: str = Field(default="", description="who decides: recorded in the manifest")


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


def decide(records: list[JobRecord], answer: ApprovalInput, at: datetime | None = None) -> GateOutcome:
    """Turn a reviewer's answer into one decision per creative under review (rules in the module docstring).

    Args:
        records: the job records before the gate (status from QA: published | held | failed | error).
        answer: the reviewer's :class:`ApprovalInput`.
        at: time of the decision (default: now, UTC).
    """
    at = at or datetime.now(timezone.utc)
    review = under_review(records)
    by = answer.reviewer.strip() or "unknown reviewer"
    status = {r.job_id: r.status for r in records}
    ignored: dict[str, str] = {}
    for job_id in dict.fromkeys([*answer.approve, *answer.reject]):
        if job_id not in review:
            ignored[job_id] = f"{status[job_id]} in QA: never published" if job_id in status else "no such creative in this run"
    rejected, approved = set(answer.reject), set(answer.approve)
    decisions: dict[str, ReviewDecision] = {}
    for job_id, kind in review.items():
        if job_id in rejected:
            verdict, reason = "rejected", answer.reason or "rejected by the reviewer"
        elif job_id in approved or (answer.approve_all and kind == "passed"):
            # the answer's reason explains its rejections when it has any; otherwise it is the approval's
            verdict, reason = "approved", (answer.reason if answer.reason and not rejected else "approved by the reviewer")
        elif answer.approve_all and kind == "held":
            verdict, reason = "rejected", "QA warned: approve_all does not cover held creatives; list its id in approve"
        else:
            verdict, reason = "rejected", "not approved"
        decisions[job_id] = ReviewDecision(verdict=verdict, by=by, at=at, reason=reason, source="reviewer")
    return GateOutcome(decisions=decisions, ignored=ignored)


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


def pause_description(campaign: str, records: list[JobRecord], report: str, manifest: str, timeout_seconds: int, on_timeout: str) -> str:
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
        f"`approve_all` publishes the {len(passed)} that passed QA; the {len(held)} QA held ('warn') are published only "
        "when listed in `approve`. `reject` wins. Without a decision within "
        f"{timeout_seconds} s: {on_timeout.replace('_', ' ')}.",
        "",
        "Passed QA: " + (", ".join(f"`{j}`" for j in passed) or "none"),
        "",
        "Held (QA warn): " + (", ".join(f"`{j}`" for j in held) or "none"),
    ]
    return "\n".join(lines)


def poll_seconds(timeout_seconds: int) -> int:
    """Seconds between the paused run's checks for a decision: ``$BRANDFLOW_REVIEW_POLL_SECONDS`` or 10,
    never more than the timeout."""
    try:
        value = int(os.environ.get(POLL_ENV, "10"))
    except ValueError:
        value = 10
    return max(1, min(value, timeout_seconds))


def wait_for_approval(description: str, timeout_seconds: int) -> ApprovalInput | None:
    """Pause the current flow run until a reviewer answers; ``None`` when ``timeout_seconds`` pass first.

    Needs a Prefect server (``PREFECT_API_URL``): ephemeral runs cannot be resumed by anyone. The run
    keeps its process (and its worker slot) while it waits. On timeout Prefect leaves the run in an
    expired Paused state; this function moves it back to Running (forced, with a message) so that the
    flow can apply ``on_review_timeout`` and finish normally.
    """
    from prefect.context import FlowRunContext
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    form = ApprovalInput.with_initial_data(description=description)
    try:
        return pause_flow_run(wait_for_input=form, timeout=timeout_seconds, poll_interval=poll_seconds(timeout_seconds), key="review")
    except FlowPauseTimeout:
        ctx = FlowRunContext.get()
        if ctx is not None and ctx.flow_run is not None:
            from prefect.client.orchestration import get_client
            from prefect.states import Running

            with get_client(sync_client=True) as client:
                client.set_flow_run_state(
                    ctx.flow_run.id, Running(message=f"review timed out after {timeout_seconds} s"), force=True
                )
        return None


# --------------------------------------------------------------------------- the REST side (brandflow approve)
class ApprovalError(RuntimeError):
    """The server did not accept the decision (the run is not paused, the input is invalid, …)."""


def api_headers() -> dict[str, str]:
    """Auth headers for the configured Prefect API: ``PREFECT_API_KEY`` (Bearer) or
    ``PREFECT_API_AUTH_STRING`` (HTTP basic, self-hosted servers)."""
    import base64

    from prefect.settings import get_current_settings

    api = get_current_settings().api
    key = api.key.get_secret_value() if api.key else None
    auth = api.auth_string.get_secret_value() if api.auth_string else None
    if key:
        return {"Authorization": f"Bearer {key}"}
    if auth:
        return {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    return {}


def configured_api_url() -> str | None:
    """``PREFECT_API_URL`` from the environment or the active Prefect profile (``None`` when unset)."""
    from prefect.settings import get_current_settings

    return get_current_settings().api.url or None


def resume_run(
    flow_run_id: str,
    answer: ApprovalInput,
    api_url: str | None = None,
    headers: dict[str, str] | None = None,
    wait_seconds: float = 30.0,
) -> dict[str, Any]:
    """Resume a paused campaign run with ``answer`` through ``POST {api}/flow_runs/{id}/resume``.

    Args:
        flow_run_id: the paused flow run's id (UUID string).
        answer: the decision; sent as ``run_input`` and validated by the server against the schema the
            run saved when it paused.
        api_url: e.g. ``http://127.0.0.1:4200/api``; default ``PREFECT_API_URL``.
        headers: extra request headers; default :func:`api_headers`.
        wait_seconds: how long to retry while the run has paused but not yet saved its input schema
            (a window of milliseconds right after the pause) or the server answers 503 (busy).

    Returns:
        The server's orchestration result (``{"status": "ACCEPT", ...}``).

    Raises:
        ApprovalError: no API URL, the run is not paused, or the server rejected the input.
    """
    import httpx

    url = (api_url or configured_api_url() or "").rstrip("/")
    if not url:
        raise ApprovalError("no Prefect API: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api) or pass --api")
    body = {"run_input": answer.model_dump(mode="json")}
    deadline = time.monotonic() + wait_seconds
    with httpx.Client(base_url=url, headers=headers if headers is not None else api_headers(), timeout=30) as client:
        while True:
            response = client.post(f"/flow_runs/{flow_run_id}/resume", json=body)
            if response.status_code == 404:
                raise ApprovalError(f"flow run {flow_run_id} not found on {url}")
            if response.status_code == 503 and time.monotonic() < deadline:  # the server asks clients to retry
                time.sleep(0.5)
                continue
            if response.status_code >= 400:
                raise ApprovalError(f"{url} answered {response.status_code}: {response.text[:500]}")
            result = response.json()
            if result.get("status") == "ACCEPT":
                return result
            reason = (result.get("details") or {}).get("reason", "")
            if "schema not found" in reason.lower() and time.monotonic() < deadline:
                time.sleep(0.5)
                continue
            raise ApprovalError(f"the server did not resume run {flow_run_id}: {result.get('status')}: {reason}")


def default_reviewer() -> str:
    """The local user name, the default ``reviewer`` of ``brandflow approve``."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no user database entry (containers)
        return os.environ.get("USER", "")
