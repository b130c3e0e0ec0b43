"""Every channel preset: the exact size, file type and byte limit, rendered through the compositor and compose."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from brandflow.compose.overlay import compose
from brandflow.generators.compositor import CompositorGenerator
from brandflow.imageio import encode_within
from brandflow.presets import GOOGLE_MAX_BYTES, PRESETS
from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import CampaignSpec, FormatSpec, OverlaySpec, load_brand_kit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
PACK = EXAMPLE / "packshots" / "saleor-banana-drink.webp"


def _job(fmt: FormatSpec) -> Job:
    return Job(
        campaign="t", product_id="banana", product_title="Banana Juice", format=fmt, variant=0, seed=4, backend="compositor",
        references=[ReferenceImage(path=PACK, role="primary_packshot", sha256=sha256_file(PACK))],
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="juice")], color_palette=["#1864EC", "#241F3E", "#EEEEEC"]),
        overlay={"headline": "Banana Juice", "price": "$5.00", "cta": "Shop now"},
    )


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_renders_at_its_size_within_its_byte_limit(tmp_path, name):
    fmt = FormatSpec.model_validate(name)
    assert fmt.name == name and (fmt.width, fmt.height) == (PRESETS[name]["width"], PRESETS[name]["height"])
    brand = load_brand_kit(EXAMPLE / "brand.yaml")
    job = _job(fmt)
    gen = CompositorGenerator({}).generate(job, tmp_path / "g.png")
    creative = compose(gen, job, brand, OverlaySpec(logo=True), tmp_path / f"c.{fmt.file_type}")
    with Image.open(creative.path) as im:
        assert im.size == (fmt.width, fmt.height)
        assert im.format == {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}[fmt.file_type]
    size = creative.path.stat().st_size
    assert size == creative.bytes
    if name.startswith("google-"):
        assert fmt.file_type == "jpeg" and fmt.max_bytes == GOOGLE_MAX_BYTES == 153_600
        assert size <= fmt.max_bytes
    assert {r.slot for r in creative.regions} == {"headline", "price", "cta"}, "every text fits, even on 320×50"


def test_story_presets_carry_their_text_free_zones():
    story, reels = FormatSpec.model_validate("meta-story"), FormatSpec.model_validate("meta-reels")
    assert (story.text_free_top, story.text_free_bottom) == (0.14, 0.20)
    assert (reels.text_free_top, reels.text_free_bottom) == (0.14, 0.35)


def test_presets_in_a_campaign_and_overrides(example_dir):
    spec = CampaignSpec.model_validate({
        "name": "c", "brand_kit": example_dir / "brand.yaml", "feed": {"path": example_dir / "products.csv"},
        "formats": ["google-300x250", {"preset": "meta-story", "name": "story", "file_type": "jpeg"}],
    })
    assert [(f.name, f.width, f.height, f.file_type) for f in spec.formats] == [
        ("google-300x250", 300, 250, "jpeg"), ("story", 1080, 1920, "jpeg")]
    with pytest.raises(ValueError, match="unknown format preset 'meta-storie'.*meta-story"):
        FormatSpec.model_validate("meta-storie")


def test_the_quality_search_meets_a_tight_limit():
    grad = Image.merge("RGB", [Image.linear_gradient("L").resize((600, 600))] * 3)
    noise = Image.blend(grad, Image.effect_noise((600, 600), 60).convert("RGB"), 0.2)
    full, q_full = encode_within(noise, "jpeg", None)
    tight, q = encode_within(noise, "jpeg", int(len(full) * 0.6))
    assert len(tight) <= int(len(full) * 0.6) < len(full) and q < q_full
    assert encode_within(noise, "jpeg", int(len(full) * 0.6)) == (tight, q), "deterministic"
