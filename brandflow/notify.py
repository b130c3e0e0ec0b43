"""Webhook notifications: a Slack-compatible JSON payload when a run waits for approval, finishes or fails.

The payload is ``{"text": ..., "blocks": [...]}``: Slack incoming webhooks render the blocks and use
``text`` as the notification fallback; Mattermost, Teams workflows, Zulip's Slack-compatible endpoint or
any HTTP receiver can read the same two fields. A notification never fails a run: delivery errors are
logged and retried once on transient failures (connection errors, 429, 5xx).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Literal

from brandflow.manifest import RunManifest
from brandflow.spec import NotifySpec

log = logging.getLogger(__name__)

Event = Literal["awaiting_approval", "finished", "failed"]

_TITLES = {
    "awaiting_approval": ":eyes: *{campaign}* is waiting for approval",
    "finished": ":white_check_mark: *{campaign}* finished",
    "failed": ":x: *{campaign}* failed",
}


def flow_run_url(flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a flow run, when this process knows the UI's address (``PREFECT_UI_URL``)."""
    if not flow_run_id:
        return None
    try:
        from prefect.settings import get_current_settings

        ui = get_current_settings().ui_url
    except Exception:  # noqa: BLE001 — no settings, no link
        return None
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else None


def build_payload(
    event: Event,
    campaign: str,
    manifest: RunManifest | None = None,
    report: str | None = None,
    flow_run_id: str | None = None,
    detail: str = "",
) -> dict[str, Any]:
    """The Slack-compatible message for ``event``.

    Args:
        event: ``awaiting_approval`` | ``finished`` | ``failed``.
        campaign: the campaign slug.
        manifest: the run's manifest (counts); ``None`` when the run failed before it had one.
        report: path or URL of ``report.html``.
        flow_run_id: the Prefect flow run id (linked when the UI address is known).
        detail: one more line (the error of a failed run, the approval instructions).

    Returns:
        ``{"text": str, "blocks": list[dict]}``.
    """
    title = _TITLES[event].format(campaign=campaign)
    facts = []
    if manifest is not None:
        s = manifest.summary
        if event == "awaiting_approval":
            facts.append(f"{s.held} creatives to review ({s.failed} failed QA, {s.errors} errors) from {s.products} products")
        else:
            facts.append(
                f"{s.published} published, {s.held} held, {s.failed} failed QA, {s.errors} errors "
                f"of {s.jobs} creatives from {s.products} products"
            )
    if detail:
        facts.append(detail)
    links = []
    if report:
        links.append(f"report: {report}")
    url = flow_run_url(flow_run_id)
    if url:
        links.append(f"<{url}|flow run>")
    elif flow_run_id:
        links.append(f"flow run {flow_run_id}")
    text = " · ".join([title.replace("*", ""), *facts])
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join([title, *facts])}}]
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]})
    return {"text": text, "blocks": blocks}


def post(url: str, payload: dict[str, Any], timeout: float = 10.0, attempts: int = 2) -> bool:
    """POST ``payload`` as JSON to ``url``; ``True`` when the receiver answered 2xx. Never raises.

    Args:
        url: the webhook URL (a secret: never logged beyond its host).
        payload: JSON-serialisable body.
        timeout: seconds per request.
        attempts: tries in all; a retry happens only on a connection error, 429 or 5xx.
    """
    import httpx

    from brandflow.retry import RetryPolicy

    host = httpx.URL(url).host
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(url, json=payload, timeout=timeout)
        except httpx.HTTPError as e:
            transient, why = True, f"{type(e).__name__}: {e}"
        else:
            if response.is_success:
                return True
            transient, why = response.status_code == 429 or response.status_code >= 500, f"HTTP {response.status_code}"
        if not transient or attempt == attempts:
            log.warning("webhook to %s not delivered (%s)", host, why)
            return False
        time.sleep(RetryPolicy(attempts, base_delay=1.0, max_delay=5.0).delay(attempt))
    return False


def notify(
    spec: NotifySpec | None,
    event: Event,
    campaign: str,
    manifest: RunManifest | None = None,
    report: str | None = None,
    flow_run_id: str | None = None,
    detail: str = "",
) -> bool:
    """Send ``event`` to the campaign's webhook when ``notify:`` asks for it; ``False`` when not sent."""
    if spec is None or event not in spec.on:
        return False
    url = spec.url()
    if not url:
        log.warning("notify.webhook_url_env=%s is not set on this worker: no notification", spec.webhook_url_env)
        return False
    return post(url, build_payload(event, campaign, manifest, report, flow_run_id, detail), timeout=spec.timeout_seconds)
