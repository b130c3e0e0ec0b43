"""A market's legal line (``overlay.legal``): its own strip below price and CTA, never overlapping anything, read
back by OCR; banners refuse it at validation; campaigns without one keep their layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from brandflow.compose.layout import boxes_overlap, frame_layout
from brandflow.compose.overlay import compose
from brandflow.errors import SpecError
from brandflow.generators.compositor import CompositorGenerator
from brandflow.presets import expand_preset
from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit, load_campaign

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
LEGAL = "Preise inkl. MwSt. Angebot gültig bis 30.11.2026"


def _job(fmt: FormatSpec, **overlay: str) -> Job:
    ref = EXAMPLE / "images" / "saleor-blue-hoodie.png"
    return Job(
        campaign="t", product_id="hoodie", product_title="Blauer Hoodie", format=fmt, variant=0, seed=7, backend="compositor",
        references=[ReferenceImage(path=ref, role="primary_packshot", sha256=sha256_file(ref))], locale="de-DE",
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="hoodie")], color_palette=["#1864EC", "#241F3E"]),
        overlay={"headline": "Blauer Hoodie", "price": "34,90\xa0€", "cta": "Jetzt kaufen", **overlay},
    )


@pytest.mark.parametrize("fmt", [
    FormatSpec(name="square", width=1080, height=1080),
    FormatSpec(**expand_preset({"preset": "meta-story", "name": "story"})),
    FormatSpec(name="link", width=1200, height=628),
])
def test_the_legal_line_gets_its_own_strip_and_ocr_reads_it(tmp_path, fmt):
    from brandflow.qa.text import ned, ocr_words

    brand = load_brand_kit(EXAMPLE / "brand.yaml")
    job = _job(fmt, legal=LEGAL)
    generated = CompositorGenerator({}).generate(job, tmp_path / "g.png")
    creative = compose(generated, job, brand, OverlaySpec(), tmp_path / "c.png")
    assert [r.slot for r in creative.regions] == ["headline", "price", "cta", "legal"]
    lay = frame_layout(fmt.width, fmt.height, 0.06, fmt.text_free_top, fmt.text_free_bottom, legal=True)
    legal = creative.regions[-1].box
    assert lay.legal[0] <= legal.x0 and lay.legal[1] <= legal.y0 and legal.x1 <= lay.legal[2] and legal.y1 <= lay.legal[3]
    assert not any(boxes_overlap(b, lay.legal) for name, b in lay.boxes().items() if name != "legal")
    boxes = [(r.box.x0, r.box.y0, r.box.x1, r.box.y1) for r in creative.regions]
    boxes += [(p.box.x0, p.box.y0, p.box.x1, p.box.y1) for p in generated.placed or [] if p.role != "logo"]  # the product
    assert not any(boxes_overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "nothing overlaps"
    with Image.open(creative.path) as im:
        crop = np.asarray(im.convert("RGB").crop((legal.x0 - 8, legal.y0 - 8, legal.x1 + 8, legal.y1 + 8)))
    read = " ".join(w.text for w in ocr_words(crop, psm=6, lang="deu+eng"))
    assert ned(read, LEGAL) >= 0.9, read


def test_without_a_legal_line_the_layout_is_unchanged(tmp_path):
    fmt = FormatSpec(name="square", width=1080, height=1080)
    assert frame_layout(1080, 1080) == frame_layout(1080, 1080, legal=False) and frame_layout(1080, 1080).legal is None
    with_legal = frame_layout(1080, 1080, legal=True)
    assert with_legal.product[3] < frame_layout(1080, 1080).product[3]  # the product makes room, the headline does not move
    assert with_legal.headline == frame_layout(1080, 1080).headline
    assert "legal" not in _job(fmt).overlay


def test_a_banner_refuses_a_legal_line_at_validation(tmp_path):
    spec = yaml.safe_load((EXAMPLE / "campaign.yaml").read_text())
    spec.update(brand_kit=str(EXAMPLE / "brand.yaml"), feed={"path": str(EXAMPLE / "products.csv")},
                formats=[{"preset": "google-728x90", "name": "leaderboard"}], variants=1,
                overlay={**spec["overlay"], "legal": "inkl. MwSt."})
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    with pytest.raises(SpecError) as e:
        load_campaign(path)
    assert e.value.field == "overlay.legal" and "'leaderboard' (728×90) is a banner" in str(e.value)
