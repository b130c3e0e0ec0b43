"""brandflow's own start of Prefect's temporary API server (brandflow/flows/ephemeral.py): flows run against it,
the flow process never imports the server's code, nobody mistakes it for a server that outlives the run, and
it dies with the process that started it — ``kill -9`` included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil

SCRIPT = """
import json, os, sys
from brandflow.flows.ephemeral import start_temporary_server
server = start_temporary_server()
import brandflow.flows.campaign  # the flow module loads while the server boots
server.ready()
from prefect import flow
from prefect.client.orchestration import get_client
from brandflow.flows.approval import configured_api_url

@flow
def one() -> str:
    from prefect.runtime import flow_run
    return flow_run.id

run_id = one()
with get_client(sync_client=True) as client:
    stored = client.read_flow_run(run_id)
print(json.dumps({"url": server.url, "pid": server.process.pid, "state": stored.state.type.value,
                  "server_code_imported": any(m.startswith("prefect.server.api") for m in sys.modules),
                  "configured": configured_api_url(), "api_url": os.environ["PREFECT_API_URL"]}), flush=True)
os.kill(os.getpid(), 9)
"""


def test_flows_run_on_the_temporary_server_which_dies_with_its_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_LOGGING_LEVEL="WARNING",
               PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="180")  # a fresh database migrates first
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=400)
    assert out.returncode == -signal.SIGKILL, out.stderr
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["state"] == "COMPLETED", "the flow run is recorded on the temporary server"
    assert answer["api_url"] == answer["url"].rstrip("/")
    assert answer["server_code_imported"] is False, "the flow process does not import Prefect's server code"
    assert answer["configured"] is None, "a temporary server is not a server that review: required can wait on"
    deadline = time.monotonic() + 5
    while psutil.pid_exists(answer["pid"]) and psutil.Process(answer["pid"]).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the server outlived the process that started it (kill -9)"
        time.sleep(0.05)


def test_against_a_configured_server_the_flow_process_imports_no_server_code(tmp_path):
    """A deployment's worker or a long-lived server (``PREFECT_API_URL``): Prefect starts no temporary server, so there
    is nothing to bind to the process and the server's code (~1.3 s of CPU to import) stays unloaded; without a
    configured API the flow module binds the temporary server Prefect would start, which needs that code."""
    probe = "import sys, brandflow.flows.campaign; print(any(m.startswith('prefect.server.api') for m in sys.modules))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(tmp_path / "prefect"), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    configured = subprocess.run([sys.executable, "-c", probe], env={**env, "PREFECT_API_URL": "http://127.0.0.1:9/api"},
                                capture_output=True, text=True, timeout=120)
    bare = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert (configured.stdout.strip(), bare.stdout.strip()) == ("False", "True"), configured.stderr + bare.stderr
