"""Hostile campaign files and flow-run parameters: they cannot choose a secret, send one to a new host, write a
key outside the target, hang validation or rendering, or get a secret into the audit record."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from brandflow.cli import app
from brandflow.flows.campaign import campaign_flow
from brandflow.targets import TargetNotAllowedError, check_publish_target, check_secret_destination

runner = CliRunner()
KEY = "bfl-sk-live-7f3a9c1e5d2b4a68"


class Listener:
    """An HTTP server on 127.0.0.1 that records every request's headers and answers ``status`` with a JSON
    body echoing those headers (as a careless API does in its error pages)."""

    def __init__(self, status: int = 422) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                outer.requests.append(dict(self.headers))
                body = json.dumps({"detail": f"bad request; you sent {dict(self.headers)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer  # noqa: N815

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener():
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def alarm():
    """Fail (instead of hanging the suite) if the test takes over 60 s: the FIFO and template cases used to hang."""
    def on_alarm(*_):
        raise TimeoutError("hung: the hostile input was not refused in time")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _edit(campaign: Path, **changes) -> Path:
    spec = yaml.safe_load(campaign.read_text())
    for dotted, value in changes.items():
        node = spec
        *parents, last = dotted.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    campaign.write_text(yaml.safe_dump(spec, sort_keys=False))
    return campaign


# --------------------------------------------------------------------------- secrets
def test_a_campaign_cannot_pick_the_variable_holding_the_wagtail_token(hostile_campaign):
    campaign = hostile_campaign(["apple"], publish={"wagtail": {"token_env": "AWS_SECRET_ACCESS_KEY"}})
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "token_env" in res.output


def test_a_campaign_cannot_pick_the_variable_holding_the_bfl_key(hostile_campaign):
    campaign = _edit(hostile_campaign(["apple"]), generator={"backend": "bfl", "options": {"api_key_env": "AWS_SECRET_ACCESS_KEY"}})
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "BFL_API_KEY" in res.output, res.output


@pytest.mark.parametrize("target, why", [
    ("wagtail+https://cms.attacker.example/api/brandflow/v1/", "has not allowed"),
    ("wagtail+http://cms.example.com/api/brandflow/v1/", "plain http"),
])
def test_the_wagtail_token_goes_only_to_allowed_https_hosts(target, why, monkeypatch):
    from brandflow.publishers.wagtail import WagtailPublisher

    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", "wagtail-token-0123456789")
    monkeypatch.delenv("BRANDFLOW_ALLOWED_TARGETS", raising=False)
    with pytest.raises(TargetNotAllowedError, match=why):
        WagtailPublisher(target)
    monkeypatch.setenv("BRANDFLOW_ALLOWED_TARGETS", "wagtail+https://cms.example.com/api/brandflow/v1/")
    WagtailPublisher("wagtail+https://cms.example.com/api/brandflow/v1/")  # the operator's host: accepted, nothing sent yet
    with pytest.raises(TargetNotAllowedError):
        WagtailPublisher("wagtail+https://cms.example.com.attacker.example/api/brandflow/v1/")


def test_secret_hosts_match_whole_names_and_paths(monkeypatch):
    monkeypatch.setenv("BRANDFLOW_ALLOWED_TARGETS", "https://proxy.example.com/bfl s3://brand")
    check_secret_destination("https://proxy.example.com/bfl/v1/x", "k")
    check_secret_destination("https://api.eu.bfl.ai/v1/flux-2-pro", "k", public_hosts=("bfl.ai",))
    check_secret_destination("http://127.0.0.1:9/x", "k")
    for url in ("https://proxy.example.com/bflx", "https://evilbfl.ai/v1", "https://bfl.ai.evil.example/", "http://10.0.0.1/x", "ftp://127.0.0.1/"):
        with pytest.raises(TargetNotAllowedError):
            check_secret_destination(url, "k", public_hosts=("bfl.ai",))
    check_publish_target("s3://brand/prefix", runtime=True)
    with pytest.raises(TargetNotAllowedError):
        check_publish_target("s3://brand-2/prefix", runtime=True)


def test_a_flow_run_parameter_cannot_publish_anywhere_new(prefect_harness, hostile_campaign, tmp_path, monkeypatch, listener):
    monkeypatch.delenv("BRANDFLOW_ALLOWED_TARGETS", raising=False)
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", "wagtail-token-0123456789")
    campaign = hostile_campaign(["apple"])
    run_dir = campaign.parent / "runs" / "r"
    for target in (f"wagtail+http://127.0.0.1:{listener.port}/api/", (tmp_path / "elsewhere").as_uri()):
        with pytest.raises(TargetNotAllowedError, match="BRANDFLOW_ALLOWED_TARGETS"):
            campaign_flow(str(campaign), str(run_dir), publish_to=target)
    assert listener.requests == [] and not (tmp_path / "elsewhere").exists()


def test_an_api_error_echoing_the_key_never_reaches_the_record(prefect_harness, hostile_campaign, listener, monkeypatch):
    monkeypatch.setenv("BFL_API_KEY", KEY)
    campaign = hostile_campaign(["apple"], generator={"backend": "bfl", "options": {
        "base_url": f"http://127.0.0.1:{listener.port}", "max_retries": 0, "timeout": 20}})
    run_dir = campaign.parent / "runs" / "r"

    result = campaign_flow(str(campaign), str(run_dir))

    assert listener.requests and listener.requests[0].get("x-key") == KEY, "the key went to the loopback API"
    assert result.summary.errors == 1 and result.exit_code == 1
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), f"the key leaked into {path}"
    assert "[redacted]" in result.manifest.read_text()


# --------------------------------------------------------------------------- validation
@pytest.mark.parametrize("template, fragment", [
    ("{campaign}/../{product_id}.{ext}", "'..'"),
    ("/srv/{product_id}.{ext}", "relative"),
    ("{campaign}/{bogus}/{product_id}.{ext}", "unknown field {bogus}"),
    ("{campaign}/{product_id:.3}.{ext}", "no format spec"),
    ("{campaign}/{format}.{ext}", "{product_id} or {job}"),
    ("{campaign}/{product_id}/{variant}.{ext}", "{format}"),
])
def test_validate_rejects_unsafe_key_templates(hostile_campaign, template, fragment):
    campaign = hostile_campaign(["apple"], formats=[{"name": "a", "width": 256, "height": 256}, {"name": "b", "width": 256, "height": 256}],
                                publish={"key_template": template})
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "key_template" in res.output and fragment in res.output.replace("\n", ""), res.output


def test_a_fifo_as_image_link_is_refused_without_hanging(hostile_campaign, alarm):
    campaign = hostile_campaign(["apple"], rows=[{"id": "fifo", "title": "t", "description": "", "product_type": "",
                                                  "price": "1.00 USD", "image_link": "pipe.png"}])
    os.mkfifo(campaign.parent / "pipe.png")
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 0 and "1 rejected rows" in res.output and "FIFO" in res.output.replace("\n", ""), res.output


def test_a_fifo_as_brand_kit_is_refused_without_hanging(hostile_campaign, alarm):
    campaign = hostile_campaign(["apple"])
    (campaign.parent / "brand.yaml").unlink()
    os.mkfifo(campaign.parent / "brand.yaml")
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "FIFO" in res.output, res.output


@pytest.mark.parametrize("field, content, fix", [
    ("logo", b"<html>not found</html>", "not a usable image"),
    ("fonts", b"%PDF-1.4 not a font", "not a TrueType/OpenType font"),
])
def test_fonts_and_logos_must_be_real_files(hostile_campaign, field, content, fix):
    campaign = hostile_campaign(["apple"])
    brand_path = campaign.parent / "brand.yaml"
    brand = yaml.safe_load(brand_path.read_text())
    (campaign.parent / "fake.bin").write_bytes(content)
    if field == "logo":
        brand["logo"] = "fake.bin"
    else:
        brand["fonts"] = {"headline": "fake.bin"}
    brand_path.write_text(yaml.safe_dump(brand))
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and fix in res.output.replace("\n", ""), res.output


@pytest.mark.parametrize("headline, limit", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loop steps"),
    ("{{ 10**(10**10) }}", "exponent"),
    ("{{ lipsum(1000000) }}", "paragraphs"),
    ("{{ 'x' * 10**9 }}", "characters"),
])
def test_templates_that_would_hang_or_eat_memory_are_stopped(hostile_campaign, headline, limit, alarm):
    campaign = hostile_campaign(["apple"], overlay={"headline": headline})
    res = runner.invoke(app, ["validate", str(campaign)])
    # the reason may wrap inside its table cell: read the cells' words in order, without the table's rules
    words = " ".join(re.sub(r"[│┃]", " ", res.output).split())
    # the one product is rejected, so nothing can be planned: not valid (exit 2), as `run` says too
    assert res.exit_code == 2 and "1 rejected rows" in res.output and limit in words, res.output
    assert "no creative can be planned" in words


def test_a_campaign_target_on_a_host_nobody_allowed_fails_validation_before_anything_runs(hostile_campaign, monkeypatch):
    monkeypatch.delenv("BRANDFLOW_ALLOWED_TARGETS", raising=False)
    campaign = hostile_campaign(["apple"], publish={"target": "wagtail+https://cms.attacker.example/api/brandflow/v1/"})
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "BRANDFLOW_ALLOWED_TARGETS" in res.output.replace("\n", ""), res.output
    monkeypatch.setenv("BRANDFLOW_ALLOWED_TARGETS", "wagtail+https://cms.attacker.example/api/brandflow/v1/")
    assert runner.invoke(app, ["validate", str(campaign)]).exit_code == 0  # the operator's decision, not the file's
