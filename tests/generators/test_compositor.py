"""The compositor backend: determinism, layout per aspect, separation from the backdrop, the prompt's look,
no upscaling, no element over another."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.errors import ImageError
from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec
from brandflow.generators.base import Generator
from brandflow.generators.compositor import (
    SEPARATION_MIN, CompositorGenerator, clear_cutout_cache, load_cutout, parse_look, separation, _product_colours,
)
from brandflow.colour import hex_to_rgb
from brandflow.compose.layout import boxes_overlap
from brandflow.cielab import delta_e_ciede2000, srgb_to_lab

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
IMAGES = EXAMPLE / "images"
PACKSHOTS = EXAMPLE / "packshots"
SALEOR = ("#1864EC", "#241F3E", "#448EF4", "#EEEEEC")
SQUARE = FormatSpec(name="square", width=540, height=540)
STORY = FormatSpec.model_validate({"preset": "meta-story", "width": 540, "height": 960})
PORTRAIT = FormatSpec(name="portrait", width=540, height=675)
LINK = FormatSpec(name="link", width=600, height=314)
BANNER = FormatSpec(name="banner", width=728, height=90)
PLIMSOLLS = ("saleor-white-plimsolls-1.png", "saleor-white-plimsolls-2.png")
AUTUMN = dict(scene="Autumn lifestyle still life on a warm wooden tabletop, a few fallen maple leaves",
              lighting="low warm golden-hour sunlight from the left, long soft shadows", mood="cosy, warm")


def ref(name: str, role: str = "primary_packshot", folder: Path = IMAGES) -> ReferenceImage:
    return ReferenceImage(path=folder / name, role=role, sha256=sha256_file(folder / name))  # type: ignore[arg-type]


def make_job(seed: int = 0, fmt: FormatSpec = SQUARE, palette=SALEOR, packshots=("saleor-apple-drink.png",),
             folder: Path = IMAGES, scene: str = "studio", composition: str = "", background: str = "",
             lighting: str = "", mood: str = "", action: str = "") -> Job:
    refs = [ref(p, "primary_packshot" if i == 0 else "alternate_view", folder) for i, p in enumerate(packshots)]
    return Job(
        campaign="t", product_id="p", product_title="P", format=fmt, variant=0, seed=seed, backend="compositor",
        references=refs,
        prompt=StructuredPrompt(scene=scene, subjects=[Subject(description="the product", action=action)], mood=mood,
                                color_palette=list(palette), composition=composition, background=background, lighting=lighting),
        overlay={"headline": "Apple Juice", "price": "$1.99", "cta": "Shop now"},
    )


@pytest.fixture(scope="module")
def gen() -> CompositorGenerator:
    return CompositorGenerator({})


def test_implements_the_generator_protocol(gen):
    assert isinstance(gen, Generator) and gen.name == "compositor"
    assert gen.native_size(1080, 1920) == (1080, 1920)


def test_same_seed_gives_identical_bytes(tmp_path, gen):
    job = make_job(11, STORY, packshots=PLIMSOLLS)
    a = gen.generate(job, tmp_path / "a.png")
    clear_cutout_cache()  # a cold cache renders the same bytes as a warm one
    b = gen.generate(job, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert a.sha256 == b.sha256 == sha256_file(tmp_path / "a.png")
    assert (a.width, a.height) == (540, 960) and a.path == tmp_path / "a.png" and a.seconds > 0


def _ring_lab(img: np.ndarray, box, width: int) -> np.ndarray:
    """Mean CIELAB of the pixels in a ring ``width`` px wide just outside ``box``."""
    x0, y0, x1, y1 = box
    h, w = img.shape[:2]
    outer = np.zeros((h, w), bool)
    outer[max(0, y0 - width):min(h, y1 + width), max(0, x0 - width):min(w, x1 + width)] = True
    outer[y0:y1, x0:x1] = False
    return srgb_to_lab(img[outer]).mean(axis=0)


def test_a_blue_product_on_a_blue_brand_gets_a_separating_backdrop(gen):
    blues = ("#1864EC", "#448EF4", "#2E63CA")  # a brand of blues only, and a blue hoodie
    job = make_job(0, SQUARE, palette=blues, packshots=("saleor-blue-hoodie.webp",), folder=PACKSHOTS)
    img, scene = gen.render(job)
    dom = _product_colours(str(job.references[0].path), job.references[0].sha256)
    primary_de = separation(dom, hex_to_rgb(blues[0]))
    assert primary_de < 10, "the hoodie is the brand blue: a primary backdrop would hide it"
    assert scene.surface != hex_to_rgb(blues[0]) and scene.separation >= 3 * primary_de >= 0
    assert scene.separation >= SEPARATION_MIN
    # measured on the rendered pixels around the product, not only on the chosen colour
    ring = _ring_lab(np.asarray(img), scene.placements[0].box, 12)
    blue_lab = max(((lab, share) for lab, share in dom), key=lambda t: t[1])[0]
    assert float(delta_e_ciede2000(blue_lab, ring)) >= 15


@pytest.mark.parametrize("fmt", [SQUARE, STORY, PORTRAIT, LINK, BANNER])
@pytest.mark.parametrize("packshots", [("saleor-apple-drink.webp",), ("saleor-blue-plimsolls-1.webp", "saleor-blue-plimsolls-2.webp")])
def test_no_element_overlaps_another_and_the_product_fills_its_box(gen, fmt, packshots):
    for seed in (0, 1):
        job = make_job(seed, fmt, packshots=packshots, folder=PACKSHOTS, **AUTUMN)
        img, scene = gen.render(job)
        lay = scene.layout
        px0, py0, px1, py1 = lay.product
        texts = [lay.headline, lay.bottom] + ([lay.logo] if lay.logo else [])
        for p in scene.placements:
            x0, y0, x1, y1 = p.box
            assert px0 <= x0 and py0 <= y0 and x1 <= px1 and y1 <= py1, "the product stays in its box"
            assert not any(boxes_overlap(p.box, t) for t in texts)
            assert not any(boxes_overlap(p.box, d) for d in scene.decorations if d[3] - d[1] < (py1 - py0) // 2)
            assert p.scale <= 1.0, "never upscaled past the packshot's own pixels"
        for i, a in enumerate(scene.decorations):
            assert not any(boxes_overlap(a, t) for t in texts)
            assert not any(boxes_overlap(a, b) for b in scene.decorations[i + 1:])
        if scene.panel is not None:
            assert not any(boxes_overlap(scene.panel, p.box) for p in scene.placements)
        for t in texts:
            assert not any(boxes_overlap(t, u) for u in texts if u is not t and {t, u} != {lay.headline, lay.logo})
        # the product fills its box on the limiting side (92–97 %), unless its own pixels run out
        boxes = [p.box for p in scene.placements]
        ux0, uy0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
        ux1, uy1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
        fill = max((ux1 - ux0) / (px1 - px0), (uy1 - uy0) / (py1 - py0))
        assert fill >= 0.85 or scene.notes, (fmt.name, fill)


def test_story_keeps_the_text_free_zones_and_the_product_out_of_them(gen):
    img, scene = gen.render(make_job(0, STORY, packshots=("saleor-apple-drink.webp",), folder=PACKSHOTS))
    top, bottom = scene.layout.text_free
    assert top == (0, 0, 540, round(0.14 * 960)) and bottom == (0, 960 - round(0.20 * 960), 540, 960)
    for b in [scene.layout.headline, scene.layout.bottom, scene.layout.logo] + [p.box for p in scene.placements]:
        assert not boxes_overlap(b, top) and not boxes_overlap(b, bottom)


def test_small_packshot_is_not_upscaled_and_a_note_says_so(gen):
    big = FormatSpec(name="big", width=1080, height=1080)
    img, scene = gen.render(make_job(0, big, packshots=("saleor-apple-drink.png",)))  # the 576-px packshot
    assert scene.placements[0].scale == 1.0
    cut = load_cutout(IMAGES / "saleor-apple-drink.png", sha256_file(IMAGES / "saleor-apple-drink.png"))
    x0, y0, x1, y1 = scene.placements[0].box
    assert (x1 - x0, y1 - y0) == cut.size
    assert scene.notes and "not upscaled" in scene.notes[0] and "saleor-apple-drink.png" in scene.notes[0]
    _, small = gen.render(make_job(0, SQUARE, packshots=("saleor-apple-drink.webp",), folder=PACKSHOTS))
    assert small.placements[0].scale < 1.0 and not small.notes


@pytest.mark.parametrize("look", [{}, AUTUMN], ids=["studio", "autumn"])
def test_product_pixels_match_the_packshot(gen, look):
    """The product keeps its own colours: the autumn brief's golden light warms the scene, never the product."""
    job = make_job(3, FormatSpec(name="big", width=1080, height=1080), packshots=("saleor-apple-drink.png",), **look)
    img, scene = gen.render(job)
    assert scene.look.warmth == (1.0 if look else 0.0)
    cut = np.asarray(load_cutout(job.references[0].path, job.references[0].sha256))
    x0, y0, x1, y1 = scene.placements[0].box
    out = np.asarray(img)[y0:y1, x0:x1]
    solid = cut[..., 3] == 255
    # at scale 1 the opaque product pixels are pasted as they are, whatever the light
    assert np.abs(out[solid].astype(int) - cut[..., :3][solid].astype(int)).max() <= 1


def test_the_exact_primary_is_present_as_the_brand_panel(gen):
    for seed in range(3):
        img, scene = gen.render(make_job(seed, SQUARE, packshots=("saleor-blue-hoodie.webp",), folder=PACKSHOTS))
        a = np.asarray(img)
        assert scene.panel is not None
        x0, y0, x1, y1 = scene.panel
        assert np.all(a[y0:y1, x0:x1] == hex_to_rgb(SALEOR[0])), "the panel is the exact primary (ΔE00 = 0)"
        assert (y1 - y0) * (x1 - x0) >= 0.1 * a.shape[0] * a.shape[1]


def test_the_brief_changes_the_look(gen):
    studio = make_job(0, SQUARE, packshots=("saleor-apple-drink.webp",), folder=PACKSHOTS,
                      scene="Studio packshot on a seamless backdrop", lighting="large softbox from the upper left")
    autumn = make_job(0, SQUARE, packshots=("saleor-apple-drink.webp",), folder=PACKSHOTS,
                      palette=SALEOR + ("#B4532A", "#D9962B"), **AUTUMN)
    ls, la = parse_look(studio), parse_look(autumn)
    assert (ls.setting, ls.warmth, ls.leaves, ls.hard) == ("studio", 0.0, False, False) and ls.light_from == "left"
    assert (la.setting, la.leaves, la.light_from) == ("lifestyle", True, "left") and la.warmth == 1.0
    img_s, sc_s = gen.render(studio)
    img_a, sc_a = gen.render(autumn)
    assert len(sc_a.decorations) >= 1 and not sc_s.decorations, "leaves in autumn only"
    def warmth(img, scene):  # mean (R − B) of the backdrop above the panel
        a = np.asarray(img).astype(int)[: scene.layout.product[3]]
        return float((a[..., 0] - a[..., 2]).mean())
    assert warmth(img_a, sc_a) > warmth(img_s, sc_s) + 25
    assert parse_look(make_job(0, lighting="hard sun from the right")).hard is True
    assert parse_look(make_job(0, action="on a low plinth")).plinth is True


def test_seeds_vary_the_backdrop_but_always_separate(gen):
    seen = set()
    for seed in range(6):
        _, scene = gen.render(make_job(seed, SQUARE, packshots=("saleor-white-hoodie.webp",), folder=PACKSHOTS))
        assert scene.separation >= SEPARATION_MIN
        seen.add(scene.surface)
    assert len(seen) >= 2


# --------------------------------------------------------------------------- packshot handling
def test_cutout_cache_and_baked_shadow_trimmed():
    r = ref("saleor-apple-drink.png")
    a = load_cutout(r.path, r.sha256)
    assert load_cutout(r.path, r.sha256) is a, "decoded once per (path, sha256)"
    alpha = np.asarray(a)[..., 3]
    # the packshot's own floating shadow (alpha < 160, far below the bottle) is cut off
    assert (alpha[-3:] > 160).any()
    assert a.height < 430


def test_threads_asking_for_one_packshot_together_get_one_cut_out(monkeypatch, at_once):
    """The pool's workers start on one product's creatives together: one decode and cut-out, shared, not one each."""
    import time

    from brandflow.generators import compositor

    clear_cutout_cache()
    decodes, load = [], compositor.load_rgba
    monkeypatch.setattr(compositor, "load_rgba", lambda *a, **k: decodes.append(a) or time.sleep(0.2) or load(*a, **k))
    r = ref("saleor-apple-drink.png")
    cuts = at_once(lambda: load_cutout(r.path, r.sha256))
    assert len(decodes) == 1 and len(cuts) == 4 and all(c is cuts[0] for c in cuts)


def test_opaque_packshot_on_a_plain_backdrop_is_keyed_out(tmp_path):
    im = Image.new("RGB", (300, 300), (250, 250, 250))
    im.paste((200, 30, 30), (100, 80, 200, 220))  # a 100 × 140 red product on a white studio backdrop
    path = tmp_path / "opaque.jpg"
    im.save(path, quality=95)
    cut = load_cutout(path, sha256_file(path))
    assert abs(cut.width - 100) <= 2 and abs(cut.height - 140) <= 2
    a = np.asarray(cut)
    assert a[70, 50, 3] == 255 and tuple(a[70, 50, :3]) == pytest.approx((200, 30, 30), abs=4)
    # a busy opaque photo has no plain backdrop: it is used whole, as a rectangle
    noise = np.random.default_rng(0).integers(0, 256, (120, 90, 3), dtype=np.uint8)
    path2 = tmp_path / "photo.png"
    Image.fromarray(noise).save(path2)
    cut2 = load_cutout(path2, sha256_file(path2))
    assert cut2.size == (90, 120) and np.asarray(cut2)[..., 3].min() == 255


def test_unreadable_packshot_is_an_image_error(tmp_path, gen):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    job = make_job(0).model_copy(update={"references": [ReferenceImage(path=bad, role="primary_packshot", sha256="0" * 64)]})
    with pytest.raises(ImageError, match="bad.png"):
        gen.generate(job, tmp_path / "o.png")


def test_no_packshot_reference_is_a_clear_error(tmp_path, gen):
    job = make_job(0).model_copy(update={"references": [ref("saleor-apple-drink.png", "logo")]})
    with pytest.raises(ValueError, match="no primary_packshot"):
        gen.generate(job, tmp_path / "o.png")


def test_options_are_checked():
    with pytest.raises(ValueError, match="generator.options"):
        CompositorGenerator({"shadows": True})
    with pytest.raises(ValueError, match="scale"):
        CompositorGenerator({"scale": 3})
    assert CompositorGenerator({"shadow": False, "scale": 0.9}).scale == 0.9


def test_registered_through_the_entry_point():
    from brandflow import registry

    assert registry.load("generator", "compositor") is CompositorGenerator
