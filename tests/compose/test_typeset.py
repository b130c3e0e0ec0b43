"""Typesetting in any script: no tofu, OCR reads each headline back in its own language, auto-fit across short and
long titles, balanced breaks, hyphenation only where the language has patterns, right-to-left placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rapidfuzz.distance import Levenshtein

from brandflow.compose.overlay import compose
from brandflow.compose.typeset import Face, FontChain, balanced_lines, has_raqm, hyphenate, tokens
from brandflow.glyphs import MissingGlyphsError, missing_glyphs
from brandflow.records import GeneratedImage, Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
BOLD = str(Path(__file__).resolve().parents[2] / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf")
SQUARE = FormatSpec(name="square", width=1080, height=1080)
#: (Tesseract language, headline) — one per script the Makefile installs a language pack for
SCRIPTS = [
    ("eng", "Blue Hoodie for autumn days"),
    ("deu", "Blauer Kapuzenpullover für Herbsttage"),
    ("ara", "قميص أزرق للخريف"),
    ("jpn", "秋の青いパーカー"),
    ("heb", "סווטשירט כחול לסתיו"),
    ("hin", "नीली हुडी"),
]


@pytest.fixture(scope="module")
def brand():
    return load_brand_kit(EXAMPLE / "brand.yaml").model_copy(update={"logo": None})


def _flat(tmp_path: Path, colour="#FFFFFF") -> GeneratedImage:
    path = tmp_path / "bg.png"
    Image.new("RGB", (1080, 1080), colour).save(path)
    return GeneratedImage(path=path, width=1080, height=1080, sha256=sha256_file(path))


def _job(headline: str, price: str = "$35.00", cta: str = "Shop now", fmt: FormatSpec = SQUARE) -> Job:
    pack = EXAMPLE / "images" / "saleor-apple-drink.png"
    return Job(campaign="t", product_id="p", product_title="P", format=fmt, variant=0, seed=0, backend="compositor",
               references=[ReferenceImage(path=pack, role="primary_packshot", sha256=sha256_file(pack))],
               prompt=StructuredPrompt(scene="s", subjects=[Subject(description="d")], color_palette=["#1864EC"]),
               overlay={"headline": headline, "price": price, "cta": cta})


def test_pillow_shapes_with_raqm():
    assert has_raqm(), "Pillow without raqm cannot shape Arabic or Devanagari"


@pytest.mark.parametrize(("lang", "text"), SCRIPTS)
def test_a_headline_in_each_script_has_no_tofu_and_ocr_reads_it_back(tmp_path, brand, lang, text):
    import pytesseract

    creative = compose(_flat(tmp_path), _job(text), brand, OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert missing_glyphs(text, head.fonts) == [], "every character has a glyph in the font it was drawn with"
    img = Image.open(creative.path).convert("RGB")
    crop = img.crop((head.box.x0 - 16, head.box.y0 - 16, head.box.x1 + 16, head.box.y1 + 16))
    read = pytesseract.image_to_string(crop, lang=lang, config="--psm 6")
    squash = lambda s: "".join(s.split())  # noqa: E731 - line breaks and CJK spacing do not count
    assert Levenshtein.normalized_similarity(squash(read), squash(text)) >= 0.9, (lang, read)


def test_scripts_fall_back_to_their_noto_font():
    face = Face(FontChain(BOLD, "ja"), 40)
    runs = face.runs("秋の Sale")
    assert Path(str(runs[0][1].path)).name == "NotoSansCJK-Bold.ttc" and Path(str(runs[-1][1].path)).name == "DejaVuSans-Bold.ttf"
    assert Path(Face(FontChain(BOLD, "ar"), 40).files_for("قميص")[0]).name == "NotoSansArabic-Bold.ttf"


def test_a_character_no_font_has_is_a_job_error_naming_it(tmp_path, brand):
    with pytest.raises(MissingGlyphsError, match="U\\+E000"):
        compose(_flat(tmp_path), _job("Blue \ue000 Hoodie"), brand, OverlaySpec(), tmp_path / "c.png")


@pytest.mark.parametrize("title", ["Tee", "Blue Hoodie", "Headless + Omnichannel in a pill",
                                   "The Dash Force sneaker in every colour of the Saleor autumn collection, limited"])
def test_auto_fit_short_and_long_titles(tmp_path, brand, title):
    creative = compose(_flat(tmp_path), _job(title), brand, OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert head.text == title, "exact text, never truncated"
    assert head.box.x1 <= 1080 - 65 and head.box.y1 <= round(0.2 * 1080)
    sizes = {"Tee": 110, "Blue Hoodie": 110}
    if title in sizes:
        assert head.font_px == sizes[title], "short titles get the largest size"
    else:
        assert 28 <= head.font_px < 110


def test_too_long_at_the_minimum_size_names_the_string_and_the_box(tmp_path, brand):
    title = " ".join(["Supercalifragilistic"] * 12)
    with pytest.raises(ValueError, match=r"overlay.headline: .*'Supercalifragilistic.*headline box \d+×\d+ px at \(65, 65\)"):
        compose(_flat(tmp_path), _job(title), brand, OverlaySpec(), tmp_path / "c.png")


def test_breaks_are_balanced_and_never_mid_word():
    face = Face(FontChain(BOLD), 60)
    text = "Headless Omnichannel commerce in a pill"
    lines = balanced_lines(face, text, 900, 2)
    assert lines is not None and len(lines) == 2 and " ".join(lines) == text
    widths = [face.length(ln) for ln in lines]
    # greedy filling would put 3+ words on line 1; balanced lines differ by less than the longest word
    assert abs(widths[0] - widths[1]) < face.length("Omnichannel")
    assert all(w in text.split() for ln in lines for w in ln.split())


def test_hyphenation_only_where_the_language_has_patterns():
    assert hyphenate("Herbstschlussverkauf", "de") != ["Herbstschlussverkauf"]
    assert hyphenate("Herbstschlussverkauf", None) == ["Herbstschlussverkauf"]
    assert hyphenate("خريف", "ar") == ["خريف"] and hyphenate("パーカー", "ja") == ["パーカー"]
    de = Face(FontChain(BOLD, "de"), 60)
    lines = balanced_lines(de, "Herbstschlussverkaufsangebote", 500, 4)
    assert lines and all(ln.endswith("-") for ln in lines[:-1]) and "".join(ln.rstrip("-") for ln in lines) == "Herbstschlussverkaufsangebote"
    assert balanced_lines(Face(FontChain(BOLD), 60), "Herbstschlussverkaufsangebote", 500, 4) is None, "no language, no hyphen"


def test_cjk_breaks_between_characters_with_kinsoku():
    toks = [t for t, _ in tokens("青いパーカー、限定。")]
    assert "".join(toks) == "青いパーカー、限定。"
    assert not any(t[0] in "、。ー" for t in toks), "no line starts with closing punctuation or a prolonged sound mark"


def test_right_to_left_copy_is_right_aligned_and_mirrors_price_and_button(tmp_path, brand):
    creative = compose(_flat(tmp_path), _job("حقيبة ظهر زرقاء للرحلات الطويلة في الخريف", price="35 ر.س.", cta="تسوق الآن"),
                       brand, OverlaySpec(), tmp_path / "c.png")
    r = {x.slot: x for x in creative.regions}
    m = 65
    assert 1080 - m - 4 <= r["headline"].box.x1 <= 1080 - m and r["headline"].box.x0 > m + 20
    assert r["price"].box.x1 >= 1080 - m - 4 and r["cta"].box.x0 < 540, "price on the right, the button on the left"
    img = np.asarray(Image.open(creative.path).convert("L"))
    # both lines end at the right edge (right-aligned), not the left
    ink = img[r["headline"].box.y0:r["headline"].box.y1] < 128
    rows = np.flatnonzero(ink.any(axis=1))
    top, bottom = ink[rows[: len(rows) // 3]], ink[rows[-len(rows) // 3:]]
    assert abs(np.flatnonzero(top.any(0)).max() - np.flatnonzero(bottom.any(0)).max()) <= 12
