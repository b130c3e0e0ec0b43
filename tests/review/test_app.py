"""The review app over HTTP (Starlette's test client): login, decisions, bad input, sending once.

The browser test with a real paused flow is tests/flows/test_review_page.py; here the resume function is
a recorder, so that each refusal can be provoked directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from brandflow.review import reviewers
from brandflow.review.app import create_app
from brandflow.review.decisions import decide

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_run  # noqa: E402

RUN_ID = "5a1e0000-0000-4000-8000-00000000abcd"
JSON = {"Accept": "application/json"}


class Recorder:
    def __init__(self):
        self.calls, self.fail = [], None

    def __call__(self, flow_run_id, answer):
        if self.fail:
            raise RuntimeError(self.fail)
        self.calls.append((flow_run_id, answer))
        return {"status": "ACCEPT"}


@pytest.fixture
def served(tmp_path):
    run_dir = tmp_path / "runs" / "autumn"
    manifest = make_run(run_dir, 8, pending=True, flow_run_id=RUN_ID)
    resume = Recorder()
    tokens = {"ana": reviewers.add("Ana"), "ben": reviewers.add("Ben")}
    return run_dir, manifest, resume, tokens


def _client(app, token: str | None) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1")
    if token:
        assert client.post("/login", data={"token": token}, follow_redirects=False).status_code == 303
    return client


def _csrf(client: TestClient) -> str:
    html = client.get("/").text
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_login_needs_a_valid_token(served):
    run_dir, _, resume, tokens = served
    app = create_app(run_dir, resume)
    anon = _client(app, None)
    assert "Your reviewer token" in anon.get("/").text
    page = anon.post("/login", data={"token": "Head of Brand"})
    assert "this reviewer token is not valid" in page.text
    assert anon.post("/decide", data={"job": "x", "verdict": "approve"}, headers=JSON).status_code == 401
    ana = _client(app, tokens["ana"])
    assert "reviewing as <b>Ana</b>" in ana.get("/").text and "token checked" in ana.get("/").text


def test_decide_one_by_one_and_send_once(served):
    run_dir, manifest, resume, tokens = served
    app = create_app(run_dir, resume)
    ana, ben = _client(app, tokens["ana"]), _client(app, tokens["ben"])
    waiting = [j.job_id for j in manifest.jobs if j.decision and j.decision.verdict == "pending"]
    failed = next(j.job_id for j in manifest.jobs if j.status == "failed")
    a, b = waiting[0], waiting[1]
    ca, cb = _csrf(ana), _csrf(ben)

    ok = ana.post("/decide", data={"csrf": ca, "job": a, "verdict": "approve"}, headers=JSON)
    assert ok.status_code == 200 and ok.json()["decided"] == [a]
    no_reason = ben.post("/decide", data={"csrf": cb, "job": b, "verdict": "reject"}, headers=JSON)
    assert no_reason.status_code == 400 and "say why" in no_reason.json()["message"]
    twice = ben.post("/decide", data={"csrf": cb, "job": a, "verdict": "reject", "reason": "no"}, headers=JSON)
    assert twice.status_code == 409 and f"{a} was already approved by Ana" in twice.json()["message"], "two reviewers at once"
    not_under_review = ana.post("/decide", data={"csrf": ca, "job": failed, "verdict": "approve"}, headers=JSON)
    assert not_under_review.status_code == 409 and "not under review (failed QA: never published)" in not_under_review.json()["message"]
    unknown = ana.post("/decide", data={"csrf": ca, "job": "nope/square/v0", "verdict": "approve"}, headers=JSON)
    assert unknown.status_code == 404 and "no such creative" in unknown.json()["message"]
    stale = ana.post("/decide", data={"csrf": "x", "job": b, "verdict": "approve"}, headers=JSON)
    assert stale.status_code == 403
    assert ben.post("/decide", data={"csrf": cb, "job": b, "verdict": "reject", "reason": "logo clipped"}, headers=JSON).status_code == 200

    resume.fail = "Cannot resume a flow run that is not paused."
    refused = ana.post("/send", data={"csrf": ca}, headers=JSON)
    assert refused.status_code == 409 and "not paused" in refused.json()["message"]
    resume.fail = None
    sent = ana.post("/send", data={"csrf": ca}, headers=JSON)
    assert sent.status_code == 200 and len(resume.calls) == 1, "a refused send is not counted as sent"
    again = ben.post("/send", data={"csrf": cb}, headers=JSON)
    assert again.status_code == 409 and "already sent by Ana" in again.json()["message"] and len(resume.calls) == 1
    late = ben.post("/decide", data={"csrf": cb, "job": waiting[2], "verdict": "approve"}, headers=JSON)
    assert late.status_code == 409 and "already sent" in late.json()["message"]

    run_id, answer = resume.calls[0]
    assert run_id == RUN_ID
    outcome = decide(manifest.jobs, answer, flow_run_id=RUN_ID)  # what the flow will do: signatures check out
    assert outcome.decisions[a].verdict == "approved" and outcome.decisions[a].by == "Ana" and outcome.decisions[a].verified
    assert (outcome.decisions[b].verdict, outcome.decisions[b].by, outcome.decisions[b].reason) == ("rejected", "Ben", "logo clipped")
    assert all(outcome.decisions[j].source == "gate" and outcome.decisions[j].reason.startswith("not approved") for j in waiting[2:])


def test_forms_work_without_javascript(served):
    run_dir, manifest, resume, tokens = served
    ana = _client(create_app(run_dir, resume), tokens["ana"])
    job = next(j.job_id for j in manifest.jobs if j.decision and j.decision.verdict == "pending")
    page = ana.post("/decide", data={"csrf": _csrf(ana), "job": job, "verdict": "approve"})
    assert page.status_code == 200 and f"{job}: approved by Ana" in page.text, "redirected back with the message"
    assert "approved by Ana" in page.text.split(f'data-job="{job}"', 1)[1].split("</article>")[0]


def test_bulk_decisions(served):
    run_dir, manifest, resume, tokens = served
    ana = _client(create_app(run_dir, resume), tokens["ana"])
    waiting = [j.job_id for j in manifest.jobs if j.decision and j.decision.verdict == "pending"]
    res = ana.post("/decide", data={"csrf": _csrf(ana), "job": waiting, "verdict": "approve"}, headers=JSON)
    assert res.status_code == 200 and res.json()["decided"] == waiting


def test_only_the_runs_files_are_served_and_a_missing_creative_is_named(served):
    run_dir, manifest, resume, tokens = served
    ana = _client(create_app(run_dir, resume), tokens["ana"])
    creative = next(j for j in manifest.jobs if j.final.creative)
    i = manifest.jobs.index(creative)
    assert ana.get(f"/thumb/{i}").headers["content-type"] == "image/jpeg"
    assert ana.get("/file/..%2F..%2Fetc%2Fpasswd").status_code == 404
    creative.final.creative.path.unlink()
    for thumb in creative.final.creative.path.parent.glob(".thumb-*"):
        thumb.unlink()
    assert "creative file missing" in ana.get(f"/thumb/{i}").text
    assert "creative file missing: work/" in ana.get("/").text


def test_no_reviewers_configured_asks_for_a_name_and_says_it_is_unchecked(tmp_path):
    run_dir = tmp_path / "run"
    make_run(run_dir, 4, pending=True, flow_run_id=RUN_ID)
    client = TestClient(create_app(run_dir, Recorder()), base_url="http://127.0.0.1")
    assert "recorded as given (not verified)" in client.get("/").text
    client.post("/login", data={"name": "Cleo"})
    assert "not verified: no reviewers configured" in client.get("/").text


def test_a_folder_without_a_manifest_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        create_app(tmp_path, Recorder())


def test_cli_review_names_a_folder_without_a_manifest(tmp_path):
    from typer.testing import CliRunner

    from brandflow.cli import app

    res = CliRunner().invoke(app, ["review", str(tmp_path)])
    assert res.exit_code == 2 and "no manifest.json here" in " ".join(res.output.split())


def test_other_hosts_are_refused(served):
    run_dir, _, resume, _ = served
    rebound = TestClient(create_app(run_dir, resume), base_url="http://attacker.example")
    assert rebound.get("/").status_code == 400, "DNS rebinding to 127.0.0.1 finds nothing"


def test_simultaneous_decisions_on_one_creative_keep_exactly_one(served):
    from concurrent.futures import ThreadPoolExecutor

    from brandflow.review.ledger import DecisionRefused, Ledger, Reviewer

    run_dir, manifest, _, _ = served
    job = next(j.job_id for j in manifest.jobs if j.decision and j.decision.verdict == "pending")

    def attempt(i: int) -> str:
        try:
            Ledger(run_dir).record(manifest, [job], "approved" if i % 2 else "rejected", f"reason {i}", Reviewer(f"r{i}", False))
            return "ok"
        except DecisionRefused as e:
            return str(e)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(attempt, range(16)))
    assert results.count("ok") == 1 and all("already" in r for r in results if r != "ok")
    assert list(Ledger(run_dir).read()["decisions"]) == [job]
