"""The ephemeral Prefect server dies with the process that started it.

Without ``PREFECT_API_URL``, Prefect starts a temporary API server as a child process
(``prefect.server.api.server.SubprocessASGIServer._run_uvicorn_command``: ``python -m uvicorn …``) and stops it
at interpreter exit. A ``kill -9`` of the run skips that exit, and the server lived on, holding its port and
SQLite file. :func:`bind_ephemeral_server` wraps that method so the child is started with Linux's
``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills it as soon as the thread that started it is gone — by
any death, ``SIGKILL`` included. On other systems nothing changes (Prefect's own exit hook still runs).

``PR_SET_PDEATHSIG`` follows the *thread* that forked the child; Prefect starts the server from the thread
that first needs the API (the main thread for ``brandflow run``), and the wrapper refuses to bind it from any
other thread, where the thread's end would kill a server still in use.
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import sys
import threading

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_lock = threading.Lock()
_bound = False


def _die_with_parent() -> None:  # runs in the child between fork and exec: async-signal-safe calls only
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def bind_ephemeral_server() -> bool:
    """Make every ephemeral Prefect server this process starts die with it (Linux); idempotent.

    Returns:
        ``True`` when the binding is in place, ``False`` on a system without ``prctl`` or a Prefect without
        ``SubprocessASGIServer._run_uvicorn_command`` (then only Prefect's exit hook stops the server).
    """
    global _bound
    if not sys.platform.startswith("linux"):
        return False
    try:
        from prefect.server.api import server as prefect_server

        cls = prefect_server.SubprocessASGIServer
        original = cls._run_uvicorn_command
    except (ImportError, AttributeError):  # pragma: no cover - another Prefect layout
        log.warning("cannot bind the ephemeral Prefect server to this process: it may outlive a killed run")
        return False
    with _lock:
        if _bound:
            return True

        def run_bound(self):  # noqa: ANN001, ANN202 - Prefect's method
            if threading.current_thread() is not threading.main_thread():
                return original(self)
            popen = subprocess.Popen

            def popen_dying_with_parent(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                kwargs.setdefault("preexec_fn", _die_with_parent)
                return popen(*args, **kwargs)

            with _lock:  # Popen is swapped only for the one call that starts the server
                prefect_server.subprocess.Popen = popen_dying_with_parent  # type: ignore[misc]
                try:
                    return original(self)
                finally:
                    prefect_server.subprocess.Popen = popen  # type: ignore[misc]

        cls._run_uvicorn_command = run_bound  # type: ignore[method-assign]
        _bound = True
    return True
