"""The review workspace in a real browser (Debian's chromium driven by Playwright) against a real paused flow.

A campaign with ``review: required`` runs in a second thread and pauses on the session's Prefect test
server. The report is opened from disk (filters, full-size view, keyboard); then the run is reviewed in
the served page by two reviewers at once — one approves a creative, the other rejects one with a reason
and tries to overrule the first — and the decisions are sent. The flow resumes, publishes exactly the
approved creative, and the manifest records both decisions with who, when and why, verified.
"""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from brandflow.flows import approval
from brandflow.manifest import RunManifest
from brandflow.review import reviewers

class Served:
    """The review app on a free 127.0.0.1 port in a thread, stopped on exit."""

    def __init__(self, app):
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}/"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _paused_run(path: Path, api: str) -> str:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        runs = httpx.post(f"{api}/flow_runs/filter", json={"flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}).json()
        run_id = next((r["id"] for r in runs if r["parameters"].get("spec_path") == str(path)), None)
        if run_id:
            return run_id
        time.sleep(0.5)
    raise AssertionError("the run never paused")


def _start_paused(path: Path) -> tuple[str, str, threading.Thread, dict]:
    """Run the campaign flow of ``path`` in a thread until it pauses for review: (api url, flow run id, the
    thread, a dict that receives the flow's ``result``)."""
    from prefect.settings import PREFECT_API_URL

    from brandflow.flows.campaign import campaign_flow

    api = PREFECT_API_URL.value()
    outcome: dict = {}
    ctx = contextvars.copy_context()
    worker = threading.Thread(target=lambda: outcome.update(result=ctx.run(campaign_flow, str(path))), daemon=True)
    worker.start()
    return api, _paused_run(path, api), worker, outcome


def test_review_in_the_browser_resumes_the_flow(prefect_harness, tiny_campaign, monkeypatch, browser):
    from brandflow.cli import app as cli
    from brandflow.review.app import create_app

    monkeypatch.setenv(approval.POLL_ENV, "1")
    ana, ben = reviewers.add("Ana Lima"), reviewers.add("Ben Okafor")
    path = tiny_campaign("browser", review="required", review_timeout_seconds=300)
    api, run_id, worker, outcome = _start_paused(path)
    run_dir = path.parent / "runs" / "saleor-autumn"
    apple, plimsolls = "apple-juice/square/v0", "white-plimsolls/square/v0"

    # the id resolves to the run folder; an unknown id is a clear error
    assert approval.paused_run_folder(run_id, api_url=api) == str(run_dir)
    unknown = CliRunner().invoke(cli, ["review", "00000000-0000-4000-8000-000000000000", "--api", api])
    assert unknown.exit_code == 2 and "unknown run id" in unknown.output

    # --- the report, opened from disk: needs attention, full size, keyboard
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((run_dir / "report.html").as_uri())
    page.select_option("#f-status", "attention")
    visible = page.locator("#grid > .card:not([hidden])")
    assert visible.count() == 2, "both creatives await a decision: both need attention"
    assert "showing 2 of 2" in page.inner_text("#shown")
    page.locator("#grid > .card:not([hidden]) a.open").first.click()
    assert page.is_visible("#viewer")
    first = page.inner_text("#v-title")
    assert page.locator("#v-refs img").count() >= 1, "the reference packshot beside the creative"
    assert page.locator("#v-svg rect").count() >= 2, "the layout and OCR boxes drawn on the image"
    assert page.evaluate("document.getElementById('v-img').naturalWidth") == 1080, "the full-size creative, by a relative link"
    page.keyboard.press("ArrowRight")
    assert page.inner_text("#v-title") != first and page.inner_text("#v-pos") == "2 of 2"
    page.keyboard.press("Escape")
    assert not page.is_visible("#viewer")
    assert errors == []

    # --- the served page: two reviewers at once
    with Served(create_app(run_dir, lambda rid, answer: approval.resume_run(rid, answer, api_url=api))) as url:
        pa = browser.new_context().new_page()
        pa.goto(url)
        pa.fill("#token", "Head of Brand")
        pa.click("button[type=submit]")
        assert "not valid" in pa.inner_text("#login-error")
        pa.fill("#token", ana)
        pa.click("button[type=submit]")
        assert "Ana Lima" in pa.inner_text("#reviewbar")
        pb = browser.new_context().new_page()
        pb.goto(url)
        pb.fill("#token", ben)
        pb.click("button[type=submit]")

        pa.locator(f'article[data-job="{apple}"] button.approve').click()
        pa.wait_for_selector(f'article[data-job="{apple}"] .decision.d-approved')
        assert "approved by Ana Lima" in pa.inner_text("#msg")
        card = pb.locator(f'article[data-job="{plimsolls}"]')
        card.locator("input[name=reason]").fill("the sole is cropped")
        card.locator("button.reject").click()
        pb.wait_for_selector(f'article[data-job="{plimsolls}"] .decision.d-rejected')
        pb.locator(f'article[data-job="{apple}"] button.reject').click()  # Ben's page still shows the form: Ana decided meanwhile
        pb.wait_for_function("document.getElementById('msg').textContent.includes('already')")
        assert f"{apple} was already approved by Ana Lima" in pb.inner_text("#msg")

        pa.click("#send")
        pa.wait_for_selector("#msg.ok")
        assert "sent 2 decisions" in pa.inner_text("#msg")
        pb.reload()
        pb.click("#send") if pb.locator("#send").count() else None
        assert "sent to the run by Ana Lima" in pb.inner_text("#reviewbar"), "the second reviewer sees it is done: nothing is sent twice"

        worker.join(120)
        assert not worker.is_alive(), "the flow resumed and finished"
    result = outcome["result"]
    manifest = RunManifest.read(result.manifest)
    decisions = {j.job_id: j.decision for j in manifest.jobs}
    assert (decisions[apple].verdict, decisions[apple].by, decisions[apple].verified) == ("approved", "Ana Lima", True)
    assert (decisions[plimsolls].verdict, decisions[plimsolls].by, decisions[plimsolls].reason) == ("rejected", "Ben Okafor", "the sole is cropped")
    assert decisions[plimsolls].verified and decisions[plimsolls].at is not None
    assert {j.job_id for j in manifest.jobs if j.published} == {apple}
    assert len(list((run_dir / "published").rglob("*.png"))) == 1, "published once"
    assert 'class="decision d-rejected"' in result.report.read_text(), "the final report shows the decisions"


def test_an_unsigned_resume_approves_nothing(prefect_harness, tiny_campaign, monkeypatch):
    """Issue 12 §5: with reviewers configured, POST .../resume with a free-text name is refused and the run keeps waiting."""
    from brandflow.review.decisions import ReviewAnswer, SignedDecision

    monkeypatch.setenv(approval.POLL_ENV, "1")
    ana = reviewers.add("Ana Lima")
    path = tiny_campaign("unsigned", review="required", review_timeout_seconds=300)
    api, run_id, worker, outcome = _start_paused(path)
    approval.resume_run(run_id, approval.ApprovalInput(approve_all=True, reviewer="Head of Brand"), api_url=api)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # refused: the run pauses again, with the refusal in its description
        state = httpx.get(f"{api}/flow_runs/{run_id}").json()["state"]
        keyset = (state.get("state_details") or {}).get("run_input_keyset") or {}
        if state["type"] == "PAUSED" and keyset.get("description", "").startswith("paused-review-2"):
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the run did not pause again: {state}")
    assert "An answer was refused" in httpx.get(f"{api}/flow_runs/{run_id}/input/{keyset['description']}").text
    assert not list((path.parent / "runs" / "saleor-autumn" / "published").rglob("*.png")), "nothing was published"

    one = SignedDecision(job_id="apple-juice/square/v0", verdict="approved", by="Ana Lima", at="2026-10-01T10:00:00+00:00")
    one.signature = reviewers.sign(ana, one.payload(run_id))
    approval.resume_run(run_id, approval.ApprovalInput(**ReviewAnswer(decisions=[one]).model_dump()), api_url=api)
    worker.join(120)
    manifest = RunManifest.read(outcome["result"].manifest)
    assert {j.job_id for j in manifest.jobs if j.published} == {"apple-juice/square/v0"}
    decisions = {j.job_id: j.decision for j in manifest.jobs}
    assert decisions["apple-juice/square/v0"].by == "Ana Lima" and decisions["apple-juice/square/v0"].verified
    undecided = decisions["white-plimsolls/square/v0"]
    assert (undecided.verdict, undecided.source, undecided.verified) == ("rejected", "gate", False)
    assert undecided.reason.startswith("not approved: no reviewer decided it")
