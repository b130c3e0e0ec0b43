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
    (tmp_path / "images").symlink_to(EXAMPLE / "images")
    return tmp_path


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect database for the whole session (entering it costs ~8 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


@pytest.fixture(autouse=True)
def _no_reviewers_keyfile(tmp_path_factory, monkeypatch):
    """No test reads the developer's ~/.config/brandflow/reviewers.json: reviewer checks are on only where a test adds reviewers."""
    monkeypatch.setenv("BRANDFLOW_REVIEWERS_FILE", str(tmp_path_factory.mktemp("reviewers") / "reviewers.json"))
