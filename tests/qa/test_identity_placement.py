"""A photo pasted whole (opaque, with its scene) whose product is small and smooth gives too few keypoints to trust
a matched outline; identity then maps the packshot through the placement compose recorded (``PlacedImage.crop`` and
``box``), as text QA reads recorded regions, instead of segmenting the creative, which took the photo's ground for
the product. The pixels there must still agree with the packshot's: a covered product is not passed.

Fixture: a DreamBench photo at 256 px (CC-BY-4.0, tests/qa/fixtures/reshot/CREDITS.md). Found on the held-out
``photos`` campaign of bench/campaign.py, where 3 of 104 creatives failed this way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.compose.overlay import compose
from brandflow.generators.compositor import CROP_INFO, CompositorGenerator, load_cutout
from brandflow.imageio import load_rgb, load_rgba
from brandflow.qa.base import CheckContext
from brandflow.qa.identity import IdentityCheck
from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec, QASpec, load_brand_kit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
PHOTO = Path(__file__).parent / "fixtures" / "reshot" / "poop_emoji-04.jpg"
STORY = FormatSpec(name="story", width=1080, height=1920)


@pytest.fixture(scope="module")
def brand():
    return load_brand_kit(EXAMPLE / "brand.yaml")


@pytest.fixture(scope="module")
def creative(brand, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("placement")
    refs = [ReferenceImage(path=PHOTO, role="primary_packshot", sha256=sha256_file(PHOTO))]
    job = Job(campaign="t", product_id="toy", product_title="Toy", format=STORY, variant=0, seed=0, backend="compositor",
              references=refs, prompt=StructuredPrompt(scene="autumn", subjects=[Subject(description="toy")],
                                                       color_palette=["#1864EC", "#EEEEEC"]),
              overlay={"headline": "Poop Emoji no. 04", "price": "$27.00", "cta": "Shop now"})
    generated = CompositorGenerator({}).generate(job, tmp / "gen.png")
    return compose(generated, job, brand, OverlaySpec(logo=True), tmp / "creative.png")


def _check(creative, brand, image=None, placed=None):
    ctx = CheckContext(path=creative.path, brand=brand, references=(PHOTO,), regions=tuple(creative.regions),
                       placed=tuple(creative.placed) if placed is None else placed, thresholds=QASpec())
    return IdentityCheck().run(load_rgb(creative.path) if image is None else image, ctx)


def test_the_compositor_records_which_part_of_the_packshot_it_pasted(creative):
    photo = next(p for p in creative.placed if p.role == "primary_packshot")
    assert photo.crop == (0.0, 0.0, 1.0, 1.0), "an opaque photo is pasted whole"
    packshot = EXAMPLE / "packshots" / "saleor-apple-drink.webp"  # transparent margins and a soft shadow around the carton
    cut = load_cutout(packshot, sha256_file(packshot))
    rgba = load_rgba(packshot)
    h, w = rgba.shape[:2]
    x0, y0, x1, y1 = cut.info[CROP_INFO]
    assert 0 < x0 < x1 < 1 and 0 < y0 < y1 <= 1, "a trimmed cut-out"
    part = rgba[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)]
    assert part.shape[:2] == (cut.height, cut.width) and np.array_equal(part, np.array(cut)), "exactly the pixels pasted"


def test_a_small_smooth_product_in_a_pasted_photo_passes_through_its_recorded_placement(creative, brand):
    res = _check(creative, brand)
    assert res.verdict == "pass", res.metrics
    assert res.metrics["region"] == "recorded placement" and res.metrics["inliers"] < 10
    # the same creative with a record from before crops were kept: segmented, and the ground taken for the product
    old = tuple(p.model_copy(update={"crop": None}) for p in creative.placed)
    before = _check(creative, brand, placed=old)
    assert before.metrics["region"] == "segmented" and before.verdict != "pass", before.metrics


def test_the_record_is_not_trusted_blindly_a_covered_product_fails(creative, brand):
    photo = next(p for p in creative.placed if p.role == "primary_packshot").box
    image = np.array(Image.open(creative.path).convert("RGB"))
    image[photo.y0:photo.y1, photo.x0:photo.x1] = (128, 128, 128)  # the product is not there any more
    res = _check(creative, brand, image=image)
    assert res.metrics["region"] == "recorded placement" and res.metrics["pixel_agreement"] < 0.2
    assert res.verdict == "fail", res.metrics


def test_brandflow_qa_places_the_packshot_from_the_creatives_record_as_the_run_does(creative, brand):
    """`brandflow qa` on the run's file finds its record by sha256 and passes it as the run did; read as any image
    (`--whole-image`) the photo's ground is taken for the product again. On the held-out photos campaign this was
    3 of 104 creatives where `brandflow qa` failed identity that the run had passed (bench/qa_agreement.py)."""
    import json

    from typer.testing import CliRunner

    from brandflow.cli import app

    record = creative.path.with_name(f"creative-{creative.sha256[:12]}.json")
    record.write_text(creative.model_dump_json())
    args = ["qa", str(creative.path), "--brand", str(EXAMPLE / "brand.yaml"), "--reference", str(PHOTO),
            "--checks", "identity", "--json"]
    try:
        runs = [CliRunner().invoke(app, args + flag) for flag in ([], ["--whole-image"])]
    finally:
        record.unlink()
    recorded, whole = (json.loads(r.output)[str(creative.path)]["checks"][0] for r in runs)
    assert recorded["verdict"] == "pass" and recorded["metrics"]["region"] == "recorded placement", recorded["metrics"]
    assert whole["verdict"] != "pass" and whole["metrics"]["region"] == "segmented", whole["metrics"]
