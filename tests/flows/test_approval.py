"""The approval gate and notifications.

Pure rules first (decide, timeout, records), then the REST side of ``brandflow approve`` against a local
stand-in of the resume endpoint, the webhook, the new spec fields, and finally the campaign flow pausing
for real under the session's Prefect test server (which is a real API server in a subprocess): approved
in a second thread through the REST API, and left to time out.
"""

from __future__ import annotations

import contextvars
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from brandflow import notify
from brandflow.cli import app
from brandflow.errors import SpecError
from brandflow.flows import approval
from brandflow.flows.approval import ApprovalError, ApprovalInput
from brandflow.manifest import RunManifest, RunSummary
from brandflow.records import Attempt, JobRecord, QAResult, ReferenceImage, StructuredPrompt, Subject
from brandflow.spec import NotifySpec, load_campaign

AT = datetime(2026, 10, 1, 9, 30, tzinfo=timezone.utc)


def _record(product: str, status: str) -> JobRecord:
    verdict = {"published": "pass", "held": "warn", "failed": "fail"}.get(status)
    attempt = Attempt(attempt=1, seed=7, qa=QAResult(verdict=verdict, checks=[]) if verdict else None,
                      error=None if verdict else "ImageError: broken")
    return JobRecord(
        job_id=f"{product}/square/v0", product_id=product, format="square", variant=0, backend="compositor",
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="the product")]), overlay={},
        references=[ReferenceImage(path=Path("/x.png"), role="primary_packshot", sha256="0" * 64)],
        attempts=[attempt], status=status,
    )


@pytest.fixture
def records() -> list[JobRecord]:
    """Two passed, one held (QA warn), one failed, one errored."""
    return [_record("a", "published"), _record("b", "published"), _record("w", "held"), _record("f", "failed"), _record("e", "error")]


# --------------------------------------------------------------------------- the rules
def test_only_what_qa_let_through_is_under_review(records):
    assert approval.under_review(records) == {"a/square/v0": "passed", "b/square/v0": "passed", "w/square/v0": "held"}
    waiting = approval.pending(records)
    assert [r.status for r in waiting] == ["held", "held", "held", "failed", "error"], "nothing is published before the decision"
    assert all(r.decision.verdict == "pending" and r.decision.reason == "awaiting approval" for r in waiting[:3])
    assert waiting[3].decision is None


def test_approve_all_covers_passed_creatives_but_not_held_ones(records):
    outcome = approval.decide(records, ApprovalInput(approve_all=True, reviewer="alice"), at=AT)
    assert outcome.approved == {"a/square/v0", "b/square/v0"}
    assert outcome.rejected == {"w/square/v0"} and "approve_all does not cover" in outcome.decisions["w/square/v0"].reason
    assert all(d.by == "alice" and d.at == AT and d.source == "reviewer" for d in outcome.decisions.values())
    assert set(outcome.decisions) == set(approval.under_review(records)), "failed and errored jobs get no decision"


def test_listed_ids_reject_wins_and_unknown_ids_are_reported(records):
    answer = ApprovalInput(
        approve=["a/square/v0", "w/square/v0", "f/square/v0", "nope/square/v0"], reject=["a/square/v0"],
        reason="logo too small", reviewer="bob",
    )
    outcome = approval.decide(records, answer, at=AT)
    assert outcome.approved == {"w/square/v0"}, "a held creative is published when listed explicitly"
    assert outcome.decisions["a/square/v0"].verdict == "rejected" and outcome.decisions["a/square/v0"].reason == "logo too small"
    assert outcome.decisions["b/square/v0"].reason == "not approved"
    assert outcome.decisions["w/square/v0"].reason == "approved by the reviewer"
    assert outcome.ignored == {"f/square/v0": "failed in QA: never published", "nope/square/v0": "no such creative in this run"}
    after = approval.apply(records, outcome)
    assert [r.status for r in after] == ["held", "held", "published", "failed", "error"]
    assert after[0].decision.by == "bob"


def test_an_empty_answer_rejects_everything_and_names_an_unknown_reviewer(records):
    outcome = approval.decide(records, ApprovalInput(), at=AT)
    assert outcome.approved == set()
    assert {d.by for d in outcome.decisions.values()} == {"unknown reviewer"}


@pytest.mark.parametrize(("policy", "approved"), [("reject_all", set()), ("publish_passing", {"a/square/v0", "b/square/v0"})])
def test_timeout_policies(records, policy, approved):
    outcome = approval.decide_on_timeout(records, policy, 3600, at=AT)
    assert outcome.approved == approved
    assert outcome.decisions["w/square/v0"].verdict == "rejected", "held creatives always need a human"
    assert all(d.source == "timeout" and d.by == "timeout" and "3600 s" in d.reason for d in outcome.decisions.values())


def test_pause_description_names_the_report_and_the_choices(records):
    text = approval.pause_description("autumn", records, "/runs/autumn/report.html", "/runs/autumn/manifest.json", 600, "reject_all")
    assert "/runs/autumn/report.html" in text and "/runs/autumn/manifest.json" in text
    assert "`a/square/v0`, `b/square/v0`" in text and "Held (QA warn): `w/square/v0`" in text
    assert "within 600 s: reject all" in text and "f/square/v0" not in text


def test_approval_input_is_a_documented_form():
    schema = ApprovalInput.model_json_schema()
    assert set(schema["properties"]) == {"approve_all", "approve", "reject", "reason", "reviewer", "signature", "decisions"}
    assert all(p.get("description") for p in schema["properties"].values()), "the UI shows these as help texts"
    with pytest.raises(ValueError):
        ApprovalInput(approve_everything=True)


def test_poll_interval(monkeypatch):
    monkeypatch.setenv(approval.POLL_ENV, "1")
    assert approval.poll_seconds(600) == 1
    monkeypatch.setenv(approval.POLL_ENV, "30")
    assert approval.poll_seconds(5) == 5
    monkeypatch.delenv(approval.POLL_ENV)
    assert approval.poll_seconds(600) == 10


# --------------------------------------------------------------------------- the REST side
def test_resume_run_retries_until_the_schema_is_saved(webhook):
    webhook.statuses = [
        (201, {"status": "REJECT", "details": {"reason": "Run input schema not found."}}),
        (201, {"status": "ACCEPT", "details": {}}),
    ]
    answer = ApprovalInput(approve=["a/square/v0"], reviewer="carol")
    result = approval.resume_run("1234", answer, api_url=webhook.url.removesuffix("/hook"), headers={"Authorization": "Bearer k"})
    assert result["status"] == "ACCEPT"
    assert len(webhook.requests) == 2
    path, headers, body = webhook.requests[-1]
    assert path == "/flow_runs/1234/resume" and headers["Authorization"] == "Bearer k"
    assert body == {"run_input": {"approve_all": False, "approve": ["a/square/v0"], "reject": [], "reason": "", "reviewer": "carol",
                                  "signature": "", "decisions": []}}


def test_resume_run_errors(webhook, monkeypatch):
    api = webhook.url.removesuffix("/hook")
    webhook.statuses = [(201, {"status": "ABORT", "details": {"reason": "Cannot resume a flow run that is not paused."}})]
    with pytest.raises(ApprovalError, match="not paused"):
        approval.resume_run("1234", ApprovalInput(approve_all=True), api_url=api, headers={})
    webhook.statuses = [(404, {"detail": "Flow run not found"})]
    with pytest.raises(ApprovalError, match="not found"):
        approval.resume_run("1234", ApprovalInput(approve_all=True), api_url=api, headers={})
    monkeypatch.setattr(approval, "configured_api_url", lambda: None)
    with pytest.raises(ApprovalError, match="PREFECT_API_URL"):
        approval.resume_run("1234", ApprovalInput(approve_all=True))


def test_cli_approve_sends_ids_and_reason(webhook):
    webhook.statuses = [(201, {"status": "ACCEPT"})]
    res = CliRunner().invoke(app, [
        "approve", "1234", "--ids", "a/square/v0,b/square/v0", "--reject", "w/square/v0",
        "--reason", "colour off", "--reviewer", "dana", "--api", webhook.url.removesuffix("/hook"),
    ])
    assert res.exit_code == 0, res.output
    assert webhook.bodies[-1]["run_input"] == {
        "approve_all": False, "approve": ["a/square/v0", "b/square/v0"], "reject": ["w/square/v0"], "reason": "colour off", "reviewer": "dana",
        "signature": "", "decisions": [],
    }
    assert CliRunner().invoke(app, ["approve", "1234", "--api", webhook.url]).exit_code == 2, "no decision given"


def test_cli_reviewer_commands_and_a_signed_approve(webhook):
    from brandflow.review import reviewers
    from brandflow.review.decisions import ReviewAnswer

    RUN = "0b9c6a1e-0000-4000-8000-000000000001"
    RECORDS = [_record("a", "published"), _record("b", "published"), _record("w", "held")]
    runner = CliRunner()
    res = runner.invoke(app, ["reviewer", "add", "Dana"])
    assert res.exit_code == 0, res.output
    token = res.stdout.strip().splitlines()[-1]
    assert reviewers.login(token) == "Dana"
    assert runner.invoke(app, ["reviewer", "list"]).stdout.strip() == "Dana"
    webhook.statuses = [(201, {"status": "ACCEPT"})]
    res = runner.invoke(app, ["approve", RUN, "--all", "--token", token, "--api", webhook.url.removesuffix("/hook")])
    assert res.exit_code == 0, res.output
    sent = ReviewAnswer(**webhook.bodies[-1]["run_input"])
    assert sent.reviewer == "Dana" and approval.decide(RECORDS, sent, flow_run_id=RUN).approved == {"a/square/v0", "b/square/v0"}
    assert token not in str(webhook.bodies[-1]), "the token itself never travels"
    assert runner.invoke(app, ["approve", RUN, "--all", "--token", "nonsense"]).exit_code == 2
    assert runner.invoke(app, ["reviewer", "remove", "Dana"]).exit_code == 0
    assert runner.invoke(app, ["reviewer", "remove", "Dana"]).exit_code == 2


# --------------------------------------------------------------------------- notifications
def _manifest(records: list[JobRecord]) -> RunManifest:
    return RunManifest(
        campaign="autumn", spec_path="/c.yaml", brand="Saleor", backend="compositor", publish_target="file:///out",
        started_at=AT, flow_run_id="abc", summary=RunSummary.of(records, [], 5, 1.0), jobs=records, rejections=[],
    )


def test_payload_is_slack_compatible(records):
    waiting = notify.build_payload("awaiting_approval", "autumn", _manifest(approval.pending(records)), "/r/report.html", "abc")
    assert set(waiting) == {"text", "blocks"}
    assert "waiting for approval" in waiting["text"] and "3 creatives to review" in waiting["text"]
    assert waiting["blocks"][0]["type"] == "section" and waiting["blocks"][0]["text"]["type"] == "mrkdwn"
    assert "/r/report.html" in waiting["blocks"][-1]["elements"][0]["text"]
    done = notify.build_payload("finished", "autumn", _manifest(records), "/r/report.html")
    assert "2 published, 1 held, 1 failed QA, 1 errors of 5 creatives" in done["text"]
    failed = notify.build_payload("failed", "autumn", detail="RuntimeError: boom")
    assert "failed" in failed["text"] and "RuntimeError: boom" in failed["text"]


def test_post_retries_transient_errors_only(webhook, monkeypatch):
    monkeypatch.setattr(notify.time, "sleep", lambda s: None)
    webhook.statuses = [503, 200]
    assert notify.post(webhook.url, {"text": "hi"}) is True and len(webhook.bodies) == 2
    webhook.statuses = [400]
    assert notify.post(webhook.url, {"text": "hi"}) is False and len(webhook.bodies) == 3, "a 4xx is final"
    webhook.close()
    assert notify.post(webhook.url, {"text": "hi"}, timeout=2) is False, "an unreachable webhook never raises"


def test_notify_follows_the_spec(webhook, monkeypatch):
    only_finished = NotifySpec(webhook_url=webhook.url, on=["finished"])
    assert notify.notify(only_finished, "awaiting_approval", "autumn") is False and webhook.bodies == []
    assert notify.notify(only_finished, "finished", "autumn") is True and len(webhook.bodies) == 1
    from_env = NotifySpec(webhook_url_env="BRANDFLOW_TEST_HOOK")
    monkeypatch.delenv("BRANDFLOW_TEST_HOOK", raising=False)
    assert notify.notify(from_env, "finished", "autumn") is False
    monkeypatch.setenv("BRANDFLOW_TEST_HOOK", webhook.url)
    assert notify.notify(from_env, "finished", "autumn") is True and len(webhook.bodies) == 2
    assert notify.notify(None, "finished", "autumn") is False


# --------------------------------------------------------------------------- spec fields
def test_spec_review_schedule_and_notify_fields(tiny_campaign):
    path = tiny_campaign(
        review="required", review_timeout_seconds=120, on_review_timeout="publish_passing",
        schedule={"cron": "0 6 * * 1", "timezone": "Europe/Berlin"}, notify={"webhook_url_env": "HOOK", "on": ["finished"]},
    )
    spec, _ = load_campaign(path)
    assert (spec.review, spec.review_timeout_seconds, spec.on_review_timeout) == ("required", 120, "publish_passing")
    assert spec.schedule.cron == "0 6 * * 1" and spec.schedule.timezone == "Europe/Berlin"
    assert spec.notify.webhook_url_env == "HOOK"
    default, _ = load_campaign(tiny_campaign("default"))
    assert (default.review, default.schedule, default.notify) == ("none", None, None)


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"schedule": {"cron": "every monday"}}, "schedule", "not a valid cron"),
    ({"schedule": {"cron": "0 6 * * 1", "timezone": "Mars/Olympus"}}, "schedule", "unknown time zone"),
    ({"notify": {"webhook_url": "https://h/x", "webhook_url_env": "HOOK"}}, "notify", "exactly one"),
    ({"notify": {"webhook_url": "ftp://h/x"}}, "notify", "http(s)"),
    ({"review": "maybe"}, "review", ""),
    ({"on_review_timeout": "publish_all"}, "on_review_timeout", ""),
])
def test_spec_field_errors_name_the_field(tiny_campaign, overrides, field, message):
    with pytest.raises(SpecError) as e:
        load_campaign(tiny_campaign("bad", **overrides))
    assert e.value.field.startswith(field) and message in str(e.value)


# --------------------------------------------------------------------------- the flow, paused for real
def _published(result) -> set[str]:
    return {j.job_id for j in RunManifest.read(result.manifest).jobs if j.published is not None}


def test_review_without_a_server_fails_before_any_work(prefect_harness, tiny_campaign, monkeypatch):
    from brandflow.flows.campaign import campaign_flow

    monkeypatch.setattr(approval, "configured_api_url", lambda: None)
    path = tiny_campaign("noserver", review="required")
    with pytest.raises(SpecError, match="needs a Prefect server"):
        campaign_flow(str(path))
    assert not (path.parent / "runs").exists()


@pytest.mark.parametrize(("policy", "published"), [("reject_all", 0), ("publish_passing", 2)])
def test_no_decision_in_time_applies_on_review_timeout(prefect_harness, tiny_campaign, webhook, monkeypatch, policy, published):
    from brandflow.flows.campaign import campaign_flow

    monkeypatch.setenv(approval.POLL_ENV, "1")
    path = tiny_campaign(policy, review="required", review_timeout_seconds=2, on_review_timeout=policy,
                         notify={"webhook_url": webhook.url})
    result = campaign_flow(str(path))
    manifest = RunManifest.read(result.manifest)
    assert result.summary.published == published and result.summary.held == 2 - published
    assert {j.decision.source for j in manifest.jobs} == {"timeout"}
    assert all(policy in j.decision.reason for j in manifest.jobs)
    verdict = "approved" if published else "rejected"
    assert result.report.read_text().count(f"class=\"decision d-{verdict}\"") == 2, "the report shows every decision"
    assert [b["text"].split(" · ")[0] for b in webhook.bodies] == [
        ":eyes: saleor-autumn is waiting for approval", ":white_check_mark: saleor-autumn finished",
    ]
    if not published:
        assert not list((result.run_dir / "published").rglob("*.png")), "no creative is published (only the run's audit record)"
        assert len(list((result.run_dir / "held").glob("*.png"))) == 2
        assert "review: rejected by timeout" in next((result.run_dir / "held").glob("*.txt")).read_text()


def test_approve_part_of_a_paused_run_over_the_api(prefect_harness, tiny_campaign, monkeypatch):
    """The flow pauses in a second thread; this thread finds the paused run and approves one creative."""
    from prefect.settings import PREFECT_API_URL

    from brandflow.flows.campaign import campaign_flow

    monkeypatch.setenv(approval.POLL_ENV, "1")
    path = tiny_campaign("approve", review="required", review_timeout_seconds=300)
    api = PREFECT_API_URL.value()
    outcome: dict = {}
    ctx = contextvars.copy_context()  # the harness's settings live in context variables
    worker = threading.Thread(target=lambda: outcome.update(result=ctx.run(campaign_flow, str(path))), daemon=True)
    worker.start()

    deadline, run_id = time.monotonic() + 180, None
    while run_id is None and time.monotonic() < deadline and worker.is_alive():
        runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}).json()
        run_id = next((r["id"] for r in runs if r["parameters"].get("spec_path") == str(path)), None)
        time.sleep(0.5)
    assert run_id, "the run never paused"
    waiting = RunManifest.read(path.parent / "runs" / "saleor-autumn" / "manifest.json")
    assert {j.decision.verdict for j in waiting.jobs} == {"pending"} and waiting.summary.published == 0
    description = httpx.get(f"{api}/flow_runs/{run_id}/input/paused-review-description").json()
    assert str(path.parent / "runs" / "saleor-autumn" / "report.html") in description

    approval.resume_run(run_id, ApprovalInput(approve=["apple-juice/square/v0"], reason="hero shot", reviewer="erin"), api_url=api)
    worker.join(120)
    assert not worker.is_alive()
    result = outcome["result"]
    assert _published(result) == {"apple-juice/square/v0"}
    decisions = {j.job_id: j.decision for j in RunManifest.read(result.manifest).jobs}
    assert decisions["apple-juice/square/v0"].verdict == "approved" and decisions["apple-juice/square/v0"].by == "erin"
    assert decisions["white-plimsolls/square/v0"].verdict == "rejected"
    assert decisions["white-plimsolls/square/v0"].reason == "not approved"


# --------------------------------------------------------------------------- parameters events fill in
def test_feed_parameter_replaces_the_campaign_feed(tiny_campaign):
    from brandflow.flows.campaign import load_spec

    path = tiny_campaign("feed")
    (path.parent / "feeds").mkdir()
    new_feed = path.parent / "feeds" / "2026-10-01.csv"
    new_feed.write_text((path.parent / "products.csv").read_text())
    spec, _ = load_spec.fn(str(path), "feeds/2026-10-01.csv")
    assert spec.feed.path == new_feed, "relative to the campaign file"
    assert load_spec.fn(str(path), str(new_feed))[0].feed.path == new_feed
    with pytest.raises(SpecError, match="not a file"):
        load_spec.fn(str(path), "feeds/missing.csv")


def test_an_event_without_a_spec_path_fails_with_a_clear_error():
    from brandflow.flows.campaign import load_spec

    with pytest.raises(SpecError, match="no campaign file given"):
        load_spec.fn("")
