"""Campaigns in production, on a real ``prefect server start`` (SQLite in a temporary PREFECT_HOME) on 127.0.0.1.

Everything Prefect-side runs in subprocesses with their own environment (server, ``brandflow deploy``,
``brandflow serve``, two ``prefect worker start`` process workers, the flow runs they spawn); this process
only talks HTTP to the server, so the session's ephemeral ``prefect_harness`` is never touched.

- prefect.yaml's deployments, schedules and event triggers are registered by ``brandflow deploy``; a
  campaign's own ``schedule:`` by ``brandflow deploy --campaign`` and by ``brandflow serve``.
- One run is started by an event (``POST /api/events``), one by REST (``create_flow_run`` with an
  idempotency key); each pauses for approval on its own worker; part of each is approved — one with
  ``brandflow approve``, one with the raw resume endpoint — and exactly the approved creatives are published.

Set BRANDFLOW_SKIP_SERVER_TESTS=1 to skip this module (it takes about a minute on 2 cores).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
import psutil
import pytest

from brandflow.manifest import RunManifest

pytestmark = pytest.mark.skipif(os.environ.get("BRANDFLOW_SKIP_SERVER_TESTS") == "1", reason="BRANDFLOW_SKIP_SERVER_TESTS=1")

ROOT = Path(__file__).resolve().parents[2]
FLOW = "brandflow-campaign"
APPLE, SHOES = "apple-juice/square/v0", "white-plimsolls/square/v0"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start ``cmd`` in its own session with output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """Stop ``proc`` and every process it started (flow runs of a worker): SIGTERM, then SIGKILL after 10 s."""
    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in family:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=10)
    for p in alive:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


@dataclass
class Server:
    api: str
    env: dict[str, str]
    home: Path

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=30)

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run a command in the clients' environment; fail the test with its output when it fails."""
        done = subprocess.run(list(args), env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        return done


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """``prefect server start`` on a free port of 127.0.0.1 with SQLite in a fresh PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = _free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "BRANDFLOW_"))}
    base.update(PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", OMP_THREAD_LIMIT="1")
    proc = _start(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        {**base, "PREFECT_UI_ENABLED": "false", "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}, home / "server.log",
    )
    api = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"prefect server exited:\n{(home / 'server.log').read_text()[-3000:]}"
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"prefect server not up in 120 s:\n{(home / 'server.log').read_text()[-3000:]}"
            time.sleep(0.5)
        clients = {
            **base, "PREFECT_API_URL": api, "BRANDFLOW_PROJECT_DIR": str(ROOT), "BRANDFLOW_REVIEW_POLL_SECONDS": "1",
            "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO",
        }
        yield Server(api=api, env=clients, home=home)
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def deployed(server) -> dict[str, dict]:
    """prefect.yaml registered with ``brandflow deploy``; returns the deployments by name. The weekly
    example deployment is then paused so that a Monday-morning test run cannot start it."""
    server.run(sys.executable, "-m", "brandflow.cli", "deploy", "--file", str(ROOT / "prefect.yaml"))
    with server.http() as http:
        deployments = {d["name"]: d for d in http.post("/deployments/filter", json={}).json()}
        http.patch(f"/deployments/{deployments['saleor-weekly']['id']}", json={"paused": True}).raise_for_status()
    return deployments


def _post(http: httpx.Client, url: str, body: object, attempts: int = 10) -> httpx.Response:
    """POST, retrying the 503s a busy SQLite-backed server answers (what any client of the API should do:
    the idempotency key and the event id make a retried request safe)."""
    for _ in range(attempts):
        response = http.post(url, json=body)
        if response.status_code != 503:
            return response
        time.sleep(0.5)
    return response


def _wait(what: str, check, timeout: float, logs: list[Path] = ()):  # noqa: ANN001
    """Poll ``check()`` every 0.5 s until it returns something truthy; fail with the logs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in logs if p.exists())
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{tails}")


# --------------------------------------------------------------------------- schedules and triggers
def test_deployments_schedules_and_triggers_are_registered(server, deployed, tiny_campaign):
    assert {"campaign", "campaign-gpu-l4", "saleor-weekly"} <= set(deployed)
    weekly = deployed["saleor-weekly"]
    (schedule,) = weekly["schedules"]
    assert schedule["schedule"]["cron"] == "0 6 * * 1" and schedule["schedule"]["timezone"] == "Europe/Berlin" and schedule["active"]
    assert weekly["parameters"] == {"spec_path": "examples/saleor/campaign.yaml"}
    assert weekly["pull_steps"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "{{ $BRANDFLOW_PROJECT_DIR }}"}}]
    with server.http() as http:
        pools = {p["name"]: p["type"] for p in http.post("/work_pools/filter", json={}).json()}
        assert pools["brandflow-cpu"] == pools["brandflow-gpu-l4"] == "process"
        automations = http.post("/automations/filter", json={}).json()
    campaign_id = deployed["campaign"]["id"]
    linked = {a["trigger"]["expect"][0]: a for a in automations if a["actions"][0].get("deployment_id") == campaign_id}
    assert linked["brandflow.campaign.requested"]["trigger"]["match"] == {"prefect.resource.id": "brandflow.campaign.*"}
    assert linked["brandflow.campaign.requested"]["actions"][0]["parameters"] == {"spec_path": "{{ event.payload.spec_path }}"}
    assert linked["brandflow.catalog.updated"]["actions"][0]["parameters"] == {
        "spec_path": "{{ event.payload.campaign }}", "feed": "{{ event.payload.feed }}"
    }

    # a campaign's own schedule: deployed on a pool no worker polls here, and served from a process
    digest = tiny_campaign("digest", name="weekday-digest", schedule={"cron": "30 7 * * 1-5", "timezone": "America/New_York"})
    server.run(sys.executable, "-m", "brandflow.cli", "deploy", "--campaign", str(digest), "--pool", "scheduled-only",
               "--catalog", "saleor")
    served = tiny_campaign("served", name="monthly-served", schedule={"cron": "0 9 1 * *", "timezone": "Asia/Tokyo"})
    serve = _start([sys.executable, "-m", "brandflow.cli", "serve", str(served), "--name", "served"], server.env,
                   server.home / "serve.log")
    try:
        def read(name: str) -> dict | None:
            with server.http() as http:
                r = http.get(f"/deployments/name/{FLOW}/{name}")
                return r.json() if r.status_code == 200 else None

        for name, path, cron, tz in [("weekday-digest", digest, "30 7 * * 1-5", "America/New_York"),
                                     ("served", served, "0 9 1 * *", "Asia/Tokyo")]:
            deployment = _wait(f"deployment {name}", lambda n=name: read(n), 90, [server.home / "serve.log"])
            (schedule,) = deployment["schedules"]
            assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"], schedule["active"]) == (cron, tz, True)
            assert deployment["parameters"] == {"spec_path": str(path.resolve())}
            assert deployment["entrypoint"] == "brandflow.flows.campaign.campaign_flow"
        assert read("weekday-digest")["work_pool_name"] == "scheduled-only"
        with server.http() as http:
            automations = http.post("/automations/filter", json={}).json()
        matches = {a["trigger"]["match"]["prefect.resource.id"] for a in automations}
        assert {"brandflow.campaign.weekday-digest", "brandflow.catalog.saleor", "brandflow.campaign.monthly-served"} <= matches
    finally:
        _stop(serve)


# --------------------------------------------------------------------------- event + REST → pause → partial approval
@pytest.fixture
def workers(server) -> Iterator[list[Path]]:
    """Two process workers on brandflow-cpu, one flow run at a time each; yields their log files."""
    logs = [server.home / f"worker-{i}.log" for i in (1, 2)]
    procs = [
        _start([sys.executable, "-m", "prefect", "worker", "start", "--pool", "brandflow-cpu", "--type", "process",
                "--limit", "1", "--name", f"test-worker-{i}"], server.env, log)
        for i, log in zip((1, 2), logs, strict=True)
    ]
    try:
        yield logs
    finally:
        for proc in procs:
            _stop(proc)


def test_event_and_rest_runs_pause_and_publish_exactly_the_approved(server, deployed, workers, tiny_campaign, webhook):
    by_event = tiny_campaign("by-event", review="required", review_timeout_seconds=900, notify={"webhook_url": webhook.url})
    by_rest = tiny_campaign("by-rest", review="required", review_timeout_seconds=900)
    logs = [*workers, server.home / "server.log"]
    campaign_id = deployed["campaign"]["id"]
    http = server.http()

    # 1. a marketing system emits an event ...
    event = {
        "id": str(uuid.uuid4()), "occurred": datetime.now(timezone.utc).isoformat(), "event": "brandflow.campaign.requested",
        "resource": {"prefect.resource.id": "brandflow.campaign.spring-launch"}, "payload": {"spec_path": str(by_event)},
    }
    assert _post(http, "/events", [event]).status_code == 204
    # 2. ... and another calls REST with an idempotency key (a retried request makes no second run)
    body = {"parameters": {"spec_path": str(by_rest)}, "idempotency_key": f"crm-order-{uuid.uuid4()}"}
    created = _post(http, f"/deployments/{campaign_id}/create_flow_run", body)
    assert created.status_code == 201, created.text
    rest_run = created.json()["id"]
    assert _post(http, f"/deployments/{campaign_id}/create_flow_run", body).json()["id"] == rest_run

    def event_run() -> str | None:
        runs = _post(http, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [campaign_id]}}}).json()
        return next((r["id"] for r in runs if r["parameters"].get("spec_path") == str(by_event)), None)

    event_run_id = _wait("the event-triggered run", event_run, 60, logs)

    def state(run_id: str) -> str:
        response = http.get(f"/flow_runs/{run_id}")
        return response.json()["state"]["type"] if response.status_code == 200 else "UNKNOWN"  # 503: busy, ask again

    def paused(run_id: str) -> bool:
        s = state(run_id)
        assert s not in ("FAILED", "CRASHED", "CANCELLED", "COMPLETED"), f"run {run_id} ended as {s} before approval"
        # the description is saved after the input schema: once it is there, the run accepts a decision
        return s == "PAUSED" and http.get(f"/flow_runs/{run_id}/input/paused-review-description").status_code == 200

    for run_id in (event_run_id, rest_run):
        _wait(f"run {run_id} to pause for approval", lambda r=run_id: paused(r), 240, logs)

    for spec in (by_event, by_rest):  # reviewers can read the report while the run waits
        waiting = RunManifest.read(spec.parent / "runs" / "saleor-autumn" / "manifest.json")
        assert {j.job_id: j.decision.verdict for j in waiting.jobs} == {APPLE: "pending", SHOES: "pending"}
        assert (spec.parent / "runs" / "saleor-autumn" / "report.html").is_file()
    description = http.get(f"/flow_runs/{event_run_id}/input/paused-review-description").json()
    assert str(by_event.parent / "runs" / "saleor-autumn" / "report.html") in description

    # 3. approve part of each: with the CLI, and with the raw REST endpoint
    server.run(sys.executable, "-m", "brandflow.cli", "approve", event_run_id, "--ids", APPLE, "--reject", SHOES,
               "--reason", "shoe colour off-brand", "--reviewer", "alice")
    answer = {"run_input": {"approve": [SHOES], "reason": "hero product this week", "reviewer": "bob"}}
    resumed = _post(http, f"/flow_runs/{rest_run}/resume", answer).json()
    assert resumed["status"] == "ACCEPT", resumed

    for run_id in (event_run_id, rest_run):
        _wait(f"run {run_id} to complete", lambda r=run_id: state(r) == "COMPLETED", 120, logs)
    http.close()

    # 4. exactly the approved creatives are published, and the manifest says who decided, when and why
    for spec, approved, reviewer, reason in [(by_event, APPLE, "alice", "shoe colour off-brand"), (by_rest, SHOES, "bob", "hero product this week")]:
        run_dir = spec.parent / "runs" / "saleor-autumn"
        manifest = RunManifest.read(run_dir / "manifest.json")
        jobs = {j.job_id: j for j in manifest.jobs}
        assert {j for j, r in jobs.items() if r.published} == {approved}
        assert {r.status for j, r in jobs.items() if j != approved} == {"held"}
        product = approved.split("/")[0]
        assert [p.relative_to(run_dir / "published").parts[1] for p in (run_dir / "published").rglob("*.png")] == [product]
        for job in jobs.values():
            assert job.decision.by == reviewer and job.decision.source == "reviewer" and job.decision.at is not None
        assert jobs[approved].decision.verdict == "approved"
        rejected = next(r for j, r in jobs.items() if j != approved)
        assert rejected.decision.verdict == "rejected"
        assert rejected.decision.reason == (reason if reviewer == "alice" else "not approved")

    # 5. the webhook heard the event-triggered run wait and finish
    assert [b["text"].split(" · ")[0] for b in webhook.bodies] == [
        ":eyes: saleor-autumn is waiting for approval", ":white_check_mark: saleor-autumn finished",
    ]
    # 6. two process workers, one run at a time each: both paused runs held a worker, so each took one
    #    (both workers may race for one run: the server lets one have it and aborts the other's attempt)
    def ran(log: Path, run_id: str) -> bool:
        text = log.read_text()
        return f"submitting flow run '{run_id}'" in text and f"Aborted submission of flow run '{run_id}'" not in text

    assert [sum(ran(log, r) for r in (event_run_id, rest_run)) for log in workers] == [1, 1], "each worker ran one of the runs"
