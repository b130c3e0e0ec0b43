"""Fixtures of the hostile-input corpus: tiny campaigns (small formats, fast checks) on a feed whose ids and
values are written by an adversary, in a folder deep enough that ``../../..`` from the run folder still
lands inside the test's own tmp folder (so an escape is seen, never done to the machine)."""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
PACKSHOT = "images/saleor-apple-drink.png"


def _files_under(root: Path) -> set[Path]:
    out = set()
    for folder, dirs, files in os.walk(root):
        out.update(Path(folder) / f for f in files)
        out.update(Path(folder) / d for d in dirs if (Path(folder) / d).is_symlink())
    return out


@pytest.fixture
def files_under() -> Callable[[Path], set[Path]]:
    """``files_under(root)``: every file and symlink under ``root`` (symlinked folders are not followed)."""
    return _files_under


@pytest.fixture
def hostile_campaign(tmp_path) -> Callable[..., Path]:
    """``make(ids, **overrides) → campaign.yaml`` in ``tmp_path/a/b/c/d/campaign``: one row per id (all the
    apple-juice packshot), one 256 px square format, one variant, the format check only; ``overrides``
    replace top-level keys (dicts are merged one level deep)."""

    def make(ids: list[str], rows: list[dict] | None = None, **overrides) -> Path:
        folder = tmp_path / "a" / "b" / "c" / "d" / "campaign"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLE / "brand.yaml", folder / "brand.yaml")
        shutil.copy(EXAMPLE / "logo.png", folder / "logo.png")
        if not (folder / "images").exists():
            (folder / "images").symlink_to(EXAMPLE / "images")
        with open(folder / "products.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, ["id", "title", "description", "product_type", "price", "image_link"])
            w.writeheader()
            for pid in ids:
                w.writerow({"id": pid, "title": "Apple Juice", "description": "", "product_type": "Groceries",
                            "price": "3.00 USD", "image_link": PACKSHOT})
            for row in rows or []:
                w.writerow(row)
        spec = yaml.safe_load((EXAMPLE / "campaign.yaml").read_text())
        spec["formats"] = [{"name": "square", "width": 256, "height": 256}]
        spec["variants"] = 1
        spec["qa"] = {"checks": ["format"], "max_attempts": 1}
        for k, v in overrides.items():
            spec[k] = {**spec[k], **v} if isinstance(v, dict) and isinstance(spec.get(k), dict) else v
        path = folder / "campaign.yaml"
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return make
