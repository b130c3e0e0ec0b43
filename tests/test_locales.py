"""Markets: a campaign's locale → CLDR prices in the overlay, the job's language, and the OCR language QA reads with."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.compose.typeset import Face, FontChain
from brandflow.locales import check_locale, format_price, tesseract_lang
from brandflow.spec import load_campaign

MARKETS = Path(__file__).resolve().parents[1] / "examples" / "saleor" / "markets"


def test_locales_are_checked_and_prices_follow_cldr():
    assert check_locale("de-DE") == "de-DE" and check_locale("ja_JP") == "ja-JP"
    with pytest.raises(ValueError, match="unknown locale 'xx-QQ'"):
        check_locale("xx-QQ")
    assert format_price(Decimal("35.00"), "EUR", "de-DE") == "35,00\xa0€"
    assert format_price(Decimal("5200"), "JPY", "ja-JP") == "￥5,200"  # JPY has no minor unit
    assert format_price(Decimal("35.00"), "USD", "en-US") == "$35.00"
    assert tesseract_lang("ar-SA") == "ara+eng" and tesseract_lang("ja-JP") == "jpn+eng" and tesseract_lang(None) == "eng"


@pytest.mark.parametrize(("locale", "price", "cta"), [("de-DE", "34,90\xa0€", "Jetzt kaufen"), ("ar-SA", "‏129.00\xa0ر.س.‏", "تسوق الآن"),
                                                  ("ja-JP", "￥5,200", "今すぐ購入")])
def test_the_markets_example_plans_localised_jobs(locale, price, cta):
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs

    spec, brand = load_campaign(MARKETS / "campaign.yaml")
    assert [m.code for m in spec.locales] == ["de-DE", "ar-SA", "ja-JP"]
    products, rejections = load_feed(spec.feed)
    assert not rejections
    jobs, rejected = plan_jobs(spec, brand, products)
    assert not rejected and len(jobs) == len(products) * len(spec.formats) * 3
    hoodie = next(j for j in jobs if j.product_id == "blue-hoodie" and j.locale == locale)
    assert hoodie.overlay["price"] == price and hoodie.overlay["cta"] == cta


@pytest.mark.parametrize(("lang", "text"), [("ara", "قميص أزرق"), ("jpn", "秋のパーカー")])
def test_ocr_reads_in_the_language_it_is_given(lang, text):
    from brandflow.qa.text import ocr_words

    face = Face(FontChain(str(Path(__file__).resolve().parents[1] / "brandflow/assets/fonts/DejaVuSans-Bold.ttf"), lang[:2]), 64)
    img = Image.new("RGB", (700, 140), "white")
    face.draw(img, (30, 30), text, (20, 20, 20))
    words = ocr_words(np.asarray(img), psm=7, lang=f"{lang}+eng")
    assert "".join(w.text for w in words).replace(" ", "") == text.replace(" ", "")


def test_keys_and_the_manifest_record_carry_the_locale():
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.outcome import record_of
    from brandflow.pipeline.plan import plan_jobs, publish_key
    from brandflow.records import Attempt

    spec, brand = load_campaign(MARKETS / "campaign.yaml")
    products, _ = load_feed(spec.feed)
    job = next(j for j in plan_jobs(spec, brand, products[:1])[0] if j.locale == "ja-JP")
    assert publish_key(job, spec).startswith("saleor-autumn-markets/ja-JP/")
    record = record_of(job, [Attempt(attempt=1, seed=job.seed, error="x")], spec)
    assert record.locale == "ja-JP" and '"locale":"ja-JP"' in record.model_dump_json()


def test_a_market_whose_tesseract_pack_is_missing_is_read_with_english_and_says_so(monkeypatch):
    import brandflow.locales as locales

    assert {"eng", "ara", "jpn"} <= locales.installed_tesseract_langs(), "make test installs these packs"
    monkeypatch.setattr(locales, "installed_tesseract_langs", lambda: frozenset({"eng", "osd"}))  # a machine without them
    assert locales.tesseract_lang("ar-SA") == "eng"  # never ask Tesseract for a pack it lacks: the script stays unverifiable
    note = locales.ocr_note("ar-SA")
    assert "'ara' pack is not installed" in note and "apt-get install -y tesseract-ocr-ara" in note
    assert locales.ocr_note("zh-CN").endswith("(apt-get install -y tesseract-ocr-chi-sim); its words in other scripts are left to the reviewer")
    assert locales.ocr_note("en-GB") is None
