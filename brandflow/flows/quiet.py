"""Quiet ends for command-line runs on Prefect's temporary (ephemeral) server.

When ``brandflow run`` finishes, the temporary server Prefect started for it is shut down with the process. Its
task-run recorder and event persister may be in the middle of writing a batch to the server's database; the
shutdown cancels that write, and Prefect logs ``Error flushing N events … CancelledError`` with a traceback at
ERROR level (prefect/server/services/task_run_recorder.py, ``consumer.flush``). Nothing is wrong with the run:
the events belonged to a server that is going away. :func:`quiet_server_shutdown` demotes exactly those records
— ERROR records of those two server loggers whose exception is a ``CancelledError`` — to DEBUG, so they show
with ``PREFECT_LOGGING_LEVEL=DEBUG`` and never in a normal run; every other error still shows.
"""

from __future__ import annotations

import asyncio
import logging

#: Server services whose in-flight database writes are cancelled when a temporary server stops.
SHUTDOWN_LOGGERS = ("prefect.server.services.task_run_recorder", "prefect.server.events.services.event_persister")


class CancelledAtShutdown(logging.Filter):
    """Demotes a record whose exception is ``asyncio.CancelledError`` to DEBUG: kept only when its logger logs
    DEBUG (Prefect's handlers have no level of their own, so the logger's level decides)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, asyncio.CancelledError) or record.levelno <= logging.DEBUG:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_server_shutdown() -> None:
    """Install :class:`CancelledAtShutdown` on :data:`SHUTDOWN_LOGGERS` (idempotent)."""
    for name in SHUTDOWN_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, CancelledAtShutdown) for f in logger.filters):
            logger.addFilter(CancelledAtShutdown())
