"""The compositor backend and compose: determinism, distinct variants, exact sizes, legible exact text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import BrandKit, FormatSpec, OverlaySpec, load_brand_kit
from brandflow.tasks.compose import compose
from brandflow.tasks.generate.compositor import CompositorGenerator
from brandflow.tasks.layout import contrast_ratio, hex_to_rgb

IMAGES = Path(__file__).resolve().parents[2] / "examples" / "saleor" / "images"


def _job(seed: int, fmt: FormatSpec, palette=("#1864EC", "#241F3E", "#448EF4"), packshots=("saleor-apple-drink.png",), **overlay) -> Job:
    refs = [
        ReferenceImage(path=IMAGES / p, role="primary_packshot" if i == 0 else "alternate_view", sha256=sha256_file(IMAGES / p))
        for i, p in enumerate(packshots)
    ]
    return Job(
        campaign="t", product_id="apple-juice", product_title="Apple Juice", format=fmt, variant=0, seed=seed,
        backend="compositor", references=refs,
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="bottle")], color_palette=list(palette)),
        overlay={"headline": "Apple Juice", "price": "$1.99", "cta": "Shop now", **overlay},
    )


SQUARE = FormatSpec(name="square", width=1080, height=1080)
STORY = FormatSpec(name="story", width=1080, height=1920)
FEED = FormatSpec(name="feed", width=1080, height=1350, file_type="jpeg")


@pytest.fixture(scope="module")
def brand(example_dir) -> BrandKit:
    return load_brand_kit(example_dir / "brand.yaml")


def test_same_seed_same_bytes_other_seed_other_layout(tmp_path):
    gen = CompositorGenerator({})
    a = gen.generate(_job(1, SQUARE), tmp_path / "a.png")
    b = gen.generate(_job(1, SQUARE), tmp_path / "b.png")
    assert a.sha256 == b.sha256
    variants = {gen.generate(_job(s, SQUARE), tmp_path / f"s{s}.png").sha256 for s in range(2, 8)}
    assert len(variants) == 6, "every seed gives a different image"
    # layouts differ, not just noise: the mean absolute difference between two seeds is large
    x = np.asarray(Image.open(tmp_path / "s2.png"), float)
    y = np.asarray(Image.open(tmp_path / "s3.png"), float)
    assert np.abs(x - y).mean() > 5


def test_product_pixels_and_exact_primary_are_present(tmp_path):
    gen = CompositorGenerator({})
    out = np.asarray(Image.open(gen.generate(_job(4, SQUARE), tmp_path / "a.png").path))
    primary = np.array(hex_to_rgb("#1864EC"))
    assert (np.all(out == primary, axis=-1)).mean() > 0.2, "a flat area of the exact brand primary"
    packshot = np.asarray(Image.open(IMAGES / "saleor-apple-drink.png").convert("RGBA"))
    green = packshot[..., :3][(packshot[..., 3] == 255) & (packshot[..., 1] > packshot[..., 0] + 40)]
    assert len(green) > 1000
    # the green bottle appears: many pixels near the packshot's green
    near = np.linalg.norm(out[..., None, :].astype(float) - green[:: max(1, len(green) // 50)][None, None].astype(float), axis=-1).min(-1) < 20
    assert near.mean() > 0.02


@pytest.mark.parametrize("fmt", [SQUARE, STORY, FEED])
def test_exact_sizes_and_regions(tmp_path, brand, fmt):
    job = _job(5, fmt)
    gen = CompositorGenerator({}).generate(job, tmp_path / "g.png")
    creative = compose(gen, job, brand, OverlaySpec(), tmp_path / f"c.{fmt.file_type}")
    with Image.open(creative.path) as im:
        assert im.size == (fmt.width, fmt.height) and im.format == {"png": "PNG", "jpeg": "JPEG"}[fmt.file_type]
    assert {r.slot for r in creative.regions} == {"headline", "price", "cta"}
    margin = round(OverlaySpec().safe_margin * min(fmt.width, fmt.height))
    boxes = [r.box for r in creative.regions]
    for r in creative.regions:
        assert margin <= r.box.x0 < r.box.x1 <= fmt.width - margin
        assert margin <= r.box.y0 < r.box.y1 <= fmt.height - margin
        assert r.contrast >= 4.5
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, "text regions never overlap"


def test_compose_resizes_a_native_size_image(tmp_path, brand):
    job = _job(6, STORY)
    native = tmp_path / "native.png"
    Image.new("RGB", (768, 1360), "#1864EC").save(native)
    from brandflow.records import GeneratedImage

    gen = GeneratedImage(path=native, width=768, height=1360, sha256=sha256_file(native))
    creative = compose(gen, job, brand, OverlaySpec(), tmp_path / "c.png")
    assert (creative.width, creative.height) == (1080, 1920)
    assert Image.open(creative.path).size == (1080, 1920)


@pytest.mark.parametrize("background", ["#FFFFFF", "#111111", "#808080"])
def test_contrast_holds_on_light_dark_and_mid_backgrounds(tmp_path, brand, background):
    job = _job(7, SQUARE, palette=(background,))
    gen = CompositorGenerator({}).generate(job, tmp_path / "g.png")
    creative = compose(gen, job, brand, OverlaySpec(min_contrast=4.5), tmp_path / "c.png")
    img = np.asarray(Image.open(creative.path).convert("RGB"), float)
    for r in creative.regions:
        assert contrast_ratio(hex_to_rgb(r.fg), hex_to_rgb(r.bg)) >= 4.5
        # the recorded background is what is really behind the text: the box's most common colour
        crop = img[r.box.y0 : r.box.y1, r.box.x0 : r.box.x1].reshape(-1, 3)
        colours, counts = np.unique(crop.astype(int), axis=0, return_counts=True)
        assert np.abs(colours[counts.argmax()] - np.array(hex_to_rgb(r.bg))).max() <= 3


def test_long_headline_wraps_or_fails_clearly(tmp_path, brand):
    gen = CompositorGenerator({})
    job = _job(8, SQUARE, headline="Headless and Omnichannel commerce in a pill for every team")
    creative = compose(gen.generate(job, tmp_path / "g.png"), job, brand, OverlaySpec(), tmp_path / "c.png")
    assert next(r for r in creative.regions if r.slot == "headline").text == job.overlay["headline"]
    huge = _job(9, SQUARE, headline=" ".join(["Supercalifragilistic"] * 30))
    with pytest.raises(ValueError, match="overlay.headline"):
        compose(gen.generate(huge, tmp_path / "h.png"), huge, brand, OverlaySpec(), tmp_path / "h2.png")


def test_unknown_option_is_an_error():
    with pytest.raises(ValueError, match="generator.options"):
        CompositorGenerator({"shadows": True})
