"""Markets: one campaign naming its locales, each with its own feed and strings; planning per locale; bad configs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from brandflow.errors import SpecError
from brandflow.spec import load_campaign

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from market_campaign import write_markets  # noqa: E402


def plan(path: Path):
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs

    spec, brand = load_campaign(path)
    products, rejected = load_feed(spec.feed)
    assert not rejected
    jobs, rejections = plan_jobs(spec, brand, products)
    return spec, jobs, rejections


def test_one_job_per_product_format_variant_and_market_with_the_markets_prices(tmp_path):
    from brandflow.pipeline.plan import publish_key

    spec, jobs, rejections = plan(write_markets(tmp_path))
    got = {(j.locale, j.product_id): (j.overlay["price"], j.overlay["cta"], j.product_title) for j in jobs}
    assert got == {
        ("en-US", "hoodie"): ("€12.50", "Shop now", "Blue Hoodie"),
        ("en-US", "mug"): ("€8.00", "Shop now", "Mighty Mug"),
        ("de-DE", "hoodie"): ("12,50\xa0€", "Jetzt kaufen", "Blue Hoodie"),
        ("de-DE", "mug"): ("8,00\xa0€", "Jetzt kaufen", "Mighty Mug"),
        ("ja-JP", "hoodie"): ("￥1,250", "今すぐ購入", "青いパーカー"),  # its own feed: title and price (JPY has no decimals)
    }
    keys = [publish_key(j, spec) for j in jobs]
    assert len(set(keys)) == len(jobs) and len({j.job_id for j in jobs}) == len(jobs)
    assert "markets/ja-JP/hoodie/sq/v0.png" in keys
    hoodies = [j for j in jobs if j.product_id == "hoodie"]
    assert len({j.seed for j in hoodies}) == 1  # every market gets the same picture; the words change
    assert len({j.content_key() for j in hoodies}) == 3  # …but its own work folder (text, shaping, OCR language)
    # the product missing from the ja-JP feed is skipped there only, with a rejection that names the market
    (r,) = rejections
    assert (r.product_id, r.locale, r.field) == ("mug", "ja-JP", "locales.2.feed") and "products.ja-JP.csv" in r.reason


def test_a_market_without_its_own_string_falls_back_with_a_note(tmp_path):
    _, jobs, _ = plan(write_markets(tmp_path))
    notes = {j.locale: j.notes for j in jobs}
    assert notes["en-US"] == ["strings.cta: no en-US text, used the campaign's “Shop now”",
                              "price in EUR (products.csv), but en-US pays in USD, the currency Merchant Center expects "
                              "there: give en-US its own feed"]
    assert notes["de-DE"] == notes["ja-JP"] == []  # its own CTA; EUR in Germany, JPY from the ja-JP feed


def test_publish_keys_stay_injective_across_markets(tmp_path):
    from brandflow.pipeline.plan import publish_key

    spec, jobs, _ = plan(write_markets(tmp_path, publish={"key_template": "{job}.{ext}"}))
    assert len({publish_key(j, spec) for j in jobs}) == len(jobs)  # the job id carries the market
    with pytest.raises(SpecError, match=r"publish.key_template: .* every market of a creative the same key.*Fix: add \{locale\}"):
        load_campaign(write_markets(tmp_path, publish={"key_template": "{campaign}/{product_id}/{format}/{variant}.{ext}"}))


def test_a_single_locale_keeps_working(tmp_path):
    _, jobs, rejections = plan(write_markets(tmp_path, locales=[], strings={}, overlay={}, locale="de-DE"))
    assert {j.locale for j in jobs} == {"de-DE"} and not rejections
    assert next(j for j in jobs if j.product_id == "hoodie").overlay["price"] == "12,50\xa0€"
    _, jobs, _ = plan(write_markets(tmp_path, locales=[], strings={}, overlay={}))
    assert {j.locale for j in jobs} == {None} and jobs[0].job_id == "hoodie/sq/v0"


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"locales": ["en-US", "jp-JP"]}, "locales.1.code", "unknown locale 'jp-JP' (did you mean 'ja-JP'?)"),
    ({"locale": "de-DE"}, "locale", "move 'de-DE' into locales"),
    ({"locales": ["en-US", "de-DE", "de_DE"]}, "locales.2.code", "'de-DE' is listed twice"),
    ({"locales": ["en-US", {"code": "ja-JP", "feed": "missing.csv"}]}, "locales.1.feed", "file not found"),
    ({"locales": ["en-US", {"code": "de-DE", "strings": {"legal": "inkl. MwSt."}}]}, "locales.1.strings.legal",
     "add strings: {legal: ...} at the top level"),
    ({"overlay": {}}, "strings.cta", "overlay.cta: '{{ strings.cta }}'"),
    ({"locales": [{"code": "de-DE", "strings": {"call to action": "x"}}]}, "locales.0.strings", "must be identifiers"),
])
def test_bad_market_configs_name_the_file_the_field_and_the_fix(tmp_path, overrides, field, words):
    path = write_markets(tmp_path, **overrides)
    with pytest.raises(SpecError) as e:
        load_campaign(path)
    assert e.value.path == path and e.value.field == field and words in str(e.value)


def test_validate_shows_the_markets_and_which_market_rejected_a_row(tmp_path):
    from typer.testing import CliRunner

    from brandflow.cli import app

    path = write_markets(tmp_path)
    res = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "3 markets (en-US, de-DE, ja-JP) → 5 creatives" in res.output and "ja-JP" in res.output.split("rejected rows")[-1]
    res = CliRunner().invoke(app, ["validate", str(path), "--json"])
    data = json.loads(res.output)
    assert data["locales"] == ["en-US", "de-DE", "ja-JP"] and data["creatives"] == 5
    assert [(r["product_id"], r["locale"]) for r in data["rejections"]] == [("mug", "ja-JP")]


def test_a_bad_row_in_a_markets_feed_is_rejected_for_that_market_only(tmp_path):
    path = write_markets(tmp_path)
    feed = tmp_path / "products.ja-JP.csv"
    feed.write_text(feed.read_text(encoding="utf-8").replace("1250 JPY", "sehr teuer"), encoding="utf-8")
    _, jobs, rejections = plan(path)
    assert {j.locale for j in jobs} == {"en-US", "de-DE"}  # ja-JP has no usable row left; the other markets run
    assert sorted((r.product_id, r.locale, r.field) for r in rejections) == [("hoodie", "ja-JP", "price"), ("mug", "ja-JP", "locales.2.feed")]


def test_strings_work_without_markets_and_ocr_notes_name_what_cannot_be_read(tmp_path):
    _, jobs, _ = plan(write_markets(tmp_path, locales=[]))
    assert {j.overlay["cta"] for j in jobs} == {"Shop now"} and not any(j.notes for j in jobs)
    _, jobs, _ = plan(write_markets(tmp_path, locales=[{"code": "sv-SE", "strings": {"cta": "Köp nu"}}], qa={"checks": ["text"]}))
    assert {j.overlay["cta"] for j in jobs} == {"Köp nu"}
    assert all(j.notes == ["OCR reads sv-SE text with English only: brandflow knows no Tesseract pack for 'sv'",
                           "price in EUR (products.csv), but sv-SE pays in SEK, the currency Merchant Center expects there: "
                           "give sv-SE its own feed"] for j in jobs)
    _, jobs, _ = plan(write_markets(tmp_path, locales=[{"code": "sv-SE", "strings": {"cta": "Köp nu"}}], qa={"checks": ["format"]}))
    assert not any("OCR" in n for j in jobs for n in j.notes)  # no text check, nothing to say about OCR


def test_a_price_in_another_countrys_currency_is_noted_with_where_to_fix_it(tmp_path):
    path = write_markets(tmp_path)
    feed = tmp_path / "products.ja-JP.csv"
    feed.write_text(feed.read_text(encoding="utf-8").replace("1250 JPY", "12.50 USD"), encoding="utf-8")
    _, jobs, _ = plan(path)
    (ja,) = [j for j in jobs if j.locale == "ja-JP"]
    assert ja.overlay["price"] == "$12.50" and ja.notes == [
        "price in USD (products.ja-JP.csv), but ja-JP pays in JPY, the currency Merchant Center expects there: "
        "fix the price in products.ja-JP.csv"]
