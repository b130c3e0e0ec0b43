"""BFL's own moderation maps into the moderation check: a delivered image carries BFL's pass beside NudeNet's scores,
a withheld one becomes the check's fail (retried with the next seed like any QA failure), one verdict for reviewers."""

from __future__ import annotations

import pytest
import yaml

from bfl_server import FakeBFL
from brandflow.generators import bfl

KEY = "bfl-test-key-123"


@pytest.fixture
def fake(monkeypatch):
    server = FakeBFL(KEY).start()
    monkeypatch.setenv("BFL_API_KEY", KEY)
    bfl.reset_limiters()
    yield server
    bfl.reset_limiters()
    server.stop()


def test_bfl_moderation_is_part_of_the_moderation_verdict(fake, campaign_dir, tmp_path):
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.stages import run_attempt
    from brandflow.spec import load_campaign

    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(formats=[{"name": "square", "width": 320, "height": 320}], variants=1)
    spec["qa"] = {"checks": ["format", "moderation"], "moderation": {"categories": ["nudity"]}, "max_attempts": 2}
    spec["generator"] = {"backend": "bfl", "options": {
        "base_url": fake.base_url, "poll_interval": 0.005, "poll_max_interval": 0.02, "retry_base_delay": 0.005,
        "target_megapixels": 0.05, "reference_megapixels": 0.02, "safety_tolerance": 1}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id == "white-plimsolls"])

    ok = run_attempt(jobs[0], spec, brand, tmp_path / "run")
    check = next(c for c in ok.qa.checks if c.check == "moderation")
    assert check.verdict == "pass" and check.metrics["provider"] == "BFL: Ready (pass, safety_tolerance 1)"
    assert check.metrics["provider_detail"]["verdict"] == "pass"
    assert check.metrics["nudity"].startswith("checked")  # NudeNet ran on the API's image too

    fake.reset(outcome="Content Moderated", details={"Moderation Reasons": ["Violence"]})
    withheld = run_attempt(jobs[0].model_copy(update={"seed": jobs[0].seed + 1}), spec, brand, tmp_path / "run")
    assert withheld.error is None and withheld.creative is None and withheld.qa.verdict == "fail"
    (check,) = withheld.qa.checks
    assert check.check == "moderation" and check.metrics["provider_detail"]["status"] == "Content Moderated"
    assert check.reasons[0].startswith("BFL moderation: content moderated:") and "Violence" in check.reasons[0]
