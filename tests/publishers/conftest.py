"""S3 fixtures: one moto ``ThreadedMotoServer`` on 127.0.0.1 for the session (a real HTTP endpoint), a fresh
bucket per test, and a fault-injecting HTTP proxy in front of moto.

Credentials are dummies set in the environment for the session, exactly as boto3's standard chain reads real
ones; nothing here can reach AWS (every client is pointed at 127.0.0.1).
"""

from __future__ import annotations

import http.client
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # never probe an instance role from a test
}
_UNSET = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
          "AWS_REQUEST_CHECKSUM_CALCULATION")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def aws_env(tmp_path_factory) -> Iterator[None]:
    """Dummy credentials in the environment for the whole session (and no profile or endpoint leaking in)."""
    mp = pytest.MonkeyPatch()
    for k, v in _ENV.items():
        mp.setenv(k, v)
    for k in _UNSET:
        mp.delenv(k, raising=False)
    empty = tmp_path_factory.mktemp("aws") / "config"
    empty.write_text("")
    mp.setenv("AWS_CONFIG_FILE", str(empty))
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def moto_endpoint(aws_env) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` of a moto S3 server running for the whole test session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def s3(moto_endpoint):
    """A plain boto3 client on the moto server, for arranging and inspecting buckets."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=moto_endpoint, config=Config(retries={"total_max_attempts": 1}))


@pytest.fixture
def bucket(s3) -> str:
    """A new, empty bucket for one test."""
    name = f"bf-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def keys(s3):
    """``keys(bucket)``: every key in ``bucket``, sorted."""

    def list_keys(bucket: str) -> list[str]:
        out: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    return list_keys


# --------------------------------------------------------------------------------------------- fault proxy
@dataclass
class Fault:
    """What the proxy does to one matching request.

    kind: ``status`` (answer ``status`` with S3 error ``code``, never forwarding), ``drop`` (read part of the
    body, then close the socket), ``lose`` (forward, then close the socket instead of answering: the server
    did the work, the client never hears of it), ``hold`` (wait for ``release`` then forward), ``pass``.
    """

    kind: str
    status: int = 503
    code: str = "SlowDown"
    method: str | None = "PUT"
    release: threading.Event = field(default_factory=threading.Event)


@dataclass
class Seen:
    method: str
    path: str
    status: int | str  # an HTTP status, or "dropped"
    headers: dict[str, str]


class FaultProxy:
    """A reverse proxy on 127.0.0.1 that forwards to moto, except for the faults queued in ``faults``.

    Each request takes the first queued fault whose ``method`` matches (``None`` matches any); other requests
    pass through. Every request is recorded in ``seen`` (method, path, status or ``"dropped"``, headers).
    """

    def __init__(self, upstream: str):
        self.upstream = upstream.removeprefix("http://")
        self.faults: deque[Fault] = deque()
        self.seen: list[Seen] = []
        self.holding = threading.Event()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _take(self) -> Fault | None:
                with proxy._lock:
                    for f in proxy.faults:
                        if f.method is None or f.method == self.command:
                            proxy.faults.remove(f)
                            return f
                return None

            def _read_body(self, limit: int | None = None) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    raw = b""
                    while True:
                        line = self.rfile.readline()
                        raw += line
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while True:  # trailers, then the blank line
                                t = self.rfile.readline()
                                raw += t
                                if t in (b"\r\n", b"\n", b""):
                                    return raw
                        raw += self.rfile.read(size + 2)
                        if limit is not None and len(raw) >= limit:
                            return raw
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n if limit is None else min(n, limit))

            def _record(self, status) -> None:
                with proxy._lock:
                    proxy.seen.append(Seen(self.command, self.path, status, dict(self.headers)))

            def _handle(self) -> None:
                fault = self._take()
                if fault is not None and fault.kind == "drop":
                    n = int(self.headers.get("Content-Length") or 0)
                    self._read_body(limit=max(1, n // 2))
                    self._record("dropped")
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    finally:
                        self.connection.close()
                    return
                body = self._read_body()
                if fault is not None and fault.kind == "status":
                    self._record(fault.status)  # before answering: the client may look right after
                    xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{fault.code}</Code>'
                           f"<Message>injected by the test proxy</Message></Error>").encode()
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(xml)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                    return
                if fault is not None and fault.kind == "hold":
                    proxy.holding.set()
                    fault.release.wait(30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect", "keep-alive")}
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    if fault is not None and fault.kind == "lose":
                        self._record(f"lost {resp.status}")
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self._record(resp.status)
                    self.send_response_only(resp.status, resp.reason)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("connection", "keep-alive", "transfer-encoding", "content-length", "server", "date"):
                            self.send_header(k, v)
                    length = resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data))
                    self.send_header("Content-Length", length or "0")
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def add(self, kind: str, times: int = 1, **kw) -> list[Fault]:
        """Queue ``times`` faults of ``kind`` (see :class:`Fault`)."""
        faults = [Fault(kind, **kw) for _ in range(times)]
        with self._lock:
            self.faults.extend(faults)
        return faults

    def requests(self, method: str | None = None) -> list[Seen]:
        """Requests seen so far (of ``method``, if given)."""
        with self._lock:
            return [s for s in self.seen if method is None or s.method == method]

    def close(self) -> None:
        for f in list(self.faults):
            f.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_endpoint) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the session's moto server (new per test)."""
    p = FaultProxy(moto_endpoint)
    yield p
    p.close()



@pytest.fixture
def fault_proxy_to() -> Iterator[Callable[[str], FaultProxy]]:
    """``fault_proxy_to(upstream_url)``: a fault-injecting proxy in front of any local HTTP server (e.g. the
    Wagtail site); every proxy made is closed after the test."""
    made: list[FaultProxy] = []

    def make(upstream: str) -> FaultProxy:
        made.append(FaultProxy(upstream))
        return made[-1]

    yield make
    for p in made:
        p.close()
