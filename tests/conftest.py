"""Shared fixtures: the bundled Saleor example and small campaigns written into tmp folders."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # Tesseract: halves OCR time on 2 cores (DESIGN.md)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saleor"


@pytest.fixture(scope="session")
def example_dir() -> Path:
    return EXAMPLE


@pytest.fixture
def campaign_dir(tmp_path: Path) -> Path:
    """A writable copy of the example's YAML and feed; images are linked, not copied."""
    for name in ("campaign.yaml", "brand.yaml", "products.csv"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    for name in ("images", "packshots", "logo.png"):
        (tmp_path / name).symlink_to(EXAMPLE / name)
    return tmp_path


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect database for the whole session (entering it costs ~8 s)."""
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.testing.utilities import prefect_test_harness

    # Configure Prefect's log handlers now, on pytest's stderr: configured lazily inside a CliRunner invocation,
    # they would keep that invocation's stream and fail ("I/O operation on closed file") in every later test.
    ensure_logging_setup()
    with prefect_test_harness(server_startup_timeout=120):  # a loaded 2-core machine can take more than the default 30 s
        yield


@pytest.fixture(autouse=True)
def _own_user_cache(tmp_path_factory, monkeypatch):
    """No test reads or fills the developer's ~/.cache/brandflow: each test starts with an empty QA readings cache."""
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(tmp_path_factory.mktemp("user-cache")))


@pytest.fixture(autouse=True)
def _no_reviewers_keyfile(tmp_path_factory, monkeypatch):
    """No test reads the developer's ~/.config/brandflow/reviewers.json: reviewer checks are on only where a test adds reviewers."""
    monkeypatch.setenv("BRANDFLOW_REVIEWERS_FILE", str(tmp_path_factory.mktemp("reviewers") / "reviewers.json"))


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (it cannot download a browser of its own here)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).is_file(), "Debian's chromium is needed: apt-get install -y chromium (make test installs it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def at_once():
    """``at_once(fn, n=4)``: ``fn()`` called by ``n`` threads released together (a barrier), as the job pool's workers
    start on one product's creatives; returns their results."""
    import threading

    def run(fn, n: int = 4) -> list:
        start, results = threading.Barrier(n), []

        def call() -> None:
            start.wait()
            results.append(fn())

        threads = [threading.Thread(target=call) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    return run
