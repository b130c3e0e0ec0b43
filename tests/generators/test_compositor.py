"""The compositor backend: determinism, distinct variants, product pixels, exact brand colour, text bands, hints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.errors import ImageError
from brandflow.records import Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec
from brandflow.generators.base import Generator
from brandflow.generators.compositor import CompositorGenerator, clear_cutout_cache, load_cutout, parse_hints
from brandflow.compose.layout import BOTTOM_BAND, TOP_BAND, hex_to_rgb, product_zone

IMAGES = Path(__file__).resolve().parents[2] / "examples" / "saleor" / "images"
SALEOR = ("#1864EC", "#241F3E", "#448EF4", "#EEEEEC")
SQUARE = FormatSpec(name="square", width=1080, height=1080)
STORY = FormatSpec(name="story", width=1080, height=1920)
PORTRAIT = FormatSpec(name="portrait", width=1080, height=1350)
PLIMSOLLS = ("saleor-white-plimsolls-1.png", "saleor-white-plimsolls-2.png")


def ref(name: str, role: str = "primary_packshot") -> ReferenceImage:
    return ReferenceImage(path=IMAGES / name, role=role, sha256=sha256_file(IMAGES / name))  # type: ignore[arg-type]


def make_job(seed: int = 0, fmt: FormatSpec = SQUARE, palette=SALEOR, packshots=("saleor-apple-drink.png",),
             composition: str = "", background: str = "", lighting: str = "", action: str = "") -> Job:
    refs = [ref(p, "primary_packshot" if i == 0 else "alternate_view") for i, p in enumerate(packshots)]
    return Job(
        campaign="t", product_id="p", product_title="P", format=fmt, variant=0, seed=seed, backend="compositor",
        references=refs,
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="the product", action=action)],
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
    assert (a.width, a.height) == (1080, 1920) and a.path == tmp_path / "a.png" and a.seconds > 0


def test_seeds_give_distinct_layouts_and_backgrounds(tmp_path, gen):
    scenes = {s: gen.render(make_job(s, SQUARE, packshots=PLIMSOLLS))[1] for s in range(12)}
    shas = {gen.generate(make_job(s, SQUARE, packshots=PLIMSOLLS), tmp_path / f"{s}.png").sha256 for s in range(12)}
    assert len(shas) == 12, "every seed gives a different image"
    assert len({sc.layout for sc in scenes.values()}) >= 3
    assert len({sc.background for sc in scenes.values()}) >= 3
    # the product really moves: the primary packshot's box differs between seeds by tens of pixels
    boxes = [next(p.box for p in sc.placements if p.role == "primary_packshot") for sc in scenes.values()]
    spread = np.ptp(np.array(boxes), axis=0)
    assert spread.max() > 60
    # and the pixels differ a lot, not just by noise
    x = np.asarray(Image.open(tmp_path / "0.png"), float)
    y = np.asarray(Image.open(tmp_path / "1.png"), float)
    assert np.abs(x - y).mean() > 5


def test_alpha_bounding_box_moves_between_seeds(gen):
    """Measured on the pixels, not the scene record: where the product (non-background) pixels are."""
    boxes = []
    for s in range(40):
        img, scene = gen.render(make_job(s, SQUARE, palette=("#FF00FF",), background="plain"))  # magenta: not in the packshot
        if scene.background != "flat":
            continue
        a = np.asarray(img).astype(int)
        fg = np.abs(a - np.array([255, 0, 255])).sum(-1) > 60
        ys, xs = np.nonzero(fg)
        boxes.append((xs.min(), ys.min(), xs.max(), ys.max()))
    assert len(boxes) >= 3 and len(set(boxes)) == len(boxes)


@pytest.mark.parametrize("packshots", [("saleor-apple-drink.png",), PLIMSOLLS])
def test_product_pixels_match_the_packshot(gen, packshots):
    """Where the resized cut-out is opaque, the output is exactly the packshot's pixels."""
    for seed in range(8):
        job = make_job(seed, SQUARE, packshots=packshots)
        img, scene = gen.render(job)
        out = np.asarray(img).astype(int)
        for p in scene.placements:
            if p.angle:
                continue  # flat lay rotates the cut-out; covered by the colour test below
            r = job.references[p.ref]
            x0, y0, x1, y1 = p.box
            cut = load_cutout(r.path, r.sha256).resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
            c = np.asarray(cut).astype(int)
            opaque = c[..., 3] == 255
            assert opaque.mean() > 0.3
            diff = np.abs(out[y0:y1, x0:x1][opaque] - c[..., :3][opaque])
            assert diff.max() == 0


def test_packshot_colours_present_even_rotated(gen):
    """Independent of the scene record: the bottle's green appears in every variant (incl. flat lay)."""
    packshot = np.asarray(Image.open(IMAGES / "saleor-apple-drink.png").convert("RGBA"))
    green = packshot[..., :3][(packshot[..., 3] == 255) & (packshot[..., 1].astype(int) > packshot[..., 0].astype(int) + 60)]
    assert len(green) > 1000
    sample = green[:: max(1, len(green) // 64)].astype(float)
    for seed in range(4):
        job = make_job(seed, SQUARE, composition="flat lay" if seed % 2 else "")
        out = np.asarray(gen.render(job)[0])[::4, ::4].astype(float)
        near = np.linalg.norm(out[..., None, :] - sample[None, None], axis=-1).min(-1) < 12
        assert near.mean() > 0.02


@pytest.mark.parametrize("fmt", [SQUARE, STORY, PORTRAIT])
def test_exact_sizes_rgb_png(tmp_path, gen, fmt):
    out = gen.generate(make_job(3, fmt), tmp_path / "g.png")
    with Image.open(out.path) as im:
        assert im.format == "PNG" and im.mode == "RGB" and im.size == (fmt.width, fmt.height)
    assert (out.width, out.height) == (fmt.width, fmt.height)


def _has_flat_square(img: np.ndarray, rgb: tuple[int, int, int], side: int) -> bool:
    """Whether some ``side × side`` pixel square is exactly ``rgb`` (erosion of the exact-colour mask)."""
    import cv2

    mask = np.all(img == np.array(rgb), axis=-1).astype(np.uint8)
    return bool(cv2.erode(mask, np.ones((side, side), np.uint8), borderValue=0).any())


@pytest.mark.parametrize("fmt", [SQUARE, STORY, PORTRAIT])
def test_exact_primary_is_a_large_flat_area_in_every_variant(gen, fmt):
    primary = hex_to_rgb(SALEOR[0])
    for seed in range(10):
        img, scene = gen.render(make_job(seed, fmt, packshots=PLIMSOLLS))
        a = np.asarray(img)
        assert np.all(a == primary, axis=-1).mean() > 0.25, (seed, scene.layout, scene.background)
        assert _has_flat_square(a, primary, round(0.15 * min(fmt.width, fmt.height))), (seed, scene)


def test_second_and_accent_colours_appear_flat_when_used(gen):
    """Floor panels, cards, plinths and shapes use palette colours exactly (ΔE00 = 0 for colour QA)."""
    palette = {hex_to_rgb(c) for c in SALEOR}
    seen = set()
    for seed in range(24):
        img, scene = gen.render(make_job(seed, SQUARE, action="on a plinth in #241F3E"))
        a = np.asarray(img)
        used = {"floor": scene.second, "shapes": scene.accent}.get(scene.background)
        for name, colour in (("plinth", scene.plinth), (scene.background, used)):
            if colour is None:
                continue
            assert colour in palette
            assert np.all(a == colour, axis=-1).mean() > 0.01, (seed, scene)
            seen.add(name)
    assert {"floor", "shapes", "plinth"} <= seen


@pytest.mark.parametrize("fmt", [SQUARE, STORY, PORTRAIT])
@pytest.mark.parametrize("packshots", [("saleor-apple-drink.png",), PLIMSOLLS, ("saleor-blue-hoodie.png",)])
def test_product_stays_out_of_the_text_bands(gen, fmt, packshots):
    w, h = fmt.width, fmt.height
    zx0, zy0, zx1, zy1 = product_zone(w, h)
    assert zy0 == round(TOP_BAND * h) and zy1 == round((1 - BOTTOM_BAND) * h)
    for seed in range(12):
        job = make_job(seed, fmt, packshots=packshots, composition="flat lay" if seed % 5 == 0 else "")
        img, scene = gen.render(job)
        for p in scene.placements:
            x0, y0, x1, y1 = p.box
            assert zx0 <= x0 < x1 <= zx1 and zy0 <= y0 < y1 <= zy1, (seed, scene.layout, p)


def test_pair_and_diagonal_use_the_alternate_view(gen):
    roles = set()
    for seed in range(30):
        scene = gen.render(make_job(seed, SQUARE, packshots=PLIMSOLLS))[1]
        if scene.layout in ("pair", "diagonal"):
            roles |= {p.role for p in scene.placements}
    assert roles == {"primary_packshot", "alternate_view"}
    # one packshot: never a pair
    assert all(gen.render(make_job(s, SQUARE))[1].layout != "pair" for s in range(20))


# --------------------------------------------------------------------------- prompt hints
@pytest.mark.parametrize(
    ("composition", "layout"),
    [
        ("product on the right third, open backdrop on the left for copy", "right"),
        ("product on the left third, open backdrop on the right for copy", "left"),
        ("open backdrop on the left for copy", "right"),
        ("the setting opening up on the right for copy", "left"),
        ("product centred, filling about 60% of the frame height", "hero"),
        ("centered hero shot", "hero"),
        ("symmetrical, in the center", "hero"),
        ("flat lay, top-down", "flatlay"),
        ("two views side by side", "pair"),
        ("a diagonal composition", "diagonal"),
    ],
)
def test_composition_hints(composition, layout):
    hints = parse_hints(make_job(0, composition=composition))
    assert max(hints.layout, key=hints.layout.get) == layout


def test_hints_bias_but_do_not_force_the_layout(gen):
    layouts = [gen.render(make_job(s, SQUARE, packshots=PLIMSOLLS, composition="product on the left third"))[1].layout for s in range(30)]
    assert layouts.count("left") >= 12
    assert len(set(layouts)) >= 2, "variants still differ"


def test_background_lighting_and_plinth_hints():
    h = parse_hints(make_job(0, background="a soft gradient backdrop", lighting="key light from the upper left",
                             action="resting on a low round plinth in #241F3E"))
    assert max(h.background, key=h.background.get) == "gradient"
    assert h.light_from == "left" and h.plinth == (0x24, 0x1F, 0x3E)
    assert parse_hints(make_job(0, background="geometric shapes")).background == {"shapes": 4.0}
    assert parse_hints(make_job(0, background="seamless paper, no props")).background["flat"] > 1


# --------------------------------------------------------------------------- packshot handling
def test_cutout_cache_and_baked_shadow_trimmed():
    r = ref("saleor-apple-drink.png")
    a = load_cutout(r.path, r.sha256)
    assert load_cutout(r.path, r.sha256) is a, "decoded once per (path, sha256)"
    alpha = np.asarray(a)[..., 3]
    # the packshot's own floating shadow (alpha < 160, far below the bottle) is cut off
    assert (alpha[-3:] > 160).any()
    assert a.height < 430


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
