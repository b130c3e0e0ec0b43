"""Benchmark helper: start Prefect's temporary API server as `brandflow run` does, wait until it answers, stop it.

    for i in 1 2 3 4 5; do /usr/bin/time -f '%U %S %e' .venv/bin/python bench/prefect_boot.py
                         /usr/bin/time -f '%U %S %e' .venv/bin/python -c "import prefect"; done

Timed from outside as whole processes, alternated (GNU time's user and sys include the server child, which the
process waits for), this is Prefect's fixed cost per run beyond the client import, which the second command
measures alone. ``PREFECT_HOME`` should point at a home whose
database is already migrated (the first boot of a new home migrates it: run this once before timing).
"""

from __future__ import annotations

import os

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from brandflow.flows.ephemeral import start_temporary_server  # noqa: E402

server = start_temporary_server()
if server is None:
    raise SystemExit("no temporary server was started (PREFECT_API_URL is set, or not on Linux)")
server.ready()
server.stop()
