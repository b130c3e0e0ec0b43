"""Fixtures of the QA check tests: a brand kit, a context builder and small image makers.

Helpers are fixtures (not imports from this file) so the tests work under any pytest import mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from brandflow.qa.base import CheckContext
from brandflow.records import Box, TextRegion
from brandflow.spec import BrandColour, BrandKit

ROOT = Path(__file__).resolve().parents[2]
FONT = ROOT / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"


@pytest.fixture
def packshots() -> Path:
    """The folder of the Saleor example packshots (576 × 576 RGBA PNG)."""
    return ROOT / "examples" / "saleor" / "images"


@pytest.fixture
def brand() -> BrandKit:
    """Blue #1A63EC (primary) and white (background) required; ink #111111 optional."""
    return BrandKit(
        name="Acme",
        colours=[
            BrandColour(name="blue", hex="#1A63EC", role="primary"),
            BrandColour(name="white", hex="#FFFFFF", role="background"),
            BrandColour(name="ink", hex="#111111", role="text", required=False),
        ],
    )


@pytest.fixture
def make_ctx(brand):
    """``make_ctx(**fields)`` → a CheckContext with the test brand (override ``brand=`` to change it)."""

    def make(**kw) -> CheckContext:
        kw.setdefault("path", Path("creative.png"))
        kw.setdefault("brand", brand)
        return CheckContext(**kw)

    return make


def _hex(rgb) -> str:
    return "#%02X%02X%02X" % tuple(int(round(float(v))) for v in rgb)


@pytest.fixture
def gradient():
    """``gradient(size=1080)`` → ``(size, size, 3) uint8`` diagonal gradient (navy top-left, orange bottom-right)."""

    def make(size: int = 1080) -> np.ndarray:
        y, x = np.mgrid[0:size, 0:size] / size
        return np.stack([x * 255, y * 200, np.full_like(x, 120.0)], -1).astype(np.uint8)

    return make


@pytest.fixture
def draw_text():
    """``draw_text(image, [(slot, text, (x, y), font_px, fill_rgb), …])`` → ``(image, regions)``.

    DejaVu Sans Bold; each region's box is the text's bounding box and ``bg`` the mean colour under it
    before drawing — what compose records.
    """

    def draw(image: np.ndarray, items):
        im = Image.fromarray(image.copy())
        d = ImageDraw.Draw(im)
        regions = []
        for slot, text, xy, size, fill in items:
            font = ImageFont.truetype(str(FONT), size)
            x0, y0, x1, y1 = d.textbbox(xy, text, font=font)
            bg = np.asarray(im)[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
            d.text(xy, text, font=font, fill=fill)
            regions.append(TextRegion(slot=slot, text=text, box=Box(x0=x0, y0=y0, x1=x1, y1=y1), fg=_hex(fill),
                                      bg=_hex(bg), contrast=4.5, font_px=size))
        return np.asarray(im), regions

    return draw
