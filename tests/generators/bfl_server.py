"""A local stand-in for Black Forest Labs' API on 127.0.0.1, following the documented protocol.

What it implements (sources and gaps: docs/bfl.md):

- ``POST /v1/{flux-2-pro,flux-2-max,flux-2-flex,flux-2-klein-4b,flux-2-klein-9b}`` with header ``x-key``:
  validates the body the way the documented schema does (``prompt`` required; ``width``/``height`` multiples of
  16, ≥ 64, ≤ 2048² px; ``input_image``, ``input_image_2`` … base64 images, at most 8 — klein 4;
  ``safety_tolerance`` 0–5; ``output_format`` jpeg|png; ``steps``/``guidance``/``prompt_upsampling`` on
  [flex] only) and answers FastAPI-style 422s, 401 without a valid key. It is *stricter* than BFL is known
  to be: unknown body fields are 422 too, so the client cannot send invented fields unnoticed.
  Success: ``{id, polling_url, cost, input_mp, output_mp}`` (cost in credits, BFL's megapixel formula).
- ``GET /v1/get_result?id=…`` with ``x-key``: ``{id, status, result, progress, details}``; ``Pending`` for
  ``pending_polls`` polls and/or until ``processing_seconds`` after submission, then the configured outcome:
  ``Ready`` with ``result.sample`` (a signed-looking URL on this server), ``Error``, ``Request Moderated``,
  ``Content Moderated``; unknown ids → ``Task not found``.
- ``GET /delivery/{id}/sample.{png,jpeg}?se=…&sig=…``: the image at the requested size (RGBA PNG or JPEG), no key
  needed; it can be made to expire (403 ``AuthenticationFailed`` like a storage SAS URL, or 410 after a TTL /
  after the first fetch).
- ``GET /_fake/stats`` (not BFL's): the counters below as JSON, for a benchmark running the server as a process.
- Failure knobs: bursts of 429 (with or without ``Retry-After``) and 5xx on submit, poll and sample; an
  account-wide in-flight limit answering 429 like the real API.
- Accounting: every request, every submission body, tasks in flight now and at peak (a task is in flight from
  submission until its terminal status is first reported — what BFL counts), sample fetches and whether any
  carried the key.

Start it in-process (``FakeBFL().start()``, a ``ThreadingHTTPServer`` on a free port) or as a process:
``python tests/generators/bfl_server.py --processing-seconds 0.5`` prints its base URL.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from PIL import Image

LIMITS = {"flux-2-pro": 8, "flux-2-max": 8, "flux-2-flex": 8, "flux-2-klein-4b": 4, "flux-2-klein-9b": 4}
PRICES = {"flux-2-pro": (3.0, 1.5), "flux-2-max": (7.0, 3.0), "flux-2-flex": (5.0, 5.0), "flux-2-klein-4b": (1.4, 0.1), "flux-2-klein-9b": (1.5, 0.2)}
COMMON = {"prompt", "seed", "width", "height", "output_format", "safety_tolerance", "webhook_url", "webhook_secret", "input_image"}
COMMON |= {f"input_image_{i}" for i in range(2, 9)}
FLEX = {"steps", "guidance", "prompt_upsampling"}
MAX_PX = 2048 * 2048


@dataclass
class Task:
    """One submitted task and its progress."""

    id: str
    model: str
    body: dict[str, Any]
    submitted: float
    width: int
    height: int
    outcome: str
    polls: int = 0
    done_at: float | None = None  # when its terminal status was first reported
    fetches: int = 0
    ready_at: float | None = None


@dataclass
class Knobs:
    """What the server does next; tests set these, ``FakeBFL.reset()`` restores the defaults."""

    pending_polls: int = 1  # polls answered Pending before the outcome
    processing_seconds: float = 0.0  # and no terminal status before this long after submission
    outcome: str = "Ready"  # Ready | Error | Request Moderated | Content Moderated
    details: dict[str, Any] | None = None  # the poll answer's `details` for non-Ready outcomes
    error_text: str = "Internal generation error"
    submit_429: int = 0  # the next N submissions get 429
    submit_5xx: int = 0
    poll_429: int = 0
    poll_5xx: int = 0
    sample_5xx: int = 0
    retry_after: str | None = None  # Retry-After header on 429s
    sample_expired: bool = False  # every sample fetch: 403 AuthenticationFailed
    sample_once: bool = False  # a sample can be fetched once, then 410
    sample_ttl: float | None = None  # seconds after Ready a sample stays valid, then 410
    account_limit: int | None = None  # the server's own in-flight limit (429 beyond it)
    omit_cost: bool = False  # submission answer without cost / input_mp / output_mp
    status_override: str | None = None  # every poll answers this status (e.g. "Task not found")
    result_size: tuple[int, int] | None = None  # serve this size instead of the requested one


@dataclass
class Stats:
    """What the server saw."""

    submissions: list[dict[str, Any]] = field(default_factory=list)  # {"model", "body", "headers"}
    accepted: int = 0
    polls: int = 0
    sample_fetches: int = 0
    sample_fetches_with_key: int = 0
    responses: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status)
    in_flight: int = 0
    peak_in_flight: int = 0
    input_sizes: list[list[tuple[int, int]]] = field(default_factory=list)  # per accepted submission


class FakeBFL:
    """The server: ``start()`` → ``base_url``; ``knobs`` / ``stats`` / ``reset()`` for tests; ``stop()``."""

    def __init__(self, api_key: str = "test-key", host: str = "127.0.0.1", port: int = 0):
        self.api_key = api_key
        self.knobs = Knobs()
        self.stats = Stats()
        self.tasks: dict[str, Task] = {}
        self.lock = threading.RLock()
        self._samples: dict[tuple[int, int, str, int], bytes] = {}
        fake = self

        class Handler(_Handler):
            server_ref = fake

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 256
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeBFL:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def reset(self, **knobs: Any) -> None:
        """Default knobs (overridden by ``knobs``), empty statistics, no tasks."""
        with self.lock:
            self.knobs = Knobs(**knobs)
            self.stats = Stats()
            self.tasks = {}

    # ----------------------------------------------------------------- bookkeeping (under self.lock)
    def refresh_in_flight(self, now: float) -> None:
        """Tasks whose processing time has passed are finished server-side even if nobody polled."""
        for t in self.tasks.values():
            if t.done_at is None and self._terminal_due(t, now) and self.knobs.pending_polls == 0:
                self._finish(t, now)

    def _terminal_due(self, t: Task, now: float) -> bool:
        return now - t.submitted >= self.knobs.processing_seconds and t.polls >= self.knobs.pending_polls

    def _finish(self, t: Task, now: float) -> None:
        if t.done_at is None:
            t.done_at = now
            self.stats.in_flight -= 1
            if t.outcome == "Ready":
                t.ready_at = now

    def sample_png(self, w: int, h: int, fmt: str) -> bytes:
        """The result image for a ``w × h`` task (cached per size and format; rendered outside the server lock)."""
        key = (w, h, fmt)
        if key not in self._samples:
            colour = (40, 99, 236)
            if fmt == "png":
                im = Image.new("RGBA", (w, h), colour + (255,))
                im.paste((255, 255, 255, 0), (0, 0, max(1, w // 8), max(1, h // 8)))  # a transparent corner
            else:
                im = Image.new("RGB", (w, h), colour)
            buf = io.BytesIO()
            im.save(buf, "PNG" if fmt == "png" else "JPEG", quality=90)
            self._samples[key] = buf.getvalue()
        return self._samples[key]


def _credits(model: str, out_px: int, in_px: int) -> float:
    first, per = PRICES[model]
    return round(first + max(0.0, out_px / 1e6 - 1) * per + in_px / 1e6 * per, 4)


def _error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "type": kind}


class _Handler(BaseHTTPRequestHandler):
    server_ref: FakeBFL
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # ----------------------------------------------------------------- plumbing
    def _send(self, status: int, body: Any = None, *, raw: bytes | None = None, ctype: str = "application/json", headers: dict[str, str] | None = None) -> None:
        data = raw if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        with self.server_ref.lock:
            self.server_ref.stats.responses.append((self.command, urlparse(self.path).path, status))

    def _throttled(self) -> None:
        k = self.server_ref.knobs
        headers = {"retry-after": k.retry_after} if k.retry_after is not None else {}
        self._send(429, {"detail": "Too many active tasks"}, headers=headers)

    def _authorised(self) -> bool:
        if self.headers.get("x-key") != self.server_ref.api_key:
            self._send(401, {"detail": "Not authenticated"} if not self.headers.get("x-key") else {"detail": "Invalid API key"})
            return False
        return True

    # ----------------------------------------------------------------- routes
    def do_POST(self) -> None:  # noqa: N802
        fake = self.server_ref
        path = urlparse(self.path).path
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        model = path.removeprefix("/v1/")
        if not path.startswith("/v1/") or model not in LIMITS:
            self._send(404, {"detail": "Not Found"})
            return
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            self._send(422, {"detail": [_error([], "JSON decode error", "json_invalid")]})
            return
        with fake.lock:
            fake.stats.submissions.append({"model": model, "body": body, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if not self._authorised():
            return
        with fake.lock:
            k = fake.knobs
            if k.submit_429 > 0:
                k.submit_429 -= 1
                self._throttled()
                return
            if k.submit_5xx > 0:
                k.submit_5xx -= 1
                self._send(503, {"detail": "Service temporarily unavailable"})
                return
        errors, sizes = self._validate(model, body)
        if errors:
            self._send(422, {"detail": errors})
            return
        now = time.monotonic()
        with fake.lock:
            fake.refresh_in_flight(now)
            k = fake.knobs
            if k.account_limit is not None and fake.stats.in_flight >= k.account_limit:
                self._throttled()
                return
            w, h = body.get("width") or 1024, body.get("height") or 1024
            task = Task(uuid.uuid4().hex, model, body, now, w, h, k.outcome)
            fake.tasks[task.id] = task
            fake.stats.accepted += 1
            fake.stats.in_flight += 1
            fake.stats.peak_in_flight = max(fake.stats.peak_in_flight, fake.stats.in_flight)
            fake.stats.input_sizes.append(sizes)
            in_px = sum(a * b for a, b in sizes)
            answer: dict[str, Any] = {"id": task.id, "polling_url": f"{fake.base_url}/v1/get_result?id={task.id}"}
            if not k.omit_cost:
                answer |= {"cost": _credits(model, w * h, in_px), "input_mp": round(in_px / 1e6, 2), "output_mp": round(w * h / 1e6, 2)}
        self._send(200, answer)

    def _validate(self, model: str, body: Any) -> tuple[list[dict[str, Any]], list[tuple[int, int]]]:
        if not isinstance(body, dict):
            return [_error([], "Input should be a valid dictionary", "dict_type")], []
        errors: list[dict[str, Any]] = []
        allowed = COMMON | (FLEX if model == "flux-2-flex" else set())
        errors += [_error([k], "Extra inputs are not permitted", "extra_forbidden") for k in body if k not in allowed]
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            errors.append(_error(["prompt"], "Field required", "missing"))
        for side in ("width", "height"):
            v = body.get(side)
            if v is not None and (not isinstance(v, int) or v < 64 or v % 16):
                errors.append(_error([side], f"{side} must be a multiple of 16 and at least 64"))
        if isinstance(body.get("width"), int) and isinstance(body.get("height"), int) and body["width"] * body["height"] > MAX_PX:
            errors.append(_error(["width"], "width × height must be at most 4 megapixels (2048×2048)"))
        if not isinstance(body.get("safety_tolerance", 2), int) or not 0 <= body.get("safety_tolerance", 2) <= 5:
            errors.append(_error(["safety_tolerance"], "Input should be less than or equal to 5"))
        if body.get("output_format", "jpeg") not in ("jpeg", "png"):
            errors.append(_error(["output_format"], "Input should be 'jpeg' or 'png'", "enum"))
        if model == "flux-2-flex":
            if "steps" in body and not (isinstance(body["steps"], int) and 1 <= body["steps"] <= 50):
                errors.append(_error(["steps"], "steps must be between 1 and 50"))
            if "guidance" in body and not (isinstance(body["guidance"], (int, float)) and 1.5 <= body["guidance"] <= 10):
                errors.append(_error(["guidance"], "guidance must be between 1.5 and 10"))
        keys = ["input_image"] + [f"input_image_{i}" for i in range(2, 9)]
        present = [k for k in keys if body.get(k) is not None]
        if len(present) > LIMITS[model]:
            errors.append(_error([present[LIMITS[model]]], f"{model} accepts at most {LIMITS[model]} input images"))
        if present and present != keys[: len(present)]:
            errors.append(_error([present[-1]], "input images must be numbered without gaps, starting at input_image"))
        sizes: list[tuple[int, int]] = []
        for k in present:
            try:
                with Image.open(io.BytesIO(base64.b64decode(body[k], validate=True))) as im:
                    sizes.append(im.size)
            except (binascii.Error, OSError, ValueError, TypeError):
                errors.append(_error([k], "not a base64-encoded image (URLs are not served by this fake)"))
        return errors, sizes

    def do_GET(self) -> None:  # noqa: N802
        u = urlparse(self.path)
        if u.path == "/v1/get_result":
            self._get_result(parse_qs(u.query).get("id", [""])[0])
        elif u.path.startswith("/delivery/"):
            self._sample(u.path.split("/")[2], self.headers.get("x-key") is not None)
        elif u.path == "/_fake/stats":  # not BFL's: lets a benchmark read the counters of a server process
            with self.server_ref.lock:
                s = self.server_ref.stats
                self._send(200, {"accepted": s.accepted, "polls": s.polls, "peak_in_flight": s.peak_in_flight, "in_flight": s.in_flight})
        else:
            self._send(404, {"detail": "Not Found"})

    def _get_result(self, task_id: str) -> None:
        fake = self.server_ref
        if not self._authorised():
            return
        now = time.monotonic()
        with fake.lock:
            k = fake.knobs
            fake.stats.polls += 1
            if k.poll_429 > 0:
                k.poll_429 -= 1
                self._throttled()
                return
            if k.poll_5xx > 0:
                k.poll_5xx -= 1
                self._send(502, {"detail": "Bad Gateway"})
                return
            task = fake.tasks.get(task_id)
            if task is None or k.status_override:
                self._send(200, {"id": task_id, "status": k.status_override or "Task not found", "result": None, "progress": None, "details": None})
                return
            task.polls += 1
            if task.done_at is None and not fake._terminal_due(task, now):
                progress = min(0.99, (now - task.submitted) / k.processing_seconds) if k.processing_seconds else None
                self._send(200, {"id": task.id, "status": "Pending", "result": None, "progress": progress, "details": None})
                return
            fake._finish(task, now)
            if task.outcome != "Ready":
                error = {"error": k.error_text} if task.outcome == "Error" else {}
                self._send(200, {"id": task.id, "status": task.outcome, "result": None, "progress": None, "details": k.details, **error})
                return
            ext = task.body.get("output_format", "jpeg")
            sample = f"{fake.base_url}/delivery/{task.id}/sample.{ext}?se=2026-01-01T00%3A10%3A00Z&sp=r&sig=fake"
            result = {"sample": sample, "prompt": task.body.get("prompt"), "seed": task.body.get("seed"), "start_time": 0, "end_time": 1, "duration": 1}
            self._send(200, {"id": task.id, "status": "Ready", "result": result, "progress": None, "details": None})

    def _sample(self, task_id: str, with_key: bool) -> None:
        fake = self.server_ref
        now = time.monotonic()
        with fake.lock:
            k = fake.knobs
            fake.stats.sample_fetches += 1
            fake.stats.sample_fetches_with_key += int(with_key)
            task = fake.tasks.get(task_id)
            if k.sample_5xx > 0:
                k.sample_5xx -= 1
                self._send(500, raw=b"<Error><Code>InternalError</Code></Error>", ctype="application/xml")
                return
            if task is None or task.ready_at is None:
                self._send(404, raw=b"<Error><Code>BlobNotFound</Code></Error>", ctype="application/xml")
                return
            if k.sample_expired:
                msg = b"<Error><Code>AuthenticationFailed</Code><AuthenticationErrorDetail>Signed expiry time has expired</AuthenticationErrorDetail></Error>"
                self._send(403, raw=msg, ctype="application/xml")
                return
            expired = (k.sample_once and task.fetches >= 1) or (k.sample_ttl is not None and now - task.ready_at > k.sample_ttl)
            if expired:
                self._send(410, raw=b"<Error><Code>ResourceGone</Code></Error>", ctype="application/xml")
                return
            task.fetches += 1
            w, h = k.result_size or (task.width, task.height)
            ext = task.body.get("output_format", "jpeg")
        data = fake.sample_png(w, h, ext)
        self._send(200, raw=data, ctype=f"image/{ext}")


def main() -> None:
    """Run the fake as a process (benchmarks): prints ``base_url`` on one line, serves until killed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default="test-key")
    ap.add_argument("--processing-seconds", type=float, default=0.5)
    ap.add_argument("--pending-polls", type=int, default=0)
    ap.add_argument("--account-limit", type=int, default=None)
    args = ap.parse_args()
    fake = FakeBFL(args.api_key, port=args.port)
    fake.reset(processing_seconds=args.processing_seconds, pending_polls=args.pending_polls, account_limit=args.account_limit)
    print(fake.base_url, flush=True)
    try:
        fake.httpd.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
