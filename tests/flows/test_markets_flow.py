"""A campaign in three markets run by the real Prefect flow: one creative per product × format × variant × market,
each market's prices and strings, the locale in keys, manifest and report, a product one market lacks skipped there."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brandflow.flows.campaign import campaign_flow
from brandflow.manifest import RunManifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from market_campaign import write_markets  # noqa: E402


def test_a_three_market_campaign_runs_one_creative_per_market(prefect_harness, tmp_path):
    campaign = write_markets(tmp_path, formats=[{"name": "sq", "width": 400, "height": 400}],
                             qa={"checks": ["format", "text"]}, publish={
                                 "key_template": "{campaign}/{locale}/{product_id}/{format}/{variant}.{ext}", "warned": "publish",
                                 "feeds": {"merchant-center": {"public_base_url": "https://cdn.example.com", "lifestyle_image_link": "sq"}}})
    result = campaign_flow(str(campaign), str(tmp_path / "run"))
    manifest = RunManifest.read(result.manifest)

    by_market = {(j.locale, j.product_id): j for j in manifest.jobs}
    assert set(by_market) == {("en-US", "hoodie"), ("en-US", "mug"), ("de-DE", "hoodie"), ("de-DE", "mug"), ("ja-JP", "hoodie")}
    assert manifest.summary.jobs == 5 and manifest.summary.errors == 0
    assert by_market["de-DE", "hoodie"].overlay == {"headline": "Blue Hoodie", "price": "12,50\xa0€", "cta": "Jetzt kaufen"}
    assert by_market["ja-JP", "hoodie"].overlay == {"headline": "青いパーカー", "price": "￥1,250", "cta": "今すぐ購入"}
    assert by_market["en-US", "mug"].notes[0] == "strings.cta: no en-US text, used the campaign's “Shop now”"
    (skipped,) = manifest.rejections
    assert (skipped.product_id, skipped.locale) == ("mug", "ja-JP")

    published = [j for j in manifest.jobs if j.published]
    assert published, "the creatives of a small clean campaign pass format and text QA"
    for job in published:
        assert job.published.key == f"markets/{job.locale}/{job.product_id}/sq/v0.png"
        sidecar = Path(job.published.uri.removeprefix("file://") + ".json")
        assert json.loads(sidecar.read_text())["locale"] == job.locale

    html = result.report.read_text()
    assert '<select id="f-market">' in html and html.count('data-locale="ja-JP"') == 1
    assert html.count('data-market="') == 3  # the summary's per-market table, one row each
    assert "no en-US text, used the campaign" in html  # the job's notes are on its card
    assert "<td>ja-JP</td><td>locales.2.feed</td>" in html  # the rejected row names its market

    # one Merchant Center feed per market (one per language and country), each with that market's creatives only
    assert [(f.locale, f.key) for f in manifest.feeds] == [
        (loc, f"markets/merchant-center/supplemental.{loc}.tsv") for loc in ("en-US", "de-DE", "ja-JP")]
    for feed in manifest.feeds:
        rows = (tmp_path / "run" / "feeds" / Path(feed.key).name).read_text().splitlines()[1:]
        links = [row.split("\t")[1] for row in rows]
        assert len(rows) == feed.rows == sum(1 for j in published if j.locale == feed.locale)
        assert all(link.startswith(f"https://cdn.example.com/markets/{feed.locale}/") for link in links)
