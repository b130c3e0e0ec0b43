"""Typesetting in any script: no tofu, OCR reads each headline back in its own language, auto-fit across short and
long titles, balanced breaks, hyphenation only where the language has patterns, right-to-left placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from rapidfuzz.distance import Levenshtein

from brandflow.compose.overlay import compose
from brandflow.compose.typeset import CJK_INDEX, Face, FontChain, balanced_lines, has_raqm, hyphenate, phrase_passes, tokens
from brandflow.glyphs import MissingGlyphsError, missing_glyphs
from brandflow.records import GeneratedImage, Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
BOLD = str(Path(__file__).resolve().parents[2] / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf")
SQUARE = FormatSpec(name="square", width=1080, height=1080)
#: (Tesseract language, headline, locale) — one per script the Makefile installs a language pack for
SCRIPTS = [
    ("eng", "Blue Hoodie for autumn days", None),
    ("deu", "Blauer Kapuzenpullover für Herbsttage", "de-DE"),
    ("ara", "قميص أزرق للخريف", "ar-SA"),
    ("jpn", "秋の青いパーカー", "ja-JP"),
    ("heb", "סווטשירט כחול לסתיו", "he-IL"),
    ("hin", "नीली हुडी", "hi-IN"),
    ("kor", "가을 파란 후디", "ko-KR"),
    ("chi_sim", "秋季新款连帽衫", "zh-CN"),  # chi_sim reads 蓝 (blue) as 监 at every size tried
    ("tha", "ลดราคาฤดูใบไม้ร่วง", "th-TH"),  # tha misreads tone marks on bold text (reads ไม่ for ไม้: 1 of 18)
]


@pytest.fixture(scope="module")
def brand():
    return load_brand_kit(EXAMPLE / "brand.yaml").model_copy(update={"logo": None})


def _flat(tmp_path: Path, colour="#FFFFFF") -> GeneratedImage:
    path = tmp_path / "bg.png"
    Image.new("RGB", (1080, 1080), colour).save(path)
    return GeneratedImage(path=path, width=1080, height=1080, sha256=sha256_file(path))


def _job(headline: str, price: str = "$35.00", cta: str = "Shop now", fmt: FormatSpec = SQUARE,
         locale: str | None = None) -> Job:
    pack = EXAMPLE / "images" / "saleor-apple-drink.png"
    return Job(campaign="t", product_id="p", product_title="P", format=fmt, variant=0, seed=0, backend="compositor",
               references=[ReferenceImage(path=pack, role="primary_packshot", sha256=sha256_file(pack))],
               prompt=StructuredPrompt(scene="s", subjects=[Subject(description="d")], color_palette=["#1864EC"]),
               overlay={"headline": headline, "price": price, "cta": cta}, locale=locale)


def _notdef_glyphs(face: Face, line: str) -> list[str]:
    """The runs of ``line`` in which HarfBuzz (uharfbuzz, the shaper raqm wraps) puts glyph 0 (.notdef, the tofu
    box) when shaping each run with the font it is drawn with."""
    import uharfbuzz as hb

    bad = []
    for run in face.visual(line):
        path = str(run.font.path)
        index = CJK_INDEX.get(face.chain.lang or "ja", 0) if path.endswith(".ttc") else 0
        font = hb.Font(hb.Face(hb.Blob.from_file_path(path), index))
        buf = hb.Buffer()
        buf.add_str(run.text)
        buf.guess_segment_properties()
        hb.shape(font, buf, {})
        if any(g.codepoint == 0 for g in buf.glyph_infos):
            bad.append(run.text)
    return bad


def test_pillow_shapes_with_raqm():
    assert has_raqm(), "Pillow without raqm cannot shape Arabic or Devanagari"


@pytest.mark.parametrize(("lang", "text", "locale"), SCRIPTS)
def test_a_headline_in_each_script_has_no_tofu_and_ocr_reads_it_back(tmp_path, brand, lang, text, locale):
    import pytesseract

    creative = compose(_flat(tmp_path), _job(text, locale=locale), brand, OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert missing_glyphs(text, head.fonts) == [], "every character has a glyph in the font it was drawn with"
    face = Face(FontChain(BOLD, (locale or "en")[:2]), head.font_px)
    assert _notdef_glyphs(face, text) == [], "no run shapes to the .notdef glyph"
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


# --------------------------------------------------------------------------- bidi within a line
MIXED = "حذاء Dash Force بسعر 49.00 ر.س"  # "shoe Dash Force for 49.00 SAR": Arabic, a Latin brand name, a price


def _drawn_order(face: Face, line: str, rtl=None) -> str:
    """The characters of ``line`` in the order the runs are drawn, left to right (a right-to-left run reversed).
    Brackets are not mirrored here: HarfBuzz mirrors them when it shapes a right-to-left run, and python-bidi 0.6
    reorders without mirroring."""
    return "".join(r.text[::-1] if r.rtl else r.text for r in face.visual(line, rtl))


@pytest.mark.parametrize("line", [MIXED, "נעלי Dash Force ב-49.90 ₪", "Dash Force حذاء 49 ر.س", "سعر (49.00) Sale!"])
def test_a_mixed_line_is_drawn_in_the_bidi_algorithms_visual_order(line):
    from bidi import get_display  # python-bidi: Rust's unicode-bidi, an implementation independent of FriBiDi

    face = Face(FontChain(BOLD, "ar"), 48)
    assert len(face.visual(line)) >= 3, "several fonts and directions: drawn run by run"
    assert _drawn_order(face, line) == get_display(line)


def test_the_latin_run_and_the_price_sit_where_the_bidi_order_puts_them():
    import cv2

    face = Face(FontChain(BOLD, "ar"), 48)
    img = Image.new("L", (int(face.length(MIXED)) + 40, 120), 255)
    face.draw(img, (20, 20), MIXED, 0)
    line = np.asarray(img)

    def x_of(piece: str) -> int:  # where the piece, drawn alone by Pillow in the font the line uses, matches its pixels
        font = next(f for t, f in face.runs(MIXED) if piece in t)
        tile = Image.new("L", (400, 120), 255)
        ImageDraw.Draw(tile).text((4, 20), piece, font=font, fill=0, direction="rtl" if Face.rtl(piece) else "ltr")
        t = np.asarray(tile)
        ink = t < 128
        t = t[np.flatnonzero(ink.any(1)).min():np.flatnonzero(ink.any(1)).max() + 1,
              np.flatnonzero(ink.any(0)).min():np.flatnonzero(ink.any(0)).max() + 1]
        score = cv2.matchTemplate(line, t, cv2.TM_CCOEFF_NORMED)
        assert score.max() > 0.9, piece
        y, x = (int(v) for v in np.unravel_index(score.argmax(), score.shape))
        bottoms[piece] = y + t.shape[0]
        return x, x + t.shape[1]

    bottoms: dict[str, int] = {}

    # visual order (UAX #9, right-to-left paragraph): "ر.س" | "49.00" | "بسعر" | "Dash Force" | "حذاء", left to right
    spans = [x_of(p) for p in ("ر.س", "49.00", "بسعر", "Dash Force", "حذاء")]
    xs = [a for a, _ in spans]
    assert xs == sorted(xs), xs
    # one space between the Latin run and each Arabic word beside it (reversing whole runs put both spaces on one side)
    gaps = [spans[3][0] - spans[2][1], spans[4][0] - spans[3][1]]
    space = face.length(" ")
    assert all(0.5 * space < g < 2 * space for g in gaps), (gaps, space)
    assert abs(bottoms["49.00"] - bottoms["Dash Force"]) <= 1, "digits (Arabic font) and Latin (DejaVu) share a baseline"
    ink = np.flatnonzero((line < 128).any(0))
    assert xs[-1] > ink.max() - face.length("حذاء") - 4, "the first word of the text is the rightmost"


def test_lines_break_in_logical_order_and_keep_the_paragraph_direction(tmp_path, brand):
    from bidi import get_display

    text = "حذاء رياضي أزرق للخريف Dash Force Sneaker بسعر 49.00 ر.س"
    face = Face(FontChain(BOLD, "ar"), 60)
    lines = balanced_lines(face, text, 700, 3)
    assert lines and len(lines) >= 2 and " ".join(lines) == text, "breaks chosen on the logical text"
    for ln in lines:  # each line reordered on its own, with the paragraph's right-to-left direction (UAX #9 §3.4)
        assert _drawn_order(face, ln, rtl=True) == get_display(ln, base_dir="R")
    latin_first = "Dash Force بسعر 49.00"
    assert _drawn_order(face, latin_first, rtl=True) != _drawn_order(face, latin_first), "the paragraph's direction wins"
    creative = compose(_flat(tmp_path), _job(text, price="49.00 ر.س", cta="تسوق الآن", locale="ar-SA"), brand,
                       OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert 1080 - 65 - 4 <= head.box.x1 <= 1080 - 65, "right-to-left paragraph: right-aligned"


# --------------------------------------------------------------------------- emoji
def test_emoji_are_drawn_in_colour_on_the_baseline_with_their_advance():
    face = Face(FontChain(BOLD), 40)
    runs = face.visual("Hot tee 🔥 👩\u200d💻 🇸🇦")
    emoji = [r for r in runs if Path(str(r.font.path)).name == "NotoColorEmoji.ttf"]
    assert [r.text for r in emoji] == ["🔥", "👩\u200d💻", "🇸🇦"], "a ZWJ sequence and a flag stay one cluster"
    # Noto Color Emoji: one 109-ppem strike, advance 136 px there; scaled to 40 px → 136 × 40/109
    assert face.length("a🔥") - face.length("a") == pytest.approx(136 * 40 / 109, abs=1)
    assert Face(FontChain(BOLD), 80).length("🔥") == pytest.approx(2 * face.length("🔥"), abs=1)
    img = Image.new("RGB", (400, 100), "white")
    face.draw(img, (10, 10), "Hot 🔥", (0, 0, 0))
    a = np.asarray(img).astype(int)
    hot_right = 10 + face.length("Hot ")
    colour = (a.max(-1) - a.min(-1)) > 80  # saturated pixels: only the emoji has colour
    cols = np.flatnonzero(colour.any(0))
    assert colour.sum() > 300 and cols.min() >= hot_right - 1, "the emoji is in colour, right of the text"
    rows = np.flatnonzero(colour.any(1))
    text_rows = np.flatnonzero((a[:, : int(hot_right)].max(-1) < 60).any(1))
    baseline = text_rows.max()  # "Hot" has no descender: its ink ends on the baseline
    # the emoji sits on the same baseline: its bitmap's ascent/descent at 109 ppem are 101/27 px
    assert abs((rows.max() - baseline) - 27 * 40 / 109) <= 3 and rows.min() < text_rows.min()


def test_emoji_without_a_colour_font_is_a_job_error_naming_the_package():
    from brandflow.glyphs import require_glyphs

    with pytest.raises(MissingGlyphsError, match=r"'🔥' \(U\+1F525 FIRE\).*apt-get install -y fonts-noto-color-emoji"):
        require_glyphs("overlay headline", "Hot 🔥", [BOLD])
    face = Face(FontChain(BOLD, "ar"), 40)  # in a right-to-left line an emoji takes the direction around it
    assert [(r.text, r.rtl) for r in face.visual("خصم 👩\u200d💻 اليوم") if "💻" in r.text] == [("👩\u200d💻", True)]


def test_an_emoji_title_renders_in_colour_and_passes_text_qa(tmp_path, brand):
    from brandflow.qa.base import CheckContext
    from brandflow.qa.text import TextCheck

    small = FormatSpec(name="sq", width=540, height=540)
    creative = compose(_flat(tmp_path, "#1864EC"), _job("Autumn sale 🍂 Blue Hoodie 🔥", fmt=small), brand,
                       OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert any(Path(f).name == "NotoColorEmoji.ttf" for f in head.fonts)
    img = np.asarray(Image.open(creative.path).convert("RGB"))
    crop = img[head.box.y0:head.box.y1, head.box.x0:head.box.x1].astype(int)
    orange = (crop[..., 0] > 180) & (crop[..., 2] < 110)  # the leaf and the flame; white text on blue has none
    assert orange.sum() > 50
    res = TextCheck().run(img, CheckContext(path=creative.path, brand=brand, regions=tuple(creative.regions)))
    assert res.verdict == "pass", res.reasons
    assert any("OCR cannot read emoji; 🍂, 🔥 verified by font coverage" in n for n in res.metrics["notes"])
    # the same pixels recorded without the emoji font are tofu as far as QA can tell: a fail naming the character
    tofu = head.model_copy(update={"fonts": [f for f in head.fonts if "Emoji" not in f]})
    res = TextCheck().run(img, CheckContext(path=creative.path, brand=brand, regions=(tofu,)))
    assert res.verdict == "fail" and "tofu" in res.reasons[0] and "U+1F342" in res.reasons[0]


# --------------------------------------------------------------------------- auto-fit in any script
FIT_TITLES = [
    ("en", "Dash Force sneaker in every colour of the autumn collection 🔥"),
    ("ar", "حذاء Dash Force الرياضي الأزرق بسعر 49.00 ر.س للخريف"),
    ("he", "סווטשירט כחול Blue Hoodie לסתיו במחיר 49.90 ₪"),
    ("hi", "नीली हुडी शरद ऋतु के लिए नया संग्रह"),
    ("ko", "가을 신상품 파란 후디 지금 구매하세요"),
]


@pytest.mark.parametrize(("lang", "title"), FIT_TITLES)
def test_line_breaks_in_any_script_never_split_a_word(lang, title):
    face = Face(FontChain(BOLD, lang), 48)
    words = title.split()
    seen = set()
    for max_w in range(int(face.length(max(words, key=face.length))) + 1, int(face.length(title)) + 40, 37):
        lines = balanced_lines(face, title, max_w, 3)
        if lines is None:
            continue
        seen.add(len(lines))
        assert " ".join(lines) == title and all(set(ln.split()) <= set(words) for ln in lines)
        assert sum(len(ln.split()) for ln in lines) == len(words), "every word whole, on one line"
        assert all(face.length(ln) <= max_w for ln in lines)
    assert {1, 2, 3} <= seen, "one, two and three lines all occurred"
    narrow = int(face.length(max(words, key=face.length))) - 1
    assert balanced_lines(face, title, narrow, 3) is None, "a word wider than the line is never cut (no patterns)"


@pytest.mark.parametrize(("title", "fits"), [("خصم 🔥", True), ("حذاء Dash Force الرياضي الأزرق بسعر 49.00 ر.س للخريف", True),
                                             (" ".join(["حذاء Dash Force الرياضي الأزرق"] * 9), False)])
def test_auto_fit_in_a_right_to_left_script_shrinks_then_errors_naming_the_string_and_box(tmp_path, brand, title, fits):
    small = FormatSpec(name="sq", width=540, height=540)
    job = _job(title, price="49.00 ر.س", cta="تسوق", fmt=small, locale="ar-SA")
    if not fits:
        with pytest.raises(ValueError, match=r"overlay\.headline: \d+ characters \('حذاء Dash.*headline box \d+×\d+ px at"):
            compose(_flat(tmp_path), job, brand, OverlaySpec(), tmp_path / "c.png")
        return
    creative = compose(_flat(tmp_path), job, brand, OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert head.text == title and head.box.x1 <= 540 - 32 and head.box.x0 >= 32
    assert head.font_px == 55 if len(title) < 10 else head.font_px < 55, "short titles at the largest size (110 px per 1080)"


# --------------------------------------------------------------------------- OCR of a line that mixes directions
def test_a_price_in_an_arabic_line_records_its_parts_and_ocr_verifies_its_digits(tmp_path, brand):
    from brandflow.qa.base import CheckContext
    from brandflow.qa.text import TextCheck

    price = "\u200f129.00\xa0ر.س.\u200f"  # Babel's ar-SA price: RLM, digits, no-break space, the riyal sign
    small = FormatSpec(name="sq", width=540, height=540)
    creative = compose(_flat(tmp_path, "#1864EC"), _job("هودي أزرق", price=price, cta="تسوق الآن", fmt=small, locale="ar-SA"),
                       brand, OverlaySpec(), tmp_path / "c.png")
    r = {x.slot: x for x in creative.regions}
    assert r["headline"].parts == [] and r["cta"].parts == [], "one direction: no parts"
    digits, sign = sorted(r["price"].parts, key=lambda p: -p.box.x0)  # right to left: the digits, then the sign
    assert (digits.text, sign.text.strip("\u200f")) == ("129.00", "ر.س.")
    assert r["price"].box.x0 <= sign.box.x0 < sign.box.x1 <= digits.box.x0 < digits.box.x1 <= r["price"].box.x1
    img = np.asarray(Image.open(creative.path).convert("RGB"))
    res = TextCheck().run(img, CheckContext(path=creative.path, brand=brand, regions=tuple(creative.regions), lang="ara+eng"))
    tess = next(m for m in res.metrics["regions"] if m["slot"] == "price")["engines"]["tesseract"]["tokens"]
    assert {"expected": "129.00", "read": "129.00", "status": "exact"} in tess, tess


# --------------------------------------------------------------------------- phrases: Thai, Japanese, Chinese
PHRASE_TITLES = [
    ("th", "เสื้อฮู้ดสีน้ำเงินสำหรับวันฤดูใบไม้ร่วง"),
    ("ja", "秋の日のための青いパーカー"),
    ("zh-CN", "适合秋天的蓝色连帽衫"),
]


@pytest.mark.parametrize(("lang", "title"), PHRASE_TITLES)
def test_scripts_without_spaces_break_between_phrases_never_inside_one(lang, title):
    """Thai, Japanese and Chinese put no spaces between words: a line breaks where BudouX puts a phrase boundary
    (Thai used to break nowhere, so a long Thai headline only shrank; CJK anywhere, inside words too)."""
    from itertools import accumulate

    face = Face(FontChain(BOLD, lang), 48)
    toks = [t for t, _ in tokens(title, lang)]
    assert "".join(toks) == title and len(toks) >= 4, toks
    bounds = set(accumulate(len(t) for t in toks))
    seen = set()
    for max_w in range(int(max(map(face.length, toks))) + 1, int(face.length(title)) + 40, 23):
        lines = balanced_lines(face, title, max_w, 3)
        if lines is None:
            continue
        seen.add(len(lines))
        assert "".join(lines) == title
        assert set(accumulate(len(ln) for ln in lines)) <= bounds, ("a break inside a phrase", lines, toks)
        assert all(face.length(ln) <= max_w for ln in lines)
    assert {1, 2, 3} <= seen, seen


def test_a_phrase_wider_than_the_line_breaks_between_characters():
    ja = Face(FontChain(BOLD, "ja"), 48)
    title = "秋の日のための青いパーカー限定セール"
    assert "パーカー限定セール" in [t for t, _ in tokens(title, "ja")], "one phrase for BudouX"
    narrow = int(ja.length("パーカー限定セール")) - 1
    lines = balanced_lines(ja, title, narrow, 12)
    assert lines is not None and "".join(lines) == title and all(ja.length(ln) <= narrow for ln in lines)
    assert not any(ln[0] in "ー、。" for ln in lines), "kinsoku still holds"


def test_whole_phrases_first_characters_only_when_no_size_fits():
    assert phrase_passes("秋の青いパーカー") == (True, False)
    assert phrase_passes("ลดราคาฤดูใบไม้ร่วง") == (True,) and phrase_passes("Blue hoodie") == (True,)
    face = Face(FontChain(BOLD, "ja"), 48)
    title = "毎日着たくなるパーカー"
    toks = [t for t, _ in tokens(title, "ja")]
    # a width two lines of whole phrases cannot fill but two lines of characters can: the caller's second pass
    widths = [w for w in range(int(max(map(face.length, toks))) + 1, int(face.length(title)))
              if balanced_lines(face, title, w, 2) is None and balanced_lines(face, title, w, 2, phrases=False) is not None]
    assert widths, "such widths exist for this title"
    assert "".join(balanced_lines(face, title, widths[0], 2, phrases=False)) == title
