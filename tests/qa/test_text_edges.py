"""Text QA on real OCR: tofu caught before drawing and in the image, near-misses on pixels, bad input never crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.compose.overlay import BOLD, compose
from brandflow.glyphs import MissingGlyphsError, missing_glyphs, require_glyphs
from brandflow.imageio import load_rgb
from brandflow.qa.text import TextCheck
from brandflow.records import GeneratedImage, Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec

WHITE, INK = (255, 255, 255), (17, 17, 17)


# --------------------------------------------------------------------------- tofu
def test_font_coverage_names_the_missing_characters():
    assert missing_glyphs("Hoodie 🔥 Привет 中\u200d\ufe0f", [BOLD]) == ["🔥", "中"]  # DejaVu has Cyrillic
    assert missing_glyphs("Café ½", [BOLD]) == []
    with pytest.raises(MissingGlyphsError, match=r"'Hoodie 🔥' has characters no font can draw.*U\+1F525 FIRE.*"
                                                 r"DejaVuSans-Bold.ttf.*brand.fonts") as e:
        require_glyphs("overlay headline", "Hoodie 🔥", [BOLD])
    assert e.value.missing == ["🔥"]
    with pytest.raises(ValueError, match="cannot read its character map"):
        missing_glyphs("x", [__file__])


def test_compose_refuses_text_its_font_cannot_draw_before_drawing(tmp_path):
    path = tmp_path / "g.png"
    Image.new("RGB", (540, 540), "#1864EC").save(path)
    generated = GeneratedImage(path=path, width=540, height=540, sha256=sha256_file(path))
    job = Job(campaign="t", product_id="tee-1", product_title="Tee", format=FormatSpec(name="sq", width=540, height=540),
              variant=0, seed=1, backend="compositor", references=[ReferenceImage(
                  path=path, role="primary_packshot", sha256=sha256_file(path))],
              prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="tee")]),
              overlay={"headline": "Hot tee \ue000", "price": "$9.00", "cta": "Shop now"})  # private use: no font has it
    from brandflow.spec import BrandColour, BrandKit

    kit = BrandKit(name="A", colours=[BrandColour(name="blue", hex="#1864EC", role="primary")])
    with pytest.raises(MissingGlyphsError, match=r"overlay headline of product 'tee-1' 'Hot tee \\ue000'.*U\+E000"):
        compose(generated, job, kit, OverlaySpec(logo=False), tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
    fine = compose(generated, job.model_copy(update={"overlay": {**job.overlay, "headline": "Hot tee"}}), kit,
                   OverlaySpec(logo=False), tmp_path / "c.png")
    assert fine.regions[0].fonts == [str(BOLD)]  # QA can check the coverage of what was drawn


def test_tofu_in_a_drawn_region_fails(gradient, draw_text, make_ctx):
    img, regions = draw_text(gradient(540), [("headline", "Hot tee 🔥", (30, 30), 48, WHITE)])
    region = regions[0].model_copy(update={"fonts": [str(BOLD)]})
    res = TextCheck().run(img, make_ctx(regions=(region,)))
    assert res.verdict == "fail"
    assert res.reasons[0] == ("headline: tofu: the font(s) DejaVuSans-Bold.ttf cannot draw '🔥' (U+1F525 FIRE): "
                              "they show as missing-glyph boxes")


# --------------------------------------------------------------------------- near-misses and noise on pixels
def test_near_miss_price_and_word_fail_on_pixels_and_the_right_text_passes(gradient, draw_text, make_ctx):
    img, regions = draw_text(gradient(720), [("headline", "Summer Sale", (40, 40), 64, WHITE),
                                             ("price", "$34.00", (40, 560), 56, INK)])
    right = TextCheck().run(img, make_ctx(regions=tuple(regions)))
    assert right.verdict == "pass", right.reasons
    wrong = TextCheck().run(img, make_ctx(regions=(regions[0].model_copy(update={"text": "Summer Sole"}),
                                                   regions[1].model_copy(update={"text": "$39.00"}))))
    assert wrong.verdict == "fail"
    assert "price: the price reads $34.00; the expected text says $39.00" in wrong.reasons
    assert "headline: 'Sale' reads as another word; the expected text says 'Sole'" in wrong.reasons


def test_expected_text_on_a_photo_without_regions(packshots, draw_text, make_ctx):
    photo = np.asarray(Image.fromarray(load_rgb(packshots / "saleor-blue-hoodie.png", matte=(230, 222, 205))).resize((720, 720)))
    img, _ = draw_text(photo, [("a", "Only $45.00 today", (60, 600), 44, INK)])
    ok = TextCheck().run(img, make_ctx(expected_text=("Only $45.00 today",)))
    assert ok.verdict == "pass", ok.reasons
    assert ok.metrics["expected"][0]["source"] == "full:rapidocr"
    near = TextCheck().run(img, make_ctx(expected_text=("Only $46.00 today",)))
    assert near.verdict == "fail"
    assert near.reasons == ["expected text 'Only $46.00 today': the price reads $45.00; the expected text says $46.00"]


# --------------------------------------------------------------------------- bad input: a result, never a crash
@pytest.mark.parametrize("shape", [(1, 1, 3), (3, 200, 3), (200, 2, 3)])
def test_tiny_images_give_a_clear_result(shape, make_ctx, draw_text):
    res = TextCheck().run(np.full(shape, 128, np.uint8), make_ctx(expected_text=("Shop now",)))
    assert res.verdict == "fail"
    assert res.reasons == ["expected text 'Shop now': not found in the image (closest reading '', NED 0.00)"]


def test_fully_transparent_image_and_no_text(tmp_path, make_ctx):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(path)
    res = TextCheck().run(load_rgb(path), make_ctx(path=path, expected_text=("Shop now",)))
    assert res.verdict == "fail" and "not found in the image" in res.reasons[0]
    nothing = TextCheck().run(load_rgb(path), make_ctx(path=path))
    assert nothing.verdict == "pass" and nothing.reasons == []


def test_a_script_the_ocr_does_not_read_is_said_not_silently_failed(gradient, draw_text, make_ctx):
    img, _ = draw_text(gradient(600), [("a", "Привет мир", (40, 200), 56, WHITE)])  # DejaVu draws Cyrillic
    res = TextCheck().run(img, make_ctx(expected_text=("Привет мир",)))
    assert res.verdict == "warn"
    assert res.reasons and all("cannot be verified" in r and "CYRILLIC" in r for r in res.reasons), res.reasons


def test_published_path_is_only_a_label(tmp_path, make_ctx):
    """The check reads pixels only: a path that does not exist does not matter."""
    res = TextCheck().run(np.zeros((40, 40, 3), np.uint8), make_ctx(path=Path(tmp_path / "nope.png")))
    assert res.verdict == "pass"


def test_auto_without_a_scene_text_engine_reads_with_tesseract_and_says_so(monkeypatch, gradient, draw_text, make_ctx):
    import brandflow.qa.text as text_mod

    monkeypatch.setattr(text_mod, "_scene_engine_ready", lambda: False)
    img, _ = draw_text(np.full((400, 700, 3), 235, np.uint8), [("a", "Summer Sale today", (40, 150), 56, INK)])
    res = TextCheck().run(img, make_ctx(expected_text=("Summer Sale today",)))
    assert res.verdict == "pass", res.reasons
    assert res.metrics["expected"][0]["source"] == "full:tesseract"
    assert "the scene-text engine (rapidocr) is not installed" in res.metrics["notes"][0]
