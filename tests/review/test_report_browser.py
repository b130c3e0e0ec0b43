"""The report file in a real browser (Debian's chromium, Playwright), opened from disk and offline:
filters, sort, the full-size view when the report travels without its run folder, and printing."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from brandflow.review import report

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_run  # noqa: E402


@pytest.fixture
def page(tmp_path, browser):
    run_dir = tmp_path / "runs" / "autumn"
    manifest = make_run(run_dir, 16)
    report.render_report(manifest, run_dir / "report.html")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.errors, p.requests = [], []
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    p.on("request", lambda r: p.requests.append(r.url))
    p.run_dir, p.manifest = run_dir, manifest
    yield p
    context.close()


def _visible(page) -> list[dict]:
    return page.eval_on_selector_all("#grid > .card:not([hidden])", "els => els.map(e => ({...e.dataset}))")


def test_filters_and_sort(page):
    page.goto((page.run_dir / "report.html").as_uri())
    cards = _visible(page)
    assert cards and all(c["attention"] == "1" for c in cards), "opens on what needs a human"
    assert len(cards) == sum(1 for j in page.manifest.jobs if j.status != "published")
    assert page.is_visible("#rejected-rows")
    page.select_option("#f-status", "all")
    page.select_option("#f-check", "identity")
    assert {c["status"] for c in _visible(page)} == {"failed"} and all("identity" in c["checks"] for c in _visible(page))
    page.select_option("#f-check", "")
    page.select_option("#f-format", "story")
    assert {c["format"] for c in _visible(page)} == {"story"} and len(_visible(page)) == 8
    page.select_option("#f-format", "")
    page.select_option("#f-product", "product-0003")
    assert {c["product"] for c in _visible(page)} == {"product-0003"}
    page.select_option("#f-product", "")
    page.select_option("#f-sort", "score")
    scores = [float(c["score"]) for c in _visible(page) if c["score"]]
    assert scores == sorted(scores) and scores[0] < scores[-1]
    page.select_option("#f-status", "published")
    assert not page.is_visible("#rejected-rows") and {c["status"] for c in _visible(page)} == {"published"}
    page.click('a.count.warn')  # "held for review" in the summary is a link to that view
    assert page.input_value("#f-status") == "held" and {c["status"] for c in _visible(page)} == {"held"}
    assert page.errors == []
    assert all(u.startswith(("file:", "data:")) for u in page.requests), "offline: nothing but the file and its data"


def test_the_report_travels_without_its_run_folder(page, tmp_path):
    alone = tmp_path / "mailed" / "report.html"
    alone.parent.mkdir()
    shutil.copy(page.run_dir / "report.html", alone)
    page.goto(alone.as_uri())
    page.locator("#grid > .card:not([hidden]) a.open").first.click()
    page.wait_for_function("document.getElementById('v-img').complete && document.getElementById('v-img').naturalWidth > 0")
    assert page.evaluate("document.getElementById('v-img').naturalWidth") <= report.THUMB_PX, "falls back to the embedded thumbnail"
    assert page.evaluate("document.querySelector('#v-refs img').naturalWidth") > 0, "the packshot is embedded too"
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Escape")
    assert not page.is_visible("#viewer") and page.errors == []


def test_the_summary_prints_on_one_page(page):
    page.goto((page.run_dir / "report.html").as_uri())
    page.emulate_media(media="print")
    assert not page.is_visible("#grid") and page.is_visible("#summary")
    pdf = page.pdf(format="A4", print_background=True)
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1, "one page to forward"


def test_a_run_in_several_markets_filters_and_groups_by_market(tmp_path, browser):
    run_dir = tmp_path / "runs" / "markets"
    manifest = make_run(run_dir, 12)
    jobs = [j.model_copy(update={"locale": loc, "job_id": f"{loc}/{j.job_id}", "notes": [f"a note for {loc}"],
                                 "product_title": f"{j.product_title} ({loc})"})  # each market's own title
            for j, loc in zip(manifest.jobs, ["de-DE", "ar-SA", "ja-JP"] * 4)]
    manifest = manifest.model_copy(update={"jobs": jobs})
    report.render_report(manifest, run_dir / "report.html")
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto((run_dir / "report.html").as_uri())
    assert page.inner_text("table.markets").count("\n") == 3  # a header and one row per market
    products = {j.product_id for j in jobs}
    assert page.eval_on_selector_all("#f-product option", "os => os.map(o => o.value)")[1:] == sorted(products)  # once each
    page.click('table.markets a[data-market="ja-JP"]')  # a market's row in the summary shows everything in it
    shown = _visible(page)
    assert page.input_value("#f-status") == "all" and len(shown) == 4 and {c["locale"] for c in shown} == {"ja-JP"}
    assert page.is_visible("#grid > .card:not([hidden]) .notes >> text=a note for ja-JP")
    page.select_option("#f-market", "")
    page.select_option("#f-sort", "market")
    assert [c["locale"] for c in _visible(page)] == sorted(c["locale"] for c in _visible(page))
    assert len(_visible(page)) == 12 and errors == []
    page.close()
