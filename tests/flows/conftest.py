"""Fixtures of the flow tests: tiny campaigns on real Saleor products and a local webhook receiver."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
TINY_PRODUCTS = ["apple-juice", "white-plimsolls"]


@pytest.fixture
def tiny_campaign(tmp_path_factory) -> Callable[..., Path]:
    """``make(folder_name, **overrides) → campaign.yaml``: a writable copy of the example reduced to 2 products,
    1 square format and 1 variant (2 creatives), in its own folder; ``overrides`` replace top-level keys."""

    def make(folder_name: str = "campaign", /, **overrides) -> Path:
        folder = tmp_path_factory.mktemp(folder_name)
        for file in ("campaign.yaml", "brand.yaml", "products.csv"):
            shutil.copy(EXAMPLE / file, folder / file)
        for name in ("images", "packshots", "logo.png"):
            (folder / name).symlink_to(EXAMPLE / name)
        spec = yaml.safe_load((folder / "campaign.yaml").read_text())
        spec["formats"] = [{"name": "square", "width": 1080, "height": 1080}]
        spec["variants"] = 1
        spec["feed"]["filter"] = {"ids": TINY_PRODUCTS}
        spec.update(overrides)
        path = folder / "campaign.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return make


class WebhookReceiver:
    """A JSON-receiving HTTP server on 127.0.0.1. ``bodies`` collects the posted JSON, ``requests`` the
    ``(path, headers, body)`` of each POST; ``statuses`` are the answers to give, in order — a status code,
    or ``(status, json_body)`` — and 200 once they run out."""

    def __init__(self) -> None:
        self.bodies: list = []
        self.requests: list[tuple[str, dict[str, str], object]] = []
        self.statuses: list[int | tuple[int, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                receiver.bodies.append(body)
                receiver.requests.append((self.path, dict(self.headers), body))
                answer = receiver.statuses.pop(0) if receiver.statuses else 200
                status, payload = answer if isinstance(answer, tuple) else (answer, "ok")
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    """A :class:`WebhookReceiver`, shut down after the test."""
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()
