"""Searching the product only where compose recorded it changes neither the scores nor the separation.

Compositor creatives of held-out products (half B of the split, as test_identity_heldout) are scored against their
own packshots and against other products', once over the whole frame and once in the recorded product box plus
its margin (what the run does). A synthetic model output without a record is searched whole.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brandflow.compose.overlay import compose
from brandflow.generators.compositor import CompositorGenerator
from brandflow.imageio import load_rgb
from brandflow.qa.base import CheckContext
from brandflow.qa.calibrate_identity import load_products, roc_auc, split_products
from brandflow.qa.identity import creative_features, match_reference, reference_features, search_box
from brandflow.records import Box, Job, PlacedImage, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
FMT = FormatSpec(name="square", width=640, height=640)


def _creative(tmp_path: Path, pid: str, paths: list[Path], brand, seed: int):
    refs = [ReferenceImage(path=p, role="primary_packshot" if i == 0 else "alternate_view", sha256=sha256_file(p))
            for i, p in enumerate(paths)]
    job = Job(campaign="t", product_id=pid, product_title=pid, format=FMT, variant=0, seed=seed, backend="compositor",
              references=refs, prompt=StructuredPrompt(scene="studio", subjects=[Subject(description=pid)],
                                                       color_palette=["#1864EC", "#EEEEEC"]),
              overlay={"headline": pid.replace("-", " ").title()[:24], "price": "$10.00", "cta": "Shop now"})
    generated = CompositorGenerator({}).generate(job, tmp_path / f"{pid}-gen.png")
    return compose(generated, job, brand, OverlaySpec(logo=True), tmp_path / f"{pid}.png")


def test_search_in_the_recorded_box_scores_held_out_creatives_as_the_whole_frame(tmp_path):
    brand = load_brand_kit(EXAMPLE / "brand.yaml")
    products = load_products(EXAMPLE / "products.csv")
    _, held_out = split_products(products)
    shown = held_out[::2][:5]
    whole, boxed = {"pos": [], "neg": []}, {"pos": [], "neg": []}
    for k, pid in enumerate(shown):
        creative = _creative(tmp_path, pid, products[pid][1], brand, seed=k)
        image = load_rgb(creative.path)
        ctx = CheckContext(path=creative.path, brand=brand, placed=tuple(creative.placed))
        box = search_box(ctx)
        pack = next(p.box for p in creative.placed if p.role == "primary_packshot")
        assert box is not None and box[0] < pack.x0 and box[2] > pack.x1 and box[1] < pack.y0 and box[3] > pack.y1
        text = tuple((r.box.x0, r.box.y0, r.box.x1, r.box.y1) for r in creative.regions)
        others = [o for o in held_out if o != pid and products[o][0] == products[pid][0]][:1] + [held_out[(k * 5 + 3) % len(held_out)]]
        for search, out in ((None, whole), (box, boxed)):
            cre = creative_features(image, text, search)
            best = lambda refs: max(float(match_reference(reference_features(r), cre)["score"]) for r in refs)  # noqa: E731
            out["pos"].append(best(products[pid][1]))
            out["neg"] += [best(products[o][1]) for o in others if o != pid]
    assert np.allclose(whole["pos"], boxed["pos"], atol=0.03), (whole["pos"], boxed["pos"])
    assert np.allclose(whole["neg"], boxed["neg"], atol=0.15), (whole["neg"], boxed["neg"])
    assert roc_auc(boxed["pos"], boxed["neg"]) >= roc_auc(whole["pos"], whole["neg"]) - 0.01
    for key in ("pos", "neg"):  # the same decisions at the default pass / warn scores
        for t in (0.831, 0.45):
            assert [v >= t for v in whole[key]] == [v >= t for v in boxed[key]], (key, t, whole[key], boxed[key])


def test_no_record_means_the_whole_frame_and_keypoints_map_back_to_creative_pixels(tmp_path):
    brand = load_brand_kit(EXAMPLE / "brand.yaml")
    assert search_box(CheckContext(path=Path("x.png"), brand=brand)) is None  # a model's output: no placed record
    image = np.zeros((600, 600, 3), np.uint8)
    rng = np.random.default_rng(0)
    image[200:400, 250:450] = rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)  # texture only inside the box
    placed = (PlacedImage(path=Path("p.png"), sha256="0" * 64, role="primary_packshot", box=Box(x0=260, y0=210, x1=440, y1=390)),
              PlacedImage(path=Path("logo.png"), sha256="1" * 64, role="logo", box=Box(x0=0, y0=0, x1=50, y1=20)))
    box = search_box(CheckContext(path=Path("x.png"), brand=brand, placed=placed))
    assert box == (242, 192, 458, 408)  # the packshot's box only (not the logo), plus 10 % of its side (18 px)
    cre = creative_features(image, (), box)
    assert len(cre.points) > 50
    assert cre.points[:, 0].min() >= 242 and cre.points[:, 0].max() <= 458  # creative pixels, not crop pixels
    assert cre.points[:, 1].min() >= 192 and cre.points[:, 1].max() <= 408
