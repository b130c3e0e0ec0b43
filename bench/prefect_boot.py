"""Benchmark helper: start Prefect's temporary API server as `brandflow run` does, wait until it answers, stop it.

    farm-bench -n 5 --vs '.venv/bin/python -c "import prefect"' -- .venv/bin/python bench/prefect_boot.py

Timed from outside (``farm-bench``: whole process, the server child included), this is Prefect's fixed cost per run
beyond the client import, which the ``--vs`` command measures alone. ``PREFECT_HOME`` should point at a home whose
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
