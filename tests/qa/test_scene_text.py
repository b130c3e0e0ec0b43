"""Scene-text OCR (RapidOCR, PP-OCR ONNX weights shipped in its wheel) for text at unknown positions."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest


import brandflow.qa.scene_text as scene_text  # noqa: E402
from brandflow.errors import MissingDependencyError  # noqa: E402
from brandflow.imageio import load_rgb  # noqa: E402
from brandflow.qa.scene_text import Line, read_scene_text, reading_order, split_words  # noqa: E402
from brandflow.qa.text import TextCheck  # noqa: E402
from brandflow.spec import BrandKit  # noqa: E402

WHITE, INK = (255, 255, 255), (17, 17, 17)


def _thresholds(engine: str, min_ned: float = 0.9) -> SimpleNamespace:
    """A QA spec stand-in with ``text.engine`` (the field the spec is to gain)."""
    return SimpleNamespace(text=SimpleNamespace(min_ned=min_ned, engine=engine))


@pytest.fixture(scope="module")
def unknown_position():
    """A 1080² gradient with three strings at positions the check is not told (no regions)."""
    y, x = np.mgrid[0:1080, 0:1080] / 1080
    img = np.stack([x * 255, y * 200, np.full_like(x, 120.0)], -1).astype(np.uint8)
    return img


def test_read_scene_text_finds_lines_words_boxes(unknown_position, draw_text):
    img, regions = draw_text(unknown_position, [("a", "Summer Sale -30%", (137, 411), 64, WHITE),
                                                ("b", "Shop now at example.com", (500, 800), 28, INK)])
    st = read_scene_text(img)
    assert st.seconds > 0
    texts = [ln.text for ln in st.lines]
    assert texts == ["Summer Sale -30%", "Shop now at example.com"], texts
    for line, region in zip(st.lines, regions):
        assert 80 <= line.conf <= 100 and len(line.quad) == 4
        x0, y0, x1, y1 = line.box
        tol = 0.35 * region.font_px  # the detector's boxes are unclipped by a fraction of the text height
        assert abs(x0 - region.box.x0) < tol and abs(x1 - region.box.x1) < tol
        assert abs(y0 - region.box.y0) < tol and abs(y1 - region.box.y1) < tol
        assert " ".join(w.text for w in line.words) == line.text
        for w in line.words:  # word boxes lie inside the line box, left to right
            assert x0 - 2 <= w.box[0] < w.box[2] <= x1 + 2 and 0 <= w.conf <= 100
        assert [w.box[0] for w in line.words] == sorted(w.box[0] for w in line.words)
    assert st.text == "Summer Sale -30% Shop now at example.com"


def test_check_finds_exact_string_at_unknown_position_and_catches_wrong_one(unknown_position, draw_text, make_ctx):
    img, _ = draw_text(unknown_position, [("a", "Apple Juice, fresh pressed", (301, 233), 44, WHITE),
                                          ("b", "$10.00", (720, 870), 56, INK)])
    ok = TextCheck().run(img, make_ctx(thresholds=_thresholds("rapidocr"), expected_text=("apple juice, fresh pressed", "$10.00")))
    assert ok.verdict == "pass", ok.reasons
    assert [e["ned"] for e in ok.metrics["expected"]] == [1.0, 1.0]
    assert {e["source"] for e in ok.metrics["expected"]} == {"full:rapidocr"}
    assert ok.metrics["engine"] == "rapidocr" and ok.thresholds["engine"] == "rapidocr"
    assert "full_text" not in ok.metrics  # Tesseract did not read the full image
    assert ok.metrics["scene_engine"] == scene_text.engine_name()
    assert all({"text", "conf", "box"} <= set(w) for w in ok.metrics["scene_words"])

    wrong = TextCheck().run(img, make_ctx(thresholds=_thresholds("rapidocr"), expected_text=("Apple Juice, cold pressed", "$19.00")))
    assert wrong.verdict == "fail"
    assert wrong.reasons == [
        "expected text 'Apple Juice, cold pressed': 'fresh' reads as another word; the expected text says 'cold'",
        "expected text '$19.00': the price reads $10.00; the expected text says $19.00"]
    assert [e["verdict"] for e in wrong.metrics["expected"]] == ["fail", "fail"]
    assert wrong.metrics["expected"][1]["ned"] > 0.8  # NED alone (≥ 0.9 passed before) forgave less, not this


def test_forbidden_word_anywhere_on_a_photo(packshots, draw_text, make_ctx, brand):
    photo = cv2.resize(load_rgb(packshots / "saleor-blue-hoodie.png", matte=(230, 222, 205)), (1080, 1080),
                       interpolation=cv2.INTER_CUBIC)
    img, _ = draw_text(photo, [("x", "Cheap hoodies today", (180, 950), 48, INK)])
    kit = BrandKit(**{**brand.model_dump(), "forbidden_words": ["cheap", "miracle"]})
    res = TextCheck().run(img, make_ctx(brand=kit, thresholds=_thresholds("rapidocr")))
    assert res.verdict == "fail" and res.metrics["forbidden_found"] == ["cheap"], res.metrics["scene_text"]
    clean = TextCheck().run(photo, make_ctx(brand=kit, thresholds=_thresholds("rapidocr")))
    assert clean.metrics["forbidden_found"] == [] and clean.verdict == "pass"


def test_both_engines_search_either_reading(unknown_position, draw_text, make_ctx):
    img, _ = draw_text(unknown_position, [("a", "Autumn collection", (90, 640), 52, WHITE)])
    res = TextCheck().run(img, make_ctx(thresholds=_thresholds("both"), expected_text=("Autumn collection",)))
    assert res.verdict == "pass", res.reasons
    assert res.metrics["engine"] == "both" and "scene_text" in res.metrics and "full_text" in res.metrics
    assert res.metrics["expected"][0]["source"] == "full:rapidocr+tesseract"
    assert set(res.metrics["expected"][0]["engines"]) == {"rapidocr", "tesseract"}


def test_unknown_engine_is_an_error(make_ctx):
    with pytest.raises(ValueError, match="qa.text.engine must be one of"):
        TextCheck().run(np.zeros((64, 64, 3), np.uint8), make_ctx(thresholds=_thresholds("easyocr"), expected_text=("x",)))


def test_split_words_aligns_pieces_and_falls_back_to_character_shares():
    quad = np.array([[100, 10], [300, 10], [300, 40], [100, 40]], float)
    chars = [("a", [[100, 10], [120, 10], [120, 40], [100, 40]], 0.9), (" ", [[120, 10], [130, 10], [130, 40], [120, 40]], 0.5),
             ("b", [[130, 10], [150, 10], [150, 40], [130, 40]], 0.7), ("c", [[150, 10], [170, 10], [170, 40], [150, 40]], 0.5)]
    words = split_words("a bc", 80.0, quad, chars)
    assert [(w.text, w.box, w.conf) for w in words] == [("a", (100, 10, 120, 40), 90.0), ("bc", (130, 10, 170, 40), 60.0)]
    shares = split_words("ab cd", 80.0, quad, None)  # no piece boxes: each word's share of the line
    assert [(w.text, w.box, w.conf) for w in shares] == [("ab", (100, 10, 180, 40), 80.0), ("cd", (220, 10, 300, 40), 80.0)]
    assert split_words("ab", 80.0, quad, [("zz", quad, 0.9)])[0].box == (100, 10, 300, 40)  # unalignable → share
    assert split_words("  ", 80.0, quad, None) == ()


def test_reading_order_rows_then_left_to_right():
    def line(text, box):
        return Line(text, 99.0, box, (), ())

    # one big headline detected word by word, top edges a few px apart (rapidocr ordered it "Gift 50 card"),
    # a small line of packaging print below, then price and CTA side by side
    lines = [line("50", (638, 60, 798, 160)), line("Gift", (71, 62, 300, 157)), line("card", (329, 66, 605, 161)),
             line("saleor", (658, 318, 736, 353)), line("Shop now", (692, 866, 974, 927)), line("$50.00", (70, 851, 388, 937))]
    assert [ln.text for ln in reading_order(lines)] == ["Gift", "card", "50", "saleor", "$50.00", "Shop now"]
    assert reading_order([]) == []


def test_missing_package_names_the_install_command(monkeypatch):
    monkeypatch.setattr(scene_text, "_engines", {})
    monkeypatch.setitem(sys.modules, "rapidocr", None)  # imports fail as if neither package were installed
    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"pip install .brandflow\[scene-text\]."):
        read_scene_text(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8"):
        read_scene_text(np.zeros((64, 64), np.uint8))


@pytest.mark.parametrize(("env", "threads"), [(None, 1), ("2", 2), ("0", 1), ("many", 1)])
def test_engine_threads_do_not_depend_on_which_reader_ran_first(monkeypatch, env, threads):
    """One intra-op thread unless OMP_THREAD_LIMIT says otherwise: not ONNX Runtime's one per core (-1), which a run
    got or not depending on whether Tesseract (which sets OMP_THREAD_LIMIT) had been used before."""
    if env is None:
        monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    else:
        monkeypatch.setenv("OMP_THREAD_LIMIT", env)
    assert scene_text.default_threads() == threads


def test_reading_order_keeps_a_tightly_led_second_line_below_a_logo_beside_the_first():
    """The example's story headline "Mighty / Mug" with the logo beside "Mighty": boxes as RapidOCR gave them. The
    lines overlap by a quarter of their height (tight leading); measured against the small logo's height the second
    line joined the first row and read first ("Mug Mighty")."""
    def line(text, box):
        return Line(text, 99.0, box, (), ())

    lines = [line("Mug", (41, 352, 324, 500)), line("Mighty", (42, 237, 464, 391)), line("口", (705, 260, 788, 338)),
             line("saleor", (774, 262, 1028, 338))]
    assert [ln.text for ln in reading_order(lines)] == ["Mighty", "口", "saleor", "Mug"]
