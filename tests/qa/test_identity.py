"""Identity QA on real Saleor packshots: the same product composited passes, another product does not."""

from __future__ import annotations

import random
import shutil
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

import brandflow.qa.identity as identity
from brandflow.imageio import load_rgba
from brandflow.qa.calibrate_identity import paste, roc_auc
from brandflow.qa.identity import IdentityCheck, reference_features
from brandflow.qa.identity import IdentityThresholds
from brandflow.spec import QASpec

PLIMSOLLS = [f"saleor-blue-plimsolls-{i}.png" for i in range(1, 5)]


#: The calibrated thresholds (module notes of brandflow.qa.identity), explicit so the tests do not depend on
#: the spec's defaults.
CALIBRATED = QASpec(identity=IdentityThresholds(pass_score=0.831, warn_score=0.45))


@pytest.fixture
def make_ctx(make_ctx):
    def make(**kw):
        kw.setdefault("thresholds", CALIBRATED)
        return make_ctx(**kw)

    return make


def _composite(packshots, name: str, seed: int, **kw) -> np.ndarray:
    return paste(load_rgba(packshots / name), random.Random(seed), augment=False, **kw)


@pytest.mark.parametrize(("shown", "refs", "seed"), [
    ("saleor-blue-plimsolls-2.png", PLIMSOLLS, 0),
    ("saleor-apple-drink.png", ["saleor-apple-drink.png"], 1),
    ("saleor-blue-hoodie.png", ["saleor-blue-hoodie.png"], 2),
    ("saleor-battle-tested-book.png", ["saleor-battle-tested-book.png"], 3),
])
def test_same_product_composited_passes(packshots, make_ctx, shown, refs, seed):
    img = _composite(packshots, shown, seed)
    res = IdentityCheck().run(img, make_ctx(references=tuple(packshots / r for r in refs)))
    assert res.verdict == "pass", (res.reasons, res.metrics)
    m = res.metrics
    assert m["score"] >= 0.831 and m["inliers"] >= 20 and m["best_reference"] == shown
    assert m["region"] == "matched outline" and m["disagrees"] == [] and m["plain"] == [] and m["notes"] == []
    assert res.thresholds == {"pass_score": 0.831, "warn_score": 0.45}
    assert m["colour_similarity"] > 0.8 and m["pixel_agreement"] > 0.7
    assert set(m) >= {"matches", "inliers", "inlier_ratio", "colour_similarity", "score", "best_reference"}
    # references are compared in order and the check stops at the first that passes
    assert m["references_checked"] == refs.index(shown) + 1 and m["references_total"] == len(refs)
    assert [r["reference"] for r in m["per_reference"]] == refs[: refs.index(shown) + 1]


def test_every_reference_is_compared_when_none_passes(packshots, make_ctx):
    img = _composite(packshots, "saleor-blue-hoodie.png", 6)
    res = IdentityCheck().run(img, make_ctx(references=tuple(packshots / r for r in PLIMSOLLS)))
    assert res.verdict != "pass"  # blue on blue: colour alone sends it to a human at most
    assert any(p.startswith("shape:") for p in res.metrics["disagrees"])
    assert res.metrics["references_checked"] == 4 and len(res.metrics["per_reference"]) == 4


@pytest.mark.parametrize(("shown", "refs"), [
    ("saleor-blue-plimsolls-2.png", ["saleor-white-hoodie.png"]),
    ("saleor-apple-drink.png", ["saleor-mighty-mug.png"]),
    ("saleor-blue-hoodie.png", ["saleor-dash-force-1.png", "saleor-dash-force-2.png"]),
])
def test_different_product_fails(packshots, make_ctx, shown, refs):
    img = _composite(packshots, shown, 5)
    res = IdentityCheck().run(img, make_ctx(references=tuple(packshots / r for r in refs)))
    assert res.verdict == "fail" and res.metrics["score"] < 0.45
    assert res.reasons and "product match score" in res.reasons[0]
    assert res.metrics["disagrees"] and res.metrics["plain"]  # what differs, in words, for the report


@pytest.mark.parametrize(("shown", "seed"), [("saleor-sunnies.png", 0), ("saleor-blue-polygon-tee-front.png", 1)])
def test_overlay_text_regions_are_excluded_from_keypoints(packshots, make_ctx, draw_text, shown, seed):
    """Big white glyphs would take keypoints (and the ORB budget, with the earlier detector) from a small product."""
    img = paste(load_rgba(packshots / shown), random.Random(seed), augment=False, scale=(0.45, 0.45))
    img, regions = draw_text(img, [("headline", "Dry Sunglasses for", (60, 40), 76, (255, 255, 255)),
                                   ("headline2", "summer days", (60, 130), 76, (255, 255, 255)),
                                   ("price", "$40.00", (60, 900), 64, (255, 255, 255)),
                                   ("cta", "Shop now", (700, 910), 40, (255, 255, 255))])
    refs = (packshots / shown,)
    masked = IdentityCheck().run(img, make_ctx(references=refs, regions=tuple(regions)))
    assert masked.verdict == "pass", masked.metrics
    boxes = tuple((r.box.x0, r.box.y0, r.box.x1, r.box.y1) for r in regions)
    pts = identity.creative_features(img, boxes).points
    inside = [(x, y) for x, y in pts for x0, y0, x1, y1 in boxes if x0 + 2 <= x <= x1 - 2 and y0 + 2 <= y <= y1 - 2]
    assert not inside  # no keypoint on the glyphs
    assert len(identity.creative_features(img).points) > len(pts)  # …which unmasked take a share of


def test_same_design_other_flavour_scores_below_the_same_product(packshots, make_ctx):
    """The juice bottles share one label design: geometry matches, colour must tell them apart."""
    img = _composite(packshots, "saleor-apple-drink.png", 7)
    same = IdentityCheck().run(img, make_ctx(references=(packshots / "saleor-apple-drink.png",)))
    other = IdentityCheck().run(img, make_ctx(references=(packshots / "saleor-bean-drink.png",)))
    assert other.metrics["inliers"] >= 20  # the premise: the packaging matches geometrically
    assert other.metrics["pixel_agreement"] < same.metrics["pixel_agreement"] - 0.2
    assert other.metrics["score"] < same.metrics["score"] - 0.2
    assert other.verdict != "pass"
    assert any("another flavour" in p for p in other.metrics["disagrees"]), other.metrics["disagrees"]


def test_recoloured_product_loses_the_colour_term(packshots, make_ctx):
    rgba = load_rgba(packshots / "saleor-blue-hoodie.png").copy()
    rgba[..., :3] = rgba[..., [2, 1, 0]]  # blue hoodie → orange hoodie, same shape
    img = paste(rgba, random.Random(2), augment=False)
    res = IdentityCheck().run(img, make_ctx(references=(packshots / "saleor-blue-hoodie.png",)))
    assert res.verdict != "pass"
    assert res.metrics["colour_similarity"] < 0.5


def _in_colourway(rgba: np.ndarray, kind: str) -> np.ndarray:
    """The packshot grey, or with its CIELAB hue turned by ``kind`` degrees; lightness and print kept."""
    from skimage import color

    out = rgba.copy()
    lab = color.rgb2lab(rgba[..., :3])
    if kind == "grey":
        lab[..., 1:] = 0.0
    else:
        t = np.deg2rad(float(kind))
        a, b = lab[..., 1].copy(), lab[..., 2].copy()
        lab[..., 1], lab[..., 2] = a * np.cos(t) - b * np.sin(t), a * np.sin(t) + b * np.cos(t)
    with warnings.catch_warnings():  # colours outside sRGB after the turn are clipped, as intended
        warnings.simplefilter("ignore", UserWarning)
        out[..., :3] = np.clip(color.lab2rgb(lab) * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


@pytest.mark.parametrize("name", ["saleor-bean-drink.png", "saleor-dash-force-2.png", "saleor-monospace-white-tee-front.png"])
@pytest.mark.parametrize("kind", ["grey", "180"])
def test_a_product_in_another_colourway_does_not_pass_even_when_colour_is_a_small_part_of_it(packshots, make_ctx, name, kind):
    """A white can with a coloured label, a shoe with coloured trim: most pixels keep their colour in any colourway,
    so the share of all aligned pixels that agree stayed high (56–81 %) and these passed. Their coloured pixels do
    not agree, and the colour part says so; the right colourway still passes."""
    rgba = load_rgba(packshots / name)
    ref = make_ctx(references=(packshots / name,))
    right = IdentityCheck().run(paste(rgba, random.Random(5), augment=False), ref)
    other = IdentityCheck().run(paste(_in_colourway(rgba, kind), random.Random(5), augment=False), ref)
    assert right.verdict == "pass" and right.metrics["chromatic_agreement"] > 0.5
    assert other.metrics["inliers"] >= 20  # the premise: the design lines up
    assert other.metrics["chromatic_agreement"] < 0.1
    assert other.verdict != "pass"
    assert other.metrics["parts"]["colour"]["agrees"] is False and other.metrics["parts"]["shape"]["agrees"] is True
    assert any("colourway" in p for p in other.metrics["disagrees"]), other.metrics["disagrees"]


def test_a_product_without_colour_has_no_colourway_to_lose(packshots, make_ctx):
    """A white hoodie is no evidence either way for the chromatic rule: it passes as before."""
    rgba = load_rgba(packshots / "saleor-grey-hoodie.png")
    res = IdentityCheck().run(paste(_in_colourway(rgba, "180"), random.Random(6), augment=False),
                              make_ctx(references=(packshots / "saleor-grey-hoodie.png",)))
    assert res.metrics["chromatic_agreement"] is None
    assert res.verdict == "pass"


def test_score_separates_same_from_different_products(packshots):
    """A small version of ``python -m brandflow.qa.calibrate_identity``: AUC on 12 positive/negative pairs."""
    names = ["saleor-blue-plimsolls-1.png", "saleor-apple-drink.png", "saleor-blue-hoodie.png",
             "saleor-mighty-mug.png", "saleor-sunnies.png", "saleor-white-hoodie.png"]
    pos, neg = [], []
    for i, name in enumerate(names):
        img = paste(load_rgba(packshots / name), random.Random(10 + i))
        cre = identity.creative_features(img)
        pos.append(identity.match_reference(reference_features(packshots / name), cre)["score"])
        other = names[(i + 1) % len(names)]
        neg.append(identity.match_reference(reference_features(packshots / other), cre)["score"])
    assert roc_auc(pos, neg) == 1.0, (pos, neg)
    assert roc_auc([1.0, 0.2], [0.5, 0.2]) == 0.625  # the rank statistic itself, ties count ½


def test_reference_features_are_cached_by_path_and_content(packshots, tmp_path):
    ref = tmp_path / "ref.png"
    shutil.copy(packshots / "saleor-mighty-mug.png", ref)
    a = reference_features(ref)
    assert reference_features(ref) is a  # cache hit
    assert a.descriptors is not None and a.descriptors.shape[1] == 128 and len(a.points) == len(a.descriptors)
    assert a.mask.shape == a.lab.shape[:2] and max(a.mask.shape) == identity.REF_SIDE
    assert a.hist.sum() == pytest.approx(1.0, abs=1e-5)
    im = Image.open(ref)
    im.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(ref)  # new bytes at the same path
    b = reference_features(ref)
    assert b is not a and b.sha256 != a.sha256


def test_no_references_passes_with_a_note(make_ctx):
    res = IdentityCheck().run(np.zeros((64, 64, 3), np.uint8), make_ctx())
    assert res.verdict == "pass" and res.metrics["notes"] == ["no reference packshots; identity not checked"]


def test_blank_creative_fails_and_transparent_reference_is_named(packshots, tmp_path, make_ctx):
    res = IdentityCheck().run(np.full((1080, 1080, 3), 200, np.uint8),
                              make_ctx(references=(packshots / "saleor-mighty-mug.png",)))
    assert res.verdict == "fail" and res.metrics["score"] < 0.45 and res.metrics["inliers"] == 0
    empty = tmp_path / "empty.png"
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(empty)
    res = IdentityCheck().run(np.zeros((64, 64, 3), np.uint8), make_ctx(references=(empty,)))
    assert res.verdict == "fail" and "empty.png" in res.reasons[0] and "no product pixels" in res.reasons[0]


def test_jpeg_and_scale_extremes_still_pass(packshots, make_ctx):
    for scale, seed in (((0.4, 0.4), 3), ((0.7, 0.7), 4)):
        img = _composite(packshots, "saleor-blue-hoodie.png", seed, scale=scale)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
        img = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
        res = IdentityCheck().run(img, make_ctx(references=(packshots / "saleor-blue-hoodie.png",)))
        assert res.verdict == "pass", (scale, res.metrics)


def test_threads_asking_for_one_reference_together_compute_its_features_once(packshots, monkeypatch, at_once):
    """Segmentation and RootSIFT of a packshot (~0.1–1 s) are done by the first thread; the others wait for them."""
    import time

    identity.clear_cache()
    made, compute = [], identity.features_of_reference_image
    monkeypatch.setattr(identity, "features_of_reference_image", lambda *a: made.append(a[1]) or time.sleep(0.2) or compute(*a))
    got = at_once(lambda: reference_features(packshots / "saleor-apple-drink.png"))
    assert len(made) == 1 and len(got) == 4 and all(g is got[0] for g in got)
