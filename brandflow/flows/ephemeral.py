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

:func:`start_temporary_server` starts that same server (the same command, environment and death binding) itself,
before the flow module is imported, for ``brandflow run`` and the benchmark: the server then boots on the other
core while this process imports Prefect and the stages, and this process never imports the server's own code
(``prefect.server.api.server`` and its ORM and routes: ~1.8 s of CPU that Prefect's client spends only to find
the class that starts the subprocess). Prefect then talks to it as to any server at ``PREFECT_API_URL``.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_lock = threading.Lock()
_bound = False
_started: TemporaryServer | None = None


def _die_with_parent() -> None:  # runs in the child between fork and exec: async-signal-safe calls only
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def bind_ephemeral_server() -> bool:
    """Make every ephemeral Prefect server this process starts die with it (Linux); idempotent.

    Returns:
        ``True`` when the binding is in place or nothing needs it (this process started its server itself, or a
        Prefect API is configured — ``PREFECT_API_URL``, a profile — so Prefect starts none), ``False`` on a system
        without ``prctl`` or a Prefect without ``SubprocessASGIServer._run_uvicorn_command`` (then only Prefect's
        exit hook stops the server).
    """
    global _bound
    if not sys.platform.startswith("linux"):
        return False
    if _started is not None:  # the server of this process is ours, bound already: Prefect starts none
        return True
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:  # a deployment's worker, a long-lived server: no temporary server to bind, and
        return True  # importing the server's code (its ORM and routes) only to find the class would cost ~1.8 s of CPU
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


class TemporaryServer:
    """Prefect's temporary API server for this process, started by :func:`start_temporary_server`.

    Attributes:
        url: its API URL, ``http://127.0.0.1:<port>/api`` (also this process's ``PREFECT_API_URL``).
        process: the ``uvicorn`` child process.
    """

    def __init__(self, process: subprocess.Popen, url: str, env: dict[str, str]):
        self.process, self.url, self._env = process, url, env

    def ready(self, timeout: float | None = None) -> TemporaryServer:
        """Wait until the server answers ``GET /api/health``; a server that exits first (its port was taken
        meanwhile) is started again on another port.

        Args:
            timeout: seconds; default ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`` (as Prefect's own).

        Raises:
            RuntimeError: no answer within ``timeout`` seconds (the server is stopped).
        """
        import httpx
        from prefect.settings import get_current_settings

        limit = timeout if timeout is not None else get_current_settings().server.ephemeral.startup_timeout_seconds
        deadline = time.monotonic() + limit
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    self.process, self.url = _spawn(self._env)
                    _use(self.url)
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Prefect's temporary API server did not answer within {limit:.0f} s; raise "
                           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS on a busy machine, or run against a server (PREFECT_API_URL)")

    def stop(self) -> None:
        """Terminate the server (kill it after 5 s); idempotent. Registered to run at interpreter exit."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_temporary_server() -> TemporaryServer | None:
    """Start Prefect's temporary API server for this process, as Prefect would at the first API call, and point
    this process's Prefect at it (``PREFECT_API_URL``); call :meth:`TemporaryServer.ready` before the first flow.

    Returns ``None`` (nothing started; Prefect decides as always) when a Prefect API is configured (environment,
    profile or settings file), when ephemeral servers are switched off (``PREFECT_SERVER_EPHEMERAL_ENABLED``),
    off Linux or off the main thread (the server could not be bound to this process), or when this process
    started one already.

    The server is Prefect's own (``uvicorn --factory prefect.server.api.server:create_app`` with Prefect's
    ephemeral environment: no UI, the ephemeral set of services, the database of ``PREFECT_HOME``), and dies
    with this process (``PR_SET_PDEATHSIG``), ``kill -9`` included; it is stopped at interpreter exit.
    """
    global _started
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread() or _started is not None:
        return None
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        return None
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
           **settings.to_environment_variables(exclude_unset=True)}  # as prefect.server.api.server.SubprocessASGIServer
    env.pop("PREFECT_API_URL", None)
    process, url = _spawn(env)
    _started = TemporaryServer(process, url, env)
    atexit.register(_started.stop)
    _use(url)
    return _started


def temporary_api_url() -> str | None:
    """The API URL of the server :func:`start_temporary_server` started in this process, if any (such a server
    lives only as long as this process: no one can resume or watch a run there afterwards)."""
    return _started.url if _started is not None else None


def _spawn(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    import prefect

    app_dir = str(prefect.__module_path__.parent)
    with socket.socket() as s:  # a free port; a server that loses it to a race exits and is started again (ready())
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", app_dir, "--factory", "prefect.server.api.server:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env=env, preexec_fn=_die_with_parent,
    )
    return process, f"http://127.0.0.1:{port}/api"


def _use(url: str) -> None:
    """Point this process's Prefect (every thread: the global settings context) at ``url``."""
    from prefect.context import refresh_global_settings_context

    os.environ["PREFECT_API_URL"] = url
    refresh_global_settings_context()
