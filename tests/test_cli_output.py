"""What the command line prints: a version, whole lines when not a terminal, and no Prefect shutdown noise."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import version

import yaml
from typer.testing import CliRunner

from brandflow.cli import app

runner = CliRunner()


def test_version():
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"brandflow {version('brandflow')}"


def test_errors_are_one_line_when_not_a_terminal(campaign_dir):
    deep = campaign_dir / ("a-long-folder-name-" * 4) / "more"
    deep.mkdir(parents=True)
    path = deep / "campaign.yaml"
    data = yaml.safe_load((campaign_dir / "campaign.yaml").read_text())
    data["brand_kit"] = str(campaign_dir / "brand.yaml")
    data["feed"]["path"] = str(campaign_dir / "products.csv")
    data["formts"] = data.pop("formats")
    path.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(path) in lines[0] and len(lines[0]) > 120, "paths are never split across lines"
    assert "formts: unknown key (did you mean 'formats'?)" in lines[0]


def test_a_cancelled_server_flush_at_shutdown_is_debug_not_an_error(caplog):
    from brandflow.flows.quiet import SHUTDOWN_LOGGERS, quiet_server_shutdown

    quiet_server_shutdown()
    quiet_server_shutdown()  # idempotent
    logger = logging.getLogger(SHUTDOWN_LOGGERS[0])
    assert sum(type(f).__name__ == "CancelledAtShutdown" for f in logger.filters) == 1
    with caplog.at_level(logging.INFO, logger=logger.name):
        try:
            raise asyncio.CancelledError()
        except asyncio.CancelledError:
            logger.error("Error flushing 1 events (1 to retry, 0 dropped)", exc_info=True)
        try:
            raise RuntimeError("database is locked")
        except RuntimeError:
            logger.error("Error flushing 2 events (2 to retry, 0 dropped)", exc_info=True)
    shown = [r.getMessage() for r in caplog.records if r.name == logger.name]
    assert shown == ["Error flushing 2 events (2 to retry, 0 dropped)"], "only the shutdown cancellation is hidden"
