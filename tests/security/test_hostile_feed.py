"""A feed written by an adversary: ids that are paths, collide when slugged, are 300 characters long or
hold Rich markup. Each run must keep every file inside its run folder, lose no creative and still write
its manifest and report."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from brandflow.cli import app
from brandflow.flows.campaign import campaign_flow
from brandflow.manifest import RunManifest
from brandflow.pipeline.record import RunFailedError

runner = CliRunner()

#: Ids that must neither escape the run folder nor share a folder or key with one another.
HOSTILE_IDS = [
    "../../../../escaped-relative",
    "a/b", "a-b", "a b", "a\\b", ".", "..", "...", "-", "~",
    "x" * 300, "x" * 299 + "y",
    "[/x]", "[bold]bold[/bold]", "<script>alert(1)</script>", "naïve-ÉÉ", "tab\there", "%2e%2e%2f",
]


def test_hostile_ids_stay_in_the_run_folder_and_each_keeps_its_creative(prefect_harness, hostile_campaign, tmp_path, files_under):
    absolute = tmp_path / "escaped-absolute"
    ids = HOSTILE_IDS + [str(absolute)]
    # max_bytes: 100 fails every creative's format check, so each one takes the 'failed' (kept aside) path
    campaign = hostile_campaign(ids, formats=[{"name": "square", "width": 256, "height": 256, "max_bytes": 100}])
    run_dir = campaign.parent / "runs" / "r"
    before = files_under(tmp_path)

    result = campaign_flow(str(campaign), str(run_dir))

    manifest = RunManifest.read(result.manifest)
    assert [(r.product_id, r.field) for r in manifest.rejections] == [("tab\there", "id")], "control characters: a clear rejection"
    ids.remove("tab\there")
    assert result.summary.jobs == len(ids) and result.summary.failed == len(ids), result.summary
    assert result.exit_code == 1
    new = files_under(tmp_path) - before
    outside = [p for p in new if not p.is_relative_to(run_dir)]
    assert outside == [], f"files written outside the run folder: {outside}"
    assert not absolute.exists() and not (tmp_path / "escaped-relative").exists()
    kept = sorted((run_dir / "failed").glob("*.png"))
    assert len(kept) == len(ids), "every failed creative is kept aside under its own name"
    assert all(len(p.name) <= 80 for p in kept)
    reasons = {p.with_suffix(".txt").read_text().splitlines()[0] for p in kept}
    assert reasons == {f"job: {j.job_id}" for j in manifest.jobs}
    work = [p for p in (run_dir / "work").iterdir()]
    assert len(work) == len(ids) and all(len(p.name) <= 60 for p in work)
    assert result.report.is_file() and "<script>alert(1)</script>" not in result.report.read_text()


def test_ids_that_slug_alike_publish_to_distinct_keys(prefect_harness, hostile_campaign):
    ids = ["a/b", "a-b", "a b", ".", "..", "x" * 300, "x" * 299 + "y"]
    campaign = hostile_campaign(ids)
    run_dir = campaign.parent / "runs" / "r"

    result = campaign_flow(str(campaign), str(run_dir))

    manifest = RunManifest.read(result.manifest)
    assert result.summary.published == len(ids), [j.final.qa.reasons if j.final.qa else j.final.error for j in manifest.jobs]
    uris = [j.published.uri for j in manifest.jobs]
    assert len(set(uris)) == len(ids), "two ids share one key"
    published = [p for p in (run_dir / "published").rglob("*.png")]
    assert len(published) == len(ids) and all(p.is_relative_to(run_dir / "published") for p in published)
    assert not list((run_dir / "published").rglob("*.tmp"))


def test_a_key_collision_rejects_the_later_row_and_never_overwrites(prefect_harness, hostile_campaign):
    # product "a" in format "sq-b" and product "a-sq" in format "b" both get "a-sq-b": the later row is rejected
    campaign = hostile_campaign(
        ["a", "a-sq"],
        formats=[{"name": "b", "width": 256, "height": 256}, {"name": "sq-b", "width": 256, "height": 256}],
        publish={"key_template": "{campaign}/{product_id}-{format}.{ext}", "on_conflict": "overwrite"},
    )
    result = campaign_flow(str(campaign), str(campaign.parent / "runs" / "r"))

    manifest = RunManifest.read(result.manifest)
    assert {j.product_id for j in manifest.jobs} == {"a"} and result.summary.published == 2
    (rejection,) = manifest.rejections
    assert rejection.product_id == "a-sq" and rejection.field == "publish.key_template"
    assert "'a'" in rejection.reason and "saleor-autumn/a-sq-b.png" in rejection.reason


def test_a_run_that_fails_after_planning_still_writes_its_record_and_exits_3(prefect_harness, hostile_campaign, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the publish folder should be")
    campaign = hostile_campaign(["apple", "x" * 300], publish={"target": blocker.as_uri()})
    run_dir = campaign.parent / "runs" / "r"

    try:
        campaign_flow(str(campaign), str(run_dir))
    except RunFailedError as e:
        error = e
    else:  # pragma: no cover - the assertion says what went wrong
        raise AssertionError("the run did not fail")

    assert error.manifest == run_dir / "manifest.json" and error.report == run_dir / "report.html"
    manifest = RunManifest.read(error.manifest)
    assert manifest.error and "NotADirectoryError" in manifest.error
    assert len(manifest.jobs) == 2 and all(j.status == "error" and j.publish_error for j in manifest.jobs)
    assert manifest.exit_code == 3
    html = error.report.read_text()
    assert "The run failed" in html and "NotADirectoryError" in html and "publishing failed" in html

    res = runner.invoke(app, ["run", str(campaign), "--out", str(run_dir)])
    assert res.exit_code == 3, res.output
    assert "Traceback" not in res.output and "manifest.json" in res.output.replace("\n", "")


def test_markup_in_ids_and_columns_is_printed_not_parsed(prefect_harness, hostile_campaign):
    rows = [{"id": "[/x]", "title": "[bold]t[/]", "description": "", "product_type": "", "price": "1.00 USD",
             "image_link": "images/[/missing].png"}]
    campaign = hostile_campaign(["[/ok]"], rows=rows)

    res = runner.invoke(app, ["validate", str(campaign)])

    assert res.exit_code == 0, res.output
    assert "MarkupError" not in res.output and "[/x]" in res.output

    spec = yaml.safe_load(campaign.read_text())
    spec["feed"]["columns"] = {"id": "[/id]"}
    campaign.write_text(yaml.safe_dump(spec))
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "MarkupError" not in res.output and "[/id]" in res.output, res.output


def test_a_run_where_every_job_errors_is_not_a_success(prefect_harness, hostile_campaign):
    campaign = hostile_campaign(["apple"], generator={"backend": "compositor", "options": {"no_such_option": 1}})
    res = runner.invoke(app, ["run", str(campaign), "--out", str(campaign.parent / "runs" / "r")])
    assert res.exit_code in (1, 2), res.output  # 2 once validate-before-run rejects the options; never 0
    if res.exit_code == 1:
        manifest = RunManifest.read(campaign.parent / "runs" / "r" / "manifest.json")
        assert manifest.summary.errors == 1


def test_exit_status_0_when_everything_is_published(prefect_harness, hostile_campaign):
    campaign = hostile_campaign(["apple"])
    res = runner.invoke(app, ["run", str(campaign), "--out", str(campaign.parent / "runs" / "r")])
    assert res.exit_code == 0, res.output


def test_planning_nothing_from_a_feed_of_bad_rows_is_bad_input(prefect_harness, hostile_campaign):
    rows = [{"id": "p", "title": "t", "description": "", "product_type": "", "price": "1.00 USD", "image_link": "images/none.png"}]
    campaign = hostile_campaign([], rows=rows)
    res = runner.invoke(app, ["run", str(campaign), "--out", str(campaign.parent / "runs" / "r")])
    assert res.exit_code == 2, res.output
    assert Path(campaign.parent / "runs" / "r" / "manifest.json").is_file()


def test_validate_agrees_that_planning_nothing_is_not_valid(hostile_campaign):
    """`validate` said "valid" (exit 0) for a feed whose every row was rejected, which `run` refuses with exit 2."""
    import json

    rows = [{"id": "p", "title": "t", "description": "", "product_type": "", "price": "1.00 USD", "image_link": "images/none.png"}]
    campaign = hostile_campaign([], rows=rows)
    res = runner.invoke(app, ["validate", str(campaign), "--json"])
    assert res.exit_code == 2, res.output
    answer = json.loads(res.output)
    assert answer["valid"] is False and answer["creatives"] == 0
    assert any("no creative can be planned" in p and "Fix" in p for p in answer["problems"])
    res = runner.invoke(app, ["validate", str(campaign)])
    assert res.exit_code == 2 and "no creative can be planned" in res.output

    res = runner.invoke(app, ["validate", str(hostile_campaign(["ok"])), "--json"])  # one good row: valid
    assert res.exit_code == 0 and json.loads(res.output)["problems"] == []


def test_a_feed_names_images_in_its_folder_never_elsewhere_on_the_machine(tmp_path: Path):
    """A feed that points image_link at ../, an absolute path or a file:// URL outside its image folder would have the
    worker read any image it can (another client's unreleased packshot) and paste it into a published creative: the
    row is rejected, naming the folder and the fix; an additional image out there is dropped. Inside the folder —
    relative, absolute, file://, or through a symlink whoever owns the folder put there — images still load."""
    from PIL import Image

    from brandflow.feed.catalog import load_feed
    from brandflow.spec import FeedSpec

    secret, shop, shared = tmp_path / "secret", tmp_path / "shop", tmp_path / "shared-assets"
    for folder in (secret, shop / "img", shared):
        folder.mkdir(parents=True)
    for path in (secret / "private.png", shop / "img" / "ok.png", shared / "linked.png"):
        Image.new("RGB", (32, 32), (10, 120, 200)).save(path)
    (shop / "assets").symlink_to(shared)  # put there by whoever owns the folder, not by the feed
    outside = [("dotdot", "../secret/private.png"), ("abs", str(secret / "private.png")),
               ("uri", (secret / "private.png").as_uri()), ("sneaky", "img/../../secret/private.png")]
    inside = [("rel", "img/ok.png"), ("absin", str(shop / "img" / "ok.png")), ("uriin", (shop / "img" / "ok.png").as_uri()),
              ("link", "assets/linked.png")]
    header = "id,title,description,product_type,price,image_link,additional_image_link\n"
    rows = [f"{pid},T,,,1 USD,{ref}," for pid, ref in outside + inside]
    rows.append(f"extra,T,,,1 USD,img/ok.png,{secret / 'private.png'}")
    feed = shop / "feed.csv"
    feed.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")

    products, rejections = load_feed(FeedSpec(path=feed))
    assert {r.product_id for r in rejections} == {pid for pid, _ in outside}
    for r in rejections:
        assert r.field == "image_link" and "outside the feed's image folder" in r.reason and "feed.images_dir" in r.reason
    assert {p.id for p in products} == {pid for pid, _ in inside} | {"extra"}
    assert all(secret not in img.parents for p in products for img in p.images), "nothing outside is ever read"
    assert next(p for p in products if p.id == "extra").images == [(shop / "img" / "ok.png").resolve()]

    # the campaign file (a colleague) may choose another folder, feed.images_dir: relative paths start there
    products, _ = load_feed(FeedSpec(path=feed, images_dir=tmp_path))
    assert {"abs", "uri", "absin", "uriin"} <= {p.id for p in products}
    assert not {"dotdot", "sneaky"} & {p.id for p in products}, "still nothing above the folder"
