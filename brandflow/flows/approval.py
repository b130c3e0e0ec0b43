"""The human approval gate on Prefect: the flow pauses for a :class:`ApprovalInput` and is resumed with one.

A campaign with ``review: required`` pauses after QA with :func:`wait_for_approval`
(``prefect.flow_runs.pause_flow_run`` with ``wait_for_input=ApprovalInput``): the Prefect UI shows the
pause description (the report's path and the creatives under review) and renders :class:`ApprovalInput`
as a form; ``brandflow approve`` and ``brandflow review`` (:func:`resume_run`) send the same answer over the
REST API (``POST /api/flow_runs/{id}/resume`` with ``run_input``).

The rules that turn an answer into decisions, and the check of who gave it, are Prefect-free and live in
:mod:`brandflow.review.decisions` (re-exported here). An answer whose identity does not check out is
refused and the run pauses again for the rest of its timeout: an unauthenticated ``POST …/resume``
with a free-text name approves nothing.
"""

from __future__ import annotations

import getpass
import os
import time
from typing import Any

from prefect.input import RunInput

from brandflow.review.decisions import (  # noqa: F401 — re-exported: the gate's rules
    GateOutcome,
    ReviewAnswer,
    SignedDecision,
    apply,
    decide,
    decide_on_timeout,
    identify,
    pause_description,
    pending,
    under_review,
)
from brandflow.review.reviewers import ReviewerError

__all__ = [
    "POLL_ENV", "ApprovalError", "ApprovalInput", "GateOutcome", "ReviewAnswer", "SignedDecision", "api_headers", "apply",
    "configured_api_url", "decide", "decide_on_timeout", "default_reviewer", "identify", "pause_description", "paused_run_folder",
    "pending", "poll_seconds", "resume_run", "under_review", "wait_for_approval",
]

#: seconds between the paused flow's checks for a decision; small values only for tests
POLL_ENV = "BRANDFLOW_REVIEW_POLL_SECONDS"


class ApprovalInput(RunInput, ReviewAnswer):
    """A reviewer's answer at the approval gate (the Prefect UI renders it as the resume form);
    the fields are :class:`~brandflow.review.decisions.ReviewAnswer`'s."""


def poll_seconds(timeout_seconds: int) -> int:
    """Seconds between the paused run's checks for a decision: ``$BRANDFLOW_REVIEW_POLL_SECONDS`` or 10,
    never more than the timeout."""
    try:
        value = int(os.environ.get(POLL_ENV, "10"))
    except ValueError:
        value = 10
    return max(1, min(value, timeout_seconds))


def wait_for_approval(description: str, timeout_seconds: int, flow_run_id: str | None = None) -> ApprovalInput | None:
    """Pause the current flow run until a reviewer answers; ``None`` when ``timeout_seconds`` pass first.

    An answer whose identity does not check out (:func:`~brandflow.review.decisions.identify`: unsigned or
    wrongly signed while reviewers are configured) is logged, refused, and the run pauses again for the
    rest of the timeout with the refusal in its description.

    Needs a Prefect server (``PREFECT_API_URL``): ephemeral runs cannot be resumed by anyone. The run
    keeps its process (and its worker slot) while it waits. On timeout Prefect leaves the run in an
    expired Paused state; this function moves it back to Running (forced, with a message) so that the
    flow can apply ``on_review_timeout`` and finish normally.
    """
    from prefect import get_run_logger
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run

    deadline, pauses, base = time.monotonic() + timeout_seconds, 0, description
    while True:
        remaining = int(deadline - time.monotonic())
        if remaining < 1:
            return None  # the refused answer resumed the run: it is Running already
        form = ApprovalInput.with_initial_data(description=description)
        try:
            answer = pause_flow_run(wait_for_input=form, timeout=remaining, poll_interval=poll_seconds(remaining),
                                    key="review" if pauses == 0 else f"review-{pauses + 1}")
        except FlowPauseTimeout:
            _back_to_running(timeout_seconds)
            return None
        pauses += 1
        try:
            identify(answer, flow_run_id)
            return answer
        except ReviewerError as e:
            get_run_logger().warning("refused a review answer (reviewer %r): %s; waiting for another", answer.reviewer, e)
            description = f"**An answer was refused:** {e}\n\n{base}"


def _back_to_running(timeout_seconds: int) -> None:
    from prefect.context import FlowRunContext

    ctx = FlowRunContext.get()
    if ctx is not None and ctx.flow_run is not None:
        from prefect.client.orchestration import get_client
        from prefect.states import Running

        with get_client(sync_client=True) as client:
            client.set_flow_run_state(ctx.flow_run.id, Running(message=f"review timed out after {timeout_seconds} s"), force=True)


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
    """``PREFECT_API_URL`` from the environment or the active Prefect profile (``None`` when unset, and when it is
    the temporary server ``brandflow run`` started for itself: that one ends with the run)."""
    from prefect.settings import get_current_settings

    from brandflow.flows.ephemeral import temporary_api_url

    url = get_current_settings().api.url or None
    return None if url is not None and url == temporary_api_url() else url


def resume_run(
    flow_run_id: str,
    answer: ReviewAnswer,
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


def paused_run_folder(flow_run_id: str, api_url: str | None = None, headers: dict[str, str] | None = None) -> str:
    """The run folder of a flow run paused for review, from the manifest path in its pause description.

    Raises:
        ApprovalError: no API, no such flow run, or it is not paused for a review (names its state).
    """
    import re

    import httpx

    url = (api_url or configured_api_url() or "").rstrip("/")
    if not url:
        raise ApprovalError("no Prefect API to look the run up: set PREFECT_API_URL, or pass the run folder instead of the id")
    with httpx.Client(base_url=url, headers=headers if headers is not None else api_headers(), timeout=30) as client:
        response = client.get(f"/flow_runs/{flow_run_id}")
        if response.status_code in (404, 422):
            raise ApprovalError(f"unknown run id {flow_run_id!r}: no flow run with that id on {url}, and no run folder by that name")
        response.raise_for_status()
        state = response.json().get("state") or {}
        keyset = (state.get("state_details") or {}).get("run_input_keyset") or {}
        if state.get("type") != "PAUSED" or "description" not in keyset:
            raise ApprovalError(f"flow run {flow_run_id} is not waiting for a review (state {state.get('name', 'unknown')}); "
                                "to read its report, pass its run folder")
        description = client.get(f"/flow_runs/{flow_run_id}/input/{keyset['description']}").json()
    found = re.search(r"Manifest: `([^`]+)`", str(description))
    if not found:
        raise ApprovalError(f"flow run {flow_run_id} is paused, but not by a brandflow review gate")
    return found.group(1).rsplit("/", 1)[0]
