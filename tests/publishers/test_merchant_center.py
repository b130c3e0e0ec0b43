"""The Merchant Center supplemental feed: written by a real run to the publish target, keyed by product id with the
creatives' public URLs, rewritten identically (not re-published) by a re-run, parsed back; limits of Google's product
data specification; products outside the primary feed and unusable options get errors that name the fix."""

from __future__ import annotations

import csv
import io
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from brandflow.manifest import RunManifest
from brandflow.publishers.merchant_center import MAX_ADDITIONAL, FeedError, MerchantCenterFeed
from brandflow.records import PublishedAsset
from brandflow.spec import FormatSpec

CDN = "https://cdn.example.com/creatives"
FORMATS = [{"name": "square", "width": 192, "height": 192, "file_type": "jpeg"},
           {"name": "story", "width": 108, "height": 192, "file_type": "png"}]
FEED = {"public_base_url": CDN, "lifestyle_image_link": "square", "additional_image_link": ["story", "square"]}
PRODUCTS = ["white-plimsolls", "apple-juice"]


def _write_campaign(folder, feed_options):
    path = folder / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(formats=FORMATS, variants=2)
    spec["qa"] = {"checks": ["format"]}  # this test is about the feed, not about QA
    spec["publish"] = {"feeds": {"merchant-center": feed_options}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _parse(data: bytes) -> dict[str, dict[str, str]]:
    return {row["id"]: row for row in csv.DictReader(io.StringIO(data.decode()), delimiter="\t")}


@pytest.fixture(scope="module")
def feed_run(prefect_harness, tmp_path_factory, example_dir):
    """One real run of two products publishing to a folder, then a re-run into the same folders."""
    from brandflow.flows.campaign import campaign_flow
    from brandflow.targets import allowing

    folder = tmp_path_factory.mktemp("mc")
    for name in ("campaign.yaml", "brand.yaml", "products.csv"):
        shutil.copy(example_dir / name, folder / name)
    for linked in example_dir.iterdir():  # images, packshots, logo … as the campaign_dir fixture links them
        if linked.name not in ("campaign.yaml", "brand.yaml", "products.csv", "runs"):
            (folder / linked.name).symlink_to(linked)
    path = _write_campaign(folder, FEED)
    published = folder / "published"
    with allowing(published.as_uri()):  # a run-time target: the operator allows it
        first = campaign_flow(str(path), str(folder / "run"), PRODUCTS, None, published.as_uri())
        feed_file = published / "saleor-autumn" / "merchant-center" / "supplemental.tsv"
        before = feed_file.read_bytes()
        second = campaign_flow(str(path), str(folder / "run"), PRODUCTS, None, published.as_uri())
    assert first.summary.published == 8
    return second.report, RunManifest.read(second.manifest), before, feed_file, published


def test_a_run_publishes_the_feed_keyed_by_product_id(feed_run):
    _, manifest, first_bytes, feed_file, published = feed_run
    rows = _parse(feed_file.read_bytes())
    assert list(rows) == sorted(PRODUCTS) and list(next(iter(rows.values()))) == ["id", "additional_image_link", "lifestyle_image_link"]
    for pid, row in rows.items():
        lifestyle = row["lifestyle_image_link"]
        assert lifestyle == f"{CDN}/saleor-autumn/{pid}/square/v0.jpg"
        assert (published / lifestyle.removeprefix(CDN + "/")).is_file()  # the URL points at the published file
        extra = row["additional_image_link"].split(",")
        assert extra == [f"{CDN}/saleor-autumn/{pid}/story/v0.png", f"{CDN}/saleor-autumn/{pid}/story/v1.png",
                         f"{CDN}/saleor-autumn/{pid}/square/v0.jpg", f"{CDN}/saleor-autumn/{pid}/square/v1.jpg"]
    (record,) = manifest.feeds
    assert record.feed == "merchant-center" and record.rows == 2 and record.errors == []
    assert any("under Merchant Center's 500×500" in n for n in record.notes)  # 192 px test formats


def test_the_runs_report_shows_the_feed_record_and_the_model(feed_run):
    from html.parser import HTMLParser

    report, manifest, _, feed_file, _ = feed_run

    class Lines(HTMLParser):  # text of the summary's feed line and of every card's model line
        def __init__(self):
            super().__init__()
            self.open, self.found = [], {"feed": [], "model": []}

        def handle_starttag(self, tag, attrs):
            cls = next((c for c in (dict(attrs).get("class") or "").split() if c in self.found), None)
            self.open.append((tag, cls))
            if cls:
                self.found[cls].append("")

        def handle_endtag(self, tag):
            while self.open and self.open.pop()[0] != tag:
                pass

        def handle_data(self, data):
            for _, cls in self.open:
                if cls:
                    self.found[cls][-1] += data

    page = Lines()
    page.feed(report.read_text())
    (feed,) = [" ".join(t.split()) for t in page.found["feed"]]
    assert feed == "Merchant Center feed: 2 product rows → saleor-autumn/merchant-center/supplemental.tsv"
    models = {" ".join(t.split()) for t in page.found["model"]}
    assert models == {"brandflow compositor · no trained model"} and len(page.found["model"]) == len(manifest.jobs) + 1


def test_a_re_run_rewrites_the_same_bytes_and_publishes_nothing_new(feed_run):
    _, manifest, first_bytes, feed_file, _ = feed_run
    assert feed_file.read_bytes() == first_bytes
    assert manifest.feeds[0].published is not None and manifest.feeds[0].published.written is False


def _plugin(**changes):
    return MerchantCenterFeed({**FEED, **changes}, [FormatSpec(**f) for f in FORMATS])


def test_a_product_outside_the_primary_feed_is_left_out_with_the_fix(feed_run, tmp_path):
    _, manifest, *_ = feed_run
    primary = tmp_path / "primary.tsv"
    primary.write_text("id\ttitle\nwhite-plimsolls\tWhite Plimsolls\n")
    plugin = _plugin(primary_feed=str(primary))
    result = plugin.build(manifest.jobs, "saleor-autumn", plugin.primary_ids(PRODUCTS))
    assert list(_parse(result.data)) == ["white-plimsolls"] and result.rows == 1
    (error,) = result.errors
    assert "'apple-juice' is not in the primary feed" in error and "Fix: map feed.columns.id" in error


def test_limits_of_the_product_data_specification(feed_run):
    _, manifest, *_ = feed_run
    jobs = manifest.jobs
    # 10 additional images at most: 12 creatives of one product → the first 10 kept, a note says so
    many = [j.model_copy(update={"variant": v, "format": "story", "published": j.published.model_copy(update={"key": f"k/{v}.png"})})
            for j in jobs if j.product_id == "apple-juice" and j.format == "story" for v in range(12)]
    square = [j for j in jobs if j.product_id == "apple-juice" and j.format == "square"]
    result = _plugin(additional_image_link=["story"]).build(many + square, "c", {"apple-juice"})
    assert len(_parse(result.data)["apple-juice"]["additional_image_link"].split(",")) == MAX_ADDITIONAL
    assert any("12 additional images" in n for n in result.notes)
    # a comma in a key is encoded (%2C), as the spec asks of text feeds; a URL over 2,000 characters is refused
    odd = [j.model_copy(update={"published": j.published.model_copy(update={"key": "a,b/" + "x" * n + ".jpg"})})
           for n, j in ((10, square[0]),)]
    result = _plugin().build(odd, "c", {"apple-juice"})
    assert "%2C" in result.data.decode() and "a,b" not in result.data.decode().split("\n")[1]
    long = [square[0].model_copy(update={"published": square[0].published.model_copy(update={"key": "y" * 2001 + ".jpg"})})]
    result = _plugin().build(long, "c", {"apple-juice"})
    assert result.rows == 0 and "at most 2000 ASCII characters" in result.errors[0]


def test_expiring_or_local_links_are_refused(feed_run):
    _, manifest, *_ = feed_run
    job = next(j for j in manifest.jobs if j.format == "square" and j.variant == 0)
    presigned = job.model_copy(update={"published": PublishedAsset(uri="s3://b/k.jpg", key="k.jpg", sha256="0" * 64,
                                                                     link="https://b.s3.amazonaws.com/k.jpg?X-Amz-Signature=ab")})
    plugin = MerchantCenterFeed({"lifestyle_image_link": "square"}, [FormatSpec(**f) for f in FORMATS])
    result = plugin.build([presigned], "c", {job.product_id})
    assert result.rows == 0 and "presigned URL, which expires" in result.errors[0] and "public_base_url" in result.errors[0]
    result = plugin.build([job], "c", {job.product_id})  # a file:// link
    assert result.rows == 0 and "no public URL" in result.errors[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lifestyle_image_link": "story-webp"}, "does not take for lifestyle_image_link"),
        ({"lifestyle_image_link": "banner"}, "no format named 'banner'"),
        ({"public_base_url": CDN}, "no column chosen"),
        ({"lifestyle_image_link": "square", "colour": "x"}, "Fix: remove it"),
        ({"lifestyle_image_link": "square", "public_base_url": "ftp://x"}, "public_base_url"),
    ],
)
def test_bad_options_name_the_field_and_the_fix(options, message):
    formats = [FormatSpec(**f) for f in FORMATS] + [FormatSpec(name="story-webp", width=100, height=100, file_type="webp")]
    with pytest.raises(FeedError, match=message):
        MerchantCenterFeed(options, formats)


def test_validate_reports_products_outside_the_primary_feed_and_missing_public_urls(campaign_dir):
    from brandflow.cli import app

    primary = campaign_dir / "primary.csv"
    primary.write_text("id,title\nwhite-plimsolls,White Plimsolls\n")
    path = _write_campaign(campaign_dir, {**FEED, "primary_feed": str(primary)})
    res = CliRunner().invoke(app, ["validate", str(path)])
    flat = " ".join(res.output.split())
    assert res.exit_code == 2 and "31 products are not in the primary feed" in flat and "Fix: map feed.columns.id" in flat
    path = _write_campaign(campaign_dir, {"lifestyle_image_link": "square"})
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and "no public URL" in " ".join(res.output.split())


def test_a_cms_target_keeps_the_feed_in_the_run_folder(feed_run, campaign_dir, tmp_path, monkeypatch):
    from brandflow.pipeline.stages import publish_feeds
    from brandflow.spec import load_campaign

    _, manifest, first_bytes, *_ = feed_run
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", "t")
    spec, _ = load_campaign(_write_campaign(campaign_dir, FEED))
    (record,) = publish_feeds(manifest.jobs, spec, "wagtail+http://127.0.0.1:9/api/brandflow/v1/", PRODUCTS, tmp_path)
    assert record.published is None and "cannot hold the feed" in record.errors[-1]
    assert (tmp_path / "feeds" / "supplemental.tsv").read_bytes() == first_bytes  # nothing was sent; the file is kept
