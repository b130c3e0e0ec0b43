"""Identity under another light: a product re-drawn from another angle, in golden-hour light, on a photo.

A FLUX.2 render of the autumn template ("low warm golden-hour sunlight") tints the whole product amber. The geometry
still lines up, but compared colour for colour the aligned pixels "disagreed" and the right product went to a human
(a book with 145 inliers scored 0.73). The check now measures the light on what is neutral in the packshot (white,
grey, black print) and compares colours as under the packshot's light (von Kries gains, qa/identity.py
``illuminant_gains``); another flavour of the same design, whose neutral print stays neutral, is not corrected away.

Fixtures are built here: a Saleor packshot warped by a pinhole rotation about its vertical axis, its linear RGB scaled
as by a warm light (R × 1.12, B × 0.85) with a gamma of 1.15, laid at 60 % of a 1080² DreamBench photo
(tests/qa/fixtures/reshot, CC-BY-4.0), JPEG q85.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from brandflow.imageio import load_rgb, load_rgba
from brandflow.qa.base import CheckContext
from brandflow.qa.identity import IdentityCheck, illuminant_gains
from brandflow.spec import QASpec, load_brand_kit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
PACKSHOTS = EXAMPLE / "packshots"
BACKGROUND = Path(__file__).parent / "fixtures" / "reshot" / "dog5-00.jpg"


def redraw(name: str, tilt: float = 20.0, warm: bool = True, size: int = 1080) -> np.ndarray:
    """``(size, size, 3) uint8`` sRGB: the packshot turned by ``tilt`` degrees, under warm light, on a photo, JPEG."""
    rgba = load_rgba(PACKSHOTS / name).astype(np.float32)
    h, w = rgba.shape[:2]
    f, t = 1.2 * w, math.radians(tilt)
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    seen = [[f * (x - w / 2) * math.cos(t) / ((x - w / 2) * math.sin(t) + f) + w / 2,
             f * (y - h / 2) / ((x - w / 2) * math.sin(t) + f) + h / 2] for x, y in corners]
    warped = cv2.warpPerspective(rgba, cv2.getPerspectiveTransform(corners, np.float32(seen)), (w, h))
    rgb = warped[..., :3] / 255.0
    if warm:
        rgb = np.clip(rgb * np.array([1.12, 1.0, 0.85], np.float32), 0, 1) ** 1.15
    canvas = cv2.resize(load_rgb(BACKGROUND), (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    k = 0.6 * size / max(h, w)
    pw, ph = int(w * k), int(h * k)
    prod = cv2.resize(np.dstack([rgb, warped[..., 3:] / 255.0]), (pw, ph), interpolation=cv2.INTER_AREA)
    x0, y0, a = (size - pw) // 2, (size - ph) // 2, prod[..., 3:]
    canvas[y0:y0 + ph, x0:x0 + pw] = canvas[y0:y0 + ph, x0:x0 + pw] * (1 - a) + prod[..., :3] * a
    buf = io.BytesIO()
    Image.fromarray((canvas * 255 + 0.5).astype(np.uint8)).save(buf, "JPEG", quality=85)
    return np.array(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def check():
    brand = load_brand_kit(EXAMPLE / "brand.yaml")

    def run(image: np.ndarray, *refs: str):
        ctx = CheckContext(path=Path("render.png"), brand=brand, references=tuple(PACKSHOTS / r for r in refs), thresholds=QASpec())
        return IdentityCheck().run(image, ctx)

    return run


@pytest.mark.parametrize("name", ["saleor-battle-tested-book.webp", "saleor-apple-drink.webp", "saleor-blue-plimsolls-1.webp"])
def test_the_product_turned_and_in_warm_light_passes(check, name):
    res = check(redraw(name), name)
    assert res.verdict == "pass", res.metrics
    r, g, b = res.metrics["illuminant_gains"]
    assert r > g > b, res.metrics["illuminant_gains"]  # warm: the light measured is redder than the packshot's
    assert check(redraw(name, warm=False), name).metrics.get("illuminant_gains") is not None  # measured, ≈ 1


def test_another_flavour_of_the_same_design_still_fails_in_warm_light(check):
    """The four juice bottles share one label design: a carrot bottle in golden light is not taken for apple."""
    res = check(redraw("saleor-carrot-drink.webp"), "saleor-apple-drink.webp")
    assert res.verdict == "fail", res.metrics
    assert any(p.startswith("colour:") for p in res.metrics["disagrees"]), res.metrics["disagrees"]


def test_no_neutral_print_no_light_measured():
    """A packshot with nothing white, grey or black gives no reference for the light: nothing is corrected."""
    ref_lab = cv2.cvtColor(np.full((64, 64, 3), (24, 100, 236), np.uint8), cv2.COLOR_RGB2LAB)  # all Saleor blue
    creative = np.full((64, 64, 3), (60, 100, 200), np.uint8)
    assert illuminant_gains(ref_lab, creative, np.ones((64, 64), bool)) is None
    grey = cv2.cvtColor(np.full((64, 64, 3), 200, np.uint8), cv2.COLOR_RGB2LAB)
    gains = illuminant_gains(grey, np.full((64, 64, 3), (220, 200, 160), np.uint8), np.ones((64, 64), bool))
    assert gains is not None and gains[0] > 1 > gains[2]
    assert illuminant_gains(grey, np.full((64, 64, 3), (20, 20, 20), np.uint8), np.ones((64, 64), bool)) is None  # an occluder
