"""Text QA: real Tesseract OCR on rendered creatives, and the pure text-scoring helpers."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import brandflow.qa.text as text_mod
from brandflow.errors import MissingDependencyError
from brandflow.imageio import load_rgb
from brandflow.qa.text import TextCheck, best_window, find_forbidden, ned, normalise_text, word_precision_recall
from brandflow.records import Box, TextRegion

WHITE, INK, NAVY, BLUE = (255, 255, 255), (17, 17, 17), (10, 10, 40), (0x1A, 0x63, 0xEC)


@pytest.fixture(autouse=True, params=["tesserocr", "tesseract-cli"])
def ocr_path(request, monkeypatch):
    """Every test runs on both OCR paths: tesserocr in-process (must be installed and link the CLI's Tesseract
    version: `pip install --no-binary tesserocr tesserocr`) and the ``tesseract`` CLI (``BRANDFLOW_OCR=cli``)."""
    if request.param == "tesseract-cli":
        monkeypatch.setenv(text_mod.OCR_ENV, "cli")
    else:
        monkeypatch.delenv(text_mod.OCR_ENV, raising=False)
        import tesserocr  # noqa: F401  - a test dependency; no skip

        assert text_mod.ocr_engine().startswith("tesserocr/"), "tesserocr does not link the CLI's Tesseract version"
    return request.param


# --------------------------------------------------------------------------- pure helpers
def test_ned_is_anytext_normalised_edit_distance():
    assert ned("Summer  SALE\n-30%", "summer sale -30%") == 1.0  # case and whitespace normalised
    assert ned("It’s — new", "it's - new") == 1.0  # typographic quotes and dashes
    assert ned("abc", "abd") == pytest.approx(2 / 3)
    assert ned("", "abcd") == 0.0 and ned("", "") == 1.0
    assert ned("Shop now", "Shop now!!") == pytest.approx(1 - 2 / 10)
    assert normalise_text("  A\tB  ") == "a b"


def test_word_precision_recall():
    assert word_precision_recall("shop now today", "shop now") == (pytest.approx(2 / 3), 1.0)
    assert word_precision_recall("shop", "shop now") == (1.0, 0.5)
    assert word_precision_recall("", "shop") == (1.0, 0.0)


def test_best_window_finds_the_substring():
    words = "New arrivals Summer Sale -30% on all tees".split()
    assert best_window(words, "summer sale -30%") == ("Summer Sale -30%", 1.0)
    text, score = best_window(words, "Winter Sale -50%")
    assert score < 0.9
    assert best_window([], "anything") == ("", 0.0)


def test_find_forbidden_is_case_insensitive_on_word_boundaries():
    assert find_forbidden("CHEAP deals today", ["cheap"]) == ["cheap"]
    assert find_forbidden("the cheapest deals", ["cheap"]) == []
    assert find_forbidden("free\n money here", ["free money", "bargain"]) == ["free money"]


# --------------------------------------------------------------------------- OCR on rendered creatives
SIZES_ON_GRADIENT = [
    ("headline", "Summer Sale -30%", (60, 60), 80, WHITE),  # white on dark navy/purple
    ("sub", "Apple Juice, fresh pressed", (60, 260), 36, INK),
    ("price", "$10.00", (700, 560), 24, NAVY),
    ("body", "Cold pressed from organic apples", (60, 760), 20, INK),
    ("cta", "Shop now at example.com", (60, 900), 18, WHITE),  # smallest, white on green
]


def test_regions_on_gradient_read_exactly_at_18_to_80_px(gradient, draw_text, make_ctx, ocr_path):
    img, regions = draw_text(gradient(), SIZES_ON_GRADIENT)
    res = TextCheck().run(img, make_ctx(regions=tuple(regions)))
    assert res.verdict == "pass", res.reasons
    by_slot = {m["slot"]: m for m in res.metrics["regions"]}
    for region in regions:
        m = by_slot[region.slot]
        assert m["ned"] >= 0.9, m
        assert m["recall"] >= 0.75 and m["conf"] > 50
        for w in m["words"]:  # word boxes are in image pixels, inside the region (± margin)
            x0, y0, x1, y1 = w["box"]
            assert region.box.x0 - 12 <= x0 < x1 <= region.box.x1 + 12
            assert region.box.y0 - 12 <= y0 < y1 <= region.box.y1 + 12
    assert by_slot["price"]["read"] == "$10.00"
    assert res.metrics["ocr_engine"].startswith(ocr_path + (" " if ocr_path == "tesseract-cli" else "/tesseract "))
    assert "full_text" not in res.metrics  # no expected strings, no forbidden words → no full-image pass


def test_regions_on_a_packshot_read_exactly(packshots, draw_text, make_ctx):
    photo = cv2.resize(load_rgb(packshots / "saleor-blue-hoodie.png", matte=(230, 222, 205)), (1080, 1080),
                       interpolation=cv2.INTER_CUBIC)
    img, regions = draw_text(photo, [
        ("headline", "Cosy Blue Hoodie", (60, 40), 72, INK),  # crosses the hood: beige + blue behind
        ("price", "$45.00", (420, 560), 40, WHITE),  # white on the blue fabric, next to printed text
        ("cta", "Shop now", (380, 700), 28, WHITE),
        ("legal", "Organic cotton, made in Portugal", (60, 1030), 18, (40, 40, 40)),
    ])
    res = TextCheck().run(img, make_ctx(regions=tuple(regions)))
    assert res.verdict == "pass", res.reasons
    assert all(m["ned"] >= 0.9 for m in res.metrics["regions"]), res.metrics["regions"]


def test_wrong_text_in_a_region_fails_naming_the_slot(gradient, draw_text, make_ctx):
    img, regions = draw_text(gradient(), SIZES_ON_GRADIENT[:2])
    wrong = regions[0].model_copy(update={"text": "Winter Sale -50%"})
    res = TextCheck().run(img, make_ctx(regions=(wrong, regions[1])))
    assert res.verdict == "fail"
    assert res.reasons == ["headline: 'Summer' reads as another word; the expected text says 'Winter'",
                           "headline: the percentage reads -30%; the expected text says -50%"]
    assert res.metrics["regions"][0]["ned"] < 0.9 <= res.metrics["regions"][1]["ned"]
    assert [m["verdict"] for m in res.metrics["regions"]] == ["fail", "pass"]


def test_expected_text_and_forbidden_words_on_the_full_image(gradient, draw_text, make_ctx, brand):
    img, _ = draw_text(gradient(), [("a", "Summer Sale -30%", (60, 60), 80, WHITE),
                                    ("b", "Cheap deals today", (60, 400), 48, INK)])
    kit = brand.model_copy(update={"forbidden_words": ["cheap", "bargain"]})
    res = TextCheck().run(img, make_ctx(brand=kit, expected_text=("Summer Sale -30%", "Free shipping worldwide", "")))
    assert res.verdict == "fail"
    found = {e["expected"]: e for e in res.metrics["expected"]}
    assert found["Summer Sale -30%"]["ned"] >= 0.9
    assert found["Free shipping worldwide"]["ned"] < 0.9
    assert res.metrics["forbidden_found"] == ["cheap"]
    assert any("forbidden word(s) in the image: cheap" in r for r in res.reasons)
    assert "expected text 'Free shipping worldwide': not found in the image (closest reading" in " ".join(res.reasons)
    assert res.metrics["notes"] == ["1 empty expected string(s) ignored"]
    assert all({"text", "conf", "box"} <= set(w) for w in res.metrics["full_words"])


def test_forbidden_word_inside_a_region_is_found_and_clean_image_passes(gradient, draw_text, make_ctx, brand):
    img, regions = draw_text(gradient(), [("headline", "Summer Sale -30%", (60, 60), 80, WHITE)])
    kit = brand.model_copy(update={"forbidden_words": ["sale"]})
    res = TextCheck().run(img, make_ctx(brand=kit, regions=tuple(regions)))
    assert res.verdict == "fail" and res.metrics["forbidden_found"] == ["sale"]
    kit = brand.model_copy(update={"forbidden_words": ["bargain"]})
    res = TextCheck().run(img, make_ctx(brand=kit, regions=tuple(regions)))
    assert res.verdict == "pass", res.reasons


# --------------------------------------------------------------------------- edges, without OCR where possible
def _no_ocr(*_a, **_k):
    raise AssertionError("OCR must not run")


def test_nothing_to_read_runs_no_ocr_and_notes_empty_strings(monkeypatch, make_ctx):
    monkeypatch.setattr(text_mod, "ocr_words", _no_ocr)
    empty = TextRegion(slot="price", text="  ", box=Box(x0=0, y0=0, x1=10, y1=10), fg="#FFFFFF", bg="#000000",
                       contrast=21, font_px=20)
    res = TextCheck().run(np.zeros((100, 100, 3), np.uint8), make_ctx(regions=(empty,), expected_text=("",)))
    assert res.verdict == "pass"
    assert res.metrics["notes"] == ["region 'price' has empty text; not checked", "1 empty expected string(s) ignored"]


def test_region_outside_the_image_fails(monkeypatch, make_ctx):
    monkeypatch.setattr(text_mod, "ocr_words", _no_ocr)
    off = TextRegion(slot="cta", text="Shop", box=Box(x0=500, y0=500, x1=600, y1=540), fg="#FFFFFF", bg="#000000",
                     contrast=21, font_px=30)
    res = TextCheck().run(np.zeros((100, 100, 3), np.uint8), make_ctx(regions=(off,)))
    assert res.verdict == "fail" and "lies outside the 100×100 image" in res.reasons[0]


def test_light_text_is_normalised_to_dark_on_white(gradient, draw_text):
    img, regions = draw_text(gradient(), [("h", "Sale", (60, 60), 80, WHITE)])
    prep = text_mod.prepare_region(img, regions[0])
    assert prep.scale == pytest.approx(40 / (0.73 * 80), abs=1e-3)
    grey = prep.crop[..., 0]
    assert np.array_equal(prep.crop[..., 0], prep.crop[..., 2])
    assert grey.min() < 30 and np.median(grey) > 200  # dark glyphs on a light ground


def test_missing_tesseract_binary_names_the_install_command(monkeypatch, gradient, draw_text, make_ctx):
    import pytesseract

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    img, regions = draw_text(gradient(200), [("h", "Hi", (10, 10), 40, WHITE)])
    with pytest.raises(MissingDependencyError, match="apt-get install -y tesseract-ocr"):
        TextCheck().run(img, make_ctx(regions=tuple(regions)))


def test_rejects_non_uint8_rgb(make_ctx):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        TextCheck().run(np.zeros((10, 10), np.uint8), make_ctx())


# --------------------------------------------------------------------------- engine choice
def test_tesserocr_version_mismatch_falls_back_to_the_cli(monkeypatch, caplog, gradient, draw_text, make_ctx):
    import pytesseract
    import tesserocr

    cli = text_mod._version(pytesseract.get_tesseract_version())
    monkeypatch.delenv(text_mod.OCR_ENV, raising=False)
    monkeypatch.setattr(text_mod, "_ENGINE", {})
    monkeypatch.setattr(tesserocr, "tesseract_version", lambda: "tesseract 5.5.4\n leptonica-1.85.0")
    with caplog.at_level("INFO", logger="brandflow.qa.text"):
        assert text_mod.ocr_engine() == f"tesseract-cli {cli}"
    assert f"tesserocr links tesseract 5.5.4 but the CLI is {cli}" in caplog.text
    assert "--no-binary tesserocr" in caplog.text
    img, regions = draw_text(gradient(400), [("h", "Sale", (20, 20), 60, WHITE)])
    res = TextCheck().run(img, make_ctx(regions=tuple(regions)))
    assert res.verdict == "pass" and res.metrics["ocr_engine"] == f"tesseract-cli {cli}"
    caplog.clear()
    text_mod.ocr_engine()
    assert "tesserocr links" not in caplog.text  # logged once


def test_without_tesserocr_the_cli_reads(monkeypatch, gradient, draw_text, make_ctx):
    import sys

    monkeypatch.delenv(text_mod.OCR_ENV, raising=False)
    monkeypatch.setattr(text_mod, "_ENGINE", {})
    monkeypatch.setitem(sys.modules, "tesserocr", None)  # import fails
    assert text_mod.ocr_engine().startswith("tesseract-cli ")


def test_both_paths_give_identical_words_and_threads_get_their_own_api(gradient, draw_text, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    img, _ = draw_text(gradient(), SIZES_ON_GRADIENT)
    monkeypatch.delenv(text_mod.OCR_ENV, raising=False)
    with ThreadPoolExecutor(2) as pool:
        lib = list(pool.map(lambda psm: text_mod.ocr_words(img, psm), [6, 11, 6, 11]))
    monkeypatch.setenv(text_mod.OCR_ENV, "cli")
    cli = [text_mod.ocr_words(img, psm) for psm in (6, 11)]
    assert lib == cli + cli and lib[0]


def test_tessdata_dir_from_env_or_the_cli(monkeypatch):
    monkeypatch.setenv("TESSDATA_PREFIX", "/x/tessdata")
    assert text_mod._tessdata_dir("tesseract") == "/x/tessdata"
    monkeypatch.delenv("TESSDATA_PREFIX")
    found = text_mod._tessdata_dir("tesseract")
    assert found and (__import__("pathlib").Path(found) / "eng.traineddata").is_file()
    assert text_mod._config_variables("-c thresholding_method=2") == {"thresholding_method": "2"}
    assert text_mod._config_variables("--oem 1") is None
