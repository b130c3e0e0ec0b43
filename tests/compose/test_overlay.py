"""compose: exact sizes, exact text inside the safe margin, WCAG contrast on any background, recorded regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from brandflow.qa.text import ned
from brandflow.records import GeneratedImage, Job, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import BrandColour, BrandKit, FormatSpec, OverlaySpec, load_brand_kit
from brandflow.compose.overlay import BOLD, MIN_FONT_PX_AT_1080, background_stats, compose, pick_text_colour
from brandflow.generators.compositor import CompositorGenerator
from brandflow.colour import contrast_ratio, hex_to_rgb, wcag_luminance
from brandflow.compose.layout import BOTTOM_BAND, TOP_BAND, bottom_rows, frame_layout

IMAGES = Path(__file__).resolve().parents[2] / "examples" / "saleor" / "images"
SALEOR = ("#1864EC", "#241F3E", "#448EF4", "#EEEEEC")
SQUARE = FormatSpec(name="square", width=1080, height=1080)
STORY = FormatSpec(name="story", width=1080, height=1920)
PORTRAIT = FormatSpec(name="portrait", width=1080, height=1350)
PORTRAIT_JPEG = FormatSpec(name="feed", width=1080, height=1350, file_type="jpeg")


def make_job(seed: int, fmt: FormatSpec, palette=SALEOR, packshots=("saleor-apple-drink.png",), **overlay: str) -> Job:
    refs = [
        ReferenceImage(path=IMAGES / p, role="primary_packshot" if i == 0 else "alternate_view", sha256=sha256_file(IMAGES / p))
        for i, p in enumerate(packshots)
    ]
    return Job(
        campaign="t", product_id="apple-juice", product_title="Apple Juice", format=fmt, variant=0, seed=seed,
        backend="compositor", references=refs,
        prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="bottle")], color_palette=list(palette)),
        overlay={"headline": "Apple Juice", "price": "$1.99", "cta": "Shop now", **overlay},
    )


@pytest.fixture(scope="module")
def brand(example_dir) -> BrandKit:
    return load_brand_kit(example_dir / "brand.yaml")


@pytest.fixture(scope="module")
def gen() -> CompositorGenerator:
    return CompositorGenerator({})


def _native(tmp_path: Path, size: tuple[int, int], fill) -> GeneratedImage:
    """A 'model output' at some native size: a solid colour or an (H, W, 3) uint8 array."""
    path = tmp_path / f"native-{size[0]}x{size[1]}.png"
    im = Image.fromarray(fill) if isinstance(fill, np.ndarray) else Image.new("RGB", size, fill)
    im.save(path)
    return GeneratedImage(path=path, width=im.width, height=im.height, sha256=sha256_file(path))


def _check_layout(creative, fmt: FormatSpec, overlay: OverlaySpec, texts: dict | None = None) -> None:
    m = round(overlay.safe_margin * min(fmt.width, fmt.height))
    rows = bottom_rows(texts or {r.slot: r.text for r in creative.regions}, fmt.width, fmt.height, overlay.safe_margin)
    lay = frame_layout(fmt.width, fmt.height, overlay.safe_margin, fmt.text_free_top, fmt.text_free_bottom, rows)
    boxes = [r.box for r in creative.regions]
    for r in creative.regions:
        assert m <= r.box.x0 < r.box.x1 <= fmt.width - m, r
        assert m <= r.box.y0 < r.box.y1 <= fmt.height - m, r
        slot = lay.headline if r.slot == "headline" else lay.bottom
        assert slot[0] <= r.box.x0 and slot[1] <= r.box.y0 and r.box.x1 <= slot[2] and r.box.y1 <= slot[3], (r, slot)
        assert r.contrast >= overlay.min_contrast
        assert r.font_px >= round(MIN_FONT_PX_AT_1080 * min(fmt.width, fmt.height) / 1080)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0, "text regions never overlap"


# --------------------------------------------------------------------------- WCAG formulas
def test_wcag_relative_luminance_and_contrast_ratio():
    assert wcag_luminance((255, 255, 255)) == pytest.approx(1.0)
    assert wcag_luminance((0, 0, 0)) == 0.0
    assert contrast_ratio((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert contrast_ratio((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0)
    # known values: #777777 on white is 4.48:1 (just fails AA), #767676 is 4.54:1 (passes)
    assert contrast_ratio(hex_to_rgb("#777777"), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio(hex_to_rgb("#767676"), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


def test_pick_text_colour_prefers_the_brand_text_colour(brand):
    assert pick_text_colour([(255, 255, 255)], brand, 4.5)[0] == hex_to_rgb("#241F3E")  # ink navy on white
    assert pick_text_colour([(17, 17, 17)], brand, 4.5)[0] == (255, 255, 255)
    colour, ratio = pick_text_colour([(0, 0, 0), (255, 255, 255)], brand, 4.5)
    assert ratio < 4.5  # black and white behind the text at once: nothing works → the caller draws a plate


def test_background_stats_mode_and_extremes():
    a = np.zeros((10, 10, 3), np.uint8)
    a[:, :2] = 255
    mode, (dark, light) = background_stats(Image.fromarray(a), (0, 0, 10, 10))
    assert mode == (0, 0, 0) and dark == (0, 0, 0) and light == (255, 255, 255)


# --------------------------------------------------------------------------- sizes and regions
@pytest.mark.parametrize("fmt", [SQUARE, STORY, PORTRAIT, PORTRAIT_JPEG])
def test_exact_sizes_and_regions(tmp_path, brand, gen, fmt):
    overlay = OverlaySpec()
    for seed in (5, 6):
        job = make_job(seed, fmt, packshots=("saleor-white-plimsolls-1.png", "saleor-white-plimsolls-2.png"))
        creative = compose(gen.generate(job, tmp_path / "g.png"), job, brand, overlay, tmp_path / f"c{seed}.{fmt.file_type}")
        with Image.open(creative.path) as im:
            assert im.size == (fmt.width, fmt.height) and im.format == {"png": "PNG", "jpeg": "JPEG"}[fmt.file_type]
        assert (creative.width, creative.height, creative.file_type) == (fmt.width, fmt.height, fmt.file_type)
        assert creative.bytes == creative.path.stat().st_size and creative.sha256 == sha256_file(creative.path)
        assert [r.slot for r in creative.regions] == ["headline", "price", "cta"]
        assert [r.text for r in creative.regions] == ["Apple Juice", "$1.99", "Shop now"]
        _check_layout(creative, fmt, overlay)


def test_compose_is_deterministic(tmp_path, brand, gen):
    job = make_job(3, SQUARE)
    g = gen.generate(job, tmp_path / "g.png")
    a = compose(g, job, brand, OverlaySpec(), tmp_path / "a.png")
    b = compose(g, job, brand, OverlaySpec(), tmp_path / "b.png")
    assert a.sha256 == b.sha256 and a.regions == b.regions


@pytest.mark.parametrize(("native", "fmt"), [((768, 1360), STORY), ((1024, 1024), PORTRAIT), ((1360, 768), SQUARE), ((512, 512), STORY)])
def test_other_native_sizes_become_the_exact_format(tmp_path, brand, native, fmt):
    job = make_job(6, fmt)
    creative = compose(_native(tmp_path, native, "#1864EC"), job, brand, OverlaySpec(), tmp_path / "c.png")
    assert (creative.width, creative.height) == (fmt.width, fmt.height)
    assert Image.open(creative.path).size == (fmt.width, fmt.height)
    _check_layout(creative, fmt, OverlaySpec())


def test_cover_crop_is_centred_not_stretched(tmp_path, brand):
    """A wide native image: the centre stays, the sides are cropped (a centred disc stays round)."""
    im = Image.new("RGB", (1600, 800), "#FFFFFF")
    ImageDraw.Draw(im).ellipse([600, 200, 1000, 600], fill="#FF0000")
    job = make_job(0, SQUARE, headline="", price="", cta="")
    creative = compose(_native(tmp_path, im.size, np.asarray(im)), job, brand, OverlaySpec(), tmp_path / "c.png")
    out = np.asarray(Image.open(creative.path).convert("RGB")).astype(int)
    red = (out[..., 0] > 200) & (out[..., 1] < 60)
    ys, xs = np.nonzero(red)
    assert abs((xs.max() - xs.min()) - (ys.max() - ys.min())) <= 3, "not stretched"
    assert abs((xs.max() + xs.min()) / 2 - 540) <= 3 and abs((ys.max() + ys.min()) / 2 - 540) <= 3, "centred"


# --------------------------------------------------------------------------- contrast
@pytest.mark.parametrize("background", ["#FFFFFF", "#111111", "#808080", "#1864EC", "#FFD400"])
@pytest.mark.parametrize("min_contrast", [4.5, 7.0])
def test_contrast_holds_on_light_dark_and_mid_backgrounds(tmp_path, brand, gen, background, min_contrast):
    job = make_job(7, SQUARE, palette=(background, "#241F3E"))
    overlay = OverlaySpec(min_contrast=min_contrast)
    # a flat field (the compositor's backdrops are lit gradients, whose most common pixel means little)
    creative = compose(_native(tmp_path, (1080, 1080), background), job, brand, overlay, tmp_path / "c.png")
    img = np.asarray(Image.open(creative.path).convert("RGB")).astype(int)
    for r in creative.regions:
        assert r.contrast >= min_contrast
        assert contrast_ratio(hex_to_rgb(r.fg), hex_to_rgb(r.bg)) >= min_contrast
        # the recorded background is what is really behind the text: the box's most common colour
        crop = img[r.box.y0 : r.box.y1, r.box.x0 : r.box.x1].reshape(-1, 3)
        colours, counts = np.unique(crop, axis=0, return_counts=True)
        assert np.abs(colours[counts.argmax()] - np.array(hex_to_rgb(r.bg))).max() <= 1
        # and the text pixels are the recorded text colour
        assert (np.abs(crop - np.array(hex_to_rgb(r.fg))).max(-1) <= 1).mean() > 0.05


def test_light_and_dark_backgrounds_pick_dark_and_light_text(tmp_path, brand):
    light = compose(_native(tmp_path, (1080, 1080), "#FFFFFF"), make_job(0, SQUARE), brand, OverlaySpec(), tmp_path / "l.png")
    dark = compose(_native(tmp_path, (1080, 1080), "#101010"), make_job(0, SQUARE), brand, OverlaySpec(), tmp_path / "d.png")
    head_l = next(r for r in light.regions if r.slot == "headline")
    head_d = next(r for r in dark.regions if r.slot == "headline")
    assert head_l.fg == "#241F3E" and head_l.bg == "#FFFFFF"  # the brand's text colour
    assert head_d.fg == "#FFFFFF" and head_d.bg == "#101010"


def test_busy_background_gets_a_plate(tmp_path, brand):
    """Black/white stripes behind the text: no colour reaches 4.5 over both, so a plate is drawn."""
    a = np.zeros((1080, 1080, 3), np.uint8)
    a[:, ::8] = 255
    a[:, 1::8] = 255
    a[:, 2::8] = 255
    a[:, 3::8] = 255
    creative = compose(_native(tmp_path, (1080, 1080), a), make_job(0, SQUARE), brand, OverlaySpec(), tmp_path / "c.png")
    img = np.asarray(Image.open(creative.path).convert("RGB")).astype(int)
    for r in creative.regions:
        if r.slot == "cta":
            continue  # the button is its own plate
        assert r.bg == "#EEEEEC", "plate in the brand background colour"
        crop = img[r.box.y0 : r.box.y1, r.box.x0 : r.box.x1]
        # inside the box there are only plate and text colours (and their anti-aliasing), no stripes
        plate = np.abs(crop - np.array(hex_to_rgb(r.bg))).max(-1) <= 1
        text = np.abs(crop - np.array(hex_to_rgb(r.fg))).max(-1) <= 1
        assert (plate | text).mean() > 0.8
        assert r.contrast >= 4.5


def test_cta_is_a_button_in_the_accent_colour(tmp_path, brand):
    """On a white background the sky-blue accent stands out: the CTA button uses it, navy text on it."""
    creative = compose(_native(tmp_path, (1080, 1080), "#FFFFFF"), make_job(0, SQUARE), brand, OverlaySpec(), tmp_path / "c.png")
    cta = next(r for r in creative.regions if r.slot == "cta")
    assert cta.bg == "#448EF4" and cta.contrast >= 4.5
    img = np.asarray(Image.open(creative.path).convert("RGB")).astype(int)
    # the button extends beyond the text box on every side (the box is the text's, not the button's)
    b = cta.box
    for x, y in ((b.x0 - 5, (b.y0 + b.y1) // 2), (b.x1 + 5, (b.y0 + b.y1) // 2), ((b.x0 + b.x1) // 2, b.y0 - 5), ((b.x0 + b.x1) // 2, b.y1 + 5)):
        assert tuple(img[y, x]) == (0x44, 0x8E, 0xF4)


def test_button_colour_changes_when_the_accent_would_vanish(tmp_path, brand):
    creative = compose(_native(tmp_path, (1080, 1080), "#448EF4"), make_job(0, SQUARE), brand, OverlaySpec(), tmp_path / "c.png")
    cta = next(r for r in creative.regions if r.slot == "cta")
    assert cta.bg != "#448EF4" and contrast_ratio(hex_to_rgb(cta.bg), hex_to_rgb("#448EF4")) >= 1.8


# --------------------------------------------------------------------------- text fitting
def test_long_headline_wraps_to_two_lines_exactly(tmp_path, brand, gen):
    text = "Headless and Omnichannel commerce in a pill for every team"
    job = make_job(8, SQUARE, headline=text)
    creative = compose(gen.generate(job, tmp_path / "g.png"), job, brand, OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert head.text == text
    assert head.box.y1 - head.box.y0 > 1.5 * head.font_px, "wrapped onto more than one line"
    _check_layout(creative, SQUARE, OverlaySpec())


def test_very_long_headline_uses_three_lines_then_fails_clearly(tmp_path, brand):
    bg = _native(tmp_path, (1080, 1080), "#1864EC")
    two = "Our complete collection of organic cold pressed juices and smoothies, delivered to your door every week"
    creative = compose(bg, make_job(0, SQUARE, headline=two), brand, OverlaySpec(), tmp_path / "c.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert head.text == two and 28 <= head.font_px < 40 and head.box.y1 - head.box.y0 < 2.5 * head.font_px  # 2 lines
    three = two + ", free returns on every single order"
    creative = compose(bg, make_job(0, SQUARE, headline=three), brand, OverlaySpec(), tmp_path / "c3.png")
    head = next(r for r in creative.regions if r.slot == "headline")
    assert head.text == three and head.font_px >= 28
    assert head.box.y1 - head.box.y0 > 2.5 * head.font_px  # 3 lines, because 2 do not fit at 28 px
    _check_layout(creative, SQUARE, OverlaySpec())
    huge = " ".join(["Supercalifragilistic"] * 30)
    with pytest.raises(ValueError, match=rf"overlay.headline: {len(huge)} characters"):
        compose(bg, make_job(0, SQUARE, headline=huge), brand, OverlaySpec(), tmp_path / "h.png")


def test_long_price_and_cta_stack_without_overlap(tmp_path, brand):
    job = make_job(0, SQUARE, price="From 1,299.00 CHF per month", cta="Discover the whole collection")
    creative = compose(_native(tmp_path, (1080, 1080), "#1864EC"), job, brand, OverlaySpec(), tmp_path / "c.png")
    price = next(r for r in creative.regions if r.slot == "price")
    cta = next(r for r in creative.regions if r.slot == "cta")
    assert price.box.y1 <= cta.box.y0, "stacked: price above the button"
    _check_layout(creative, SQUARE, OverlaySpec())


def test_empty_slots_draw_nothing(tmp_path, brand):
    bg = _native(tmp_path, (1080, 1080), "#1864EC")
    creative = compose(bg, make_job(0, SQUARE, price="", cta=""), brand, OverlaySpec(), tmp_path / "c.png")
    assert [r.slot for r in creative.regions] == ["headline"]
    img = np.asarray(Image.open(creative.path).convert("RGB"))
    assert np.all(img[round(1080 * (1 - BOTTOM_BAND)) :] == hex_to_rgb("#1864EC"))
    blank = compose(bg, make_job(0, SQUARE, headline="", price="", cta=""), brand, OverlaySpec(), tmp_path / "b.png")
    assert blank.regions == []


def test_wider_safe_margin_is_respected(tmp_path, brand, gen):
    overlay = OverlaySpec(safe_margin=0.12)
    job = make_job(2, STORY)
    creative = compose(gen.generate(job, tmp_path / "g.png"), job, brand, overlay, tmp_path / "c.png")
    _check_layout(creative, STORY, overlay)
    assert min(r.box.x0 for r in creative.regions) >= round(0.12 * 1080)


# --------------------------------------------------------------------------- logo and fonts
def _logo(tmp_path: Path, colour=(255, 255, 255, 255)) -> Path:
    im = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    ImageDraw.Draw(im).rounded_rectangle([10, 10, 290, 90], radius=20, fill=colour)
    path = tmp_path / "logo.png"
    im.save(path)
    return path


def test_logo_in_the_top_right_corner_and_the_headline_wraps_short_of_it(tmp_path):
    brand = load_brand_kit(Path(__file__).resolve().parents[2] / "examples" / "saleor" / "brand.yaml")
    brand = brand.model_copy(update={"logo": _logo(tmp_path)})
    overlay = OverlaySpec(logo=True)
    job = make_job(0, SQUARE, headline="Headless and Omnichannel commerce in a pill")
    creative = compose(_native(tmp_path, (1080, 1080), "#1864EC"), job, brand, overlay, tmp_path / "c.png")
    img = np.asarray(Image.open(creative.path).convert("RGB"))
    m = round(0.06 * 1080)
    white = np.all(img == 255, axis=-1)
    ys, xs = np.nonzero(white[: round(TOP_BAND * 1080)])
    assert xs.max() <= 1080 - m and ys.min() >= m
    head = next(r for r in creative.regions if r.slot == "headline")
    # the logo: the white right of the headline's box, flush with the safe margin, with clear space before it
    logo = white[: round(TOP_BAND * 1080), head.box.x1 :]
    lys, lxs = np.nonzero(logo)
    logo_x0 = head.box.x1 + lxs.min()
    assert 1080 - m - 15 <= head.box.x1 + lxs.max() < 1080 - m and logo_x0 > 540
    assert logo_x0 - head.box.x1 >= 0.5 * (lys.max() - lys.min()) - 2, "clear space: half the logo's height"
    _check_layout(creative, SQUARE, overlay)


def test_logo_requested_without_a_logo_is_an_error(tmp_path, brand):
    with pytest.raises(ValueError, match="no logo"):
        compose(_native(tmp_path, (1080, 1080), "#1864EC"), make_job(0, SQUARE), brand.model_copy(update={"logo": None}),
                OverlaySpec(logo=True), tmp_path / "c.png")


def test_brand_fonts_are_used(tmp_path):
    colours = [BrandColour(name="Red", hex="#CC0000", role="primary")]
    with_font = BrandKit(name="b", colours=colours, fonts={"headline": BOLD.with_name("DejaVuSans.ttf")})
    bg = _native(tmp_path, (1080, 1080), "#CC0000")
    a = compose(bg, make_job(0, SQUARE), with_font, OverlaySpec(), tmp_path / "a.png")
    b = compose(bg, make_job(0, SQUARE), BrandKit(name="b", colours=colours), OverlaySpec(), tmp_path / "b.png")
    wa = next(r for r in a.regions if r.slot == "headline").box
    wb = next(r for r in b.regions if r.slot == "headline").box
    assert (wa.x1 - wa.x0) < (wb.x1 - wb.x0), "regular is narrower than bold at the same size"


# --------------------------------------------------------------------------- tesseract-free reading
def _glyph_iou(img: np.ndarray, region) -> float:
    """Re-render a one-line region's text with the bundled bold font at its font_px and compare the ink
    masks (text-colour pixels) inside the recorded box: the box is tight and the text is that text."""
    from brandflow.compose.overlay import _font

    face = _font(str(BOLD), region.font_px, None, False)
    probe = Image.new("L", (region.box.x1 - region.box.x0 + 40, region.box.y1 - region.box.y0 + 40), 0)
    d = ImageDraw.Draw(probe)
    bb = face.bbox(region.text)
    face.draw(d, (20 - bb[0], 20 - bb[1]), region.text, 255)
    ref = np.asarray(probe)[20 : 20 + bb[3] - bb[1], 20 : 20 + bb[2] - bb[0]] > 127
    crop = img[region.box.y0 : region.box.y1, region.box.x0 : region.box.x1].astype(float)
    fg, bg = np.array(hex_to_rgb(region.fg), float), np.array(hex_to_rgb(region.bg), float)
    ink = np.linalg.norm(crop - fg, axis=-1) < np.linalg.norm(crop - bg, axis=-1)
    assert ink.shape == ref.shape, (ink.shape, ref.shape)
    return float((ink & ref).sum() / max(1, (ink | ref).sum()))


def test_drawn_text_matches_a_re_rendering_of_the_recorded_text(tmp_path, brand, gen):
    job = make_job(4, STORY)
    creative = compose(gen.generate(job, tmp_path / "g.png"), job, brand, OverlaySpec(), tmp_path / "c.png")
    img = np.asarray(Image.open(creative.path).convert("RGB"))
    for r in creative.regions:
        assert _glyph_iou(img, r) > 0.9, r.slot


def test_rapidocr_reads_every_region(tmp_path, brand, gen):
    """A second, Tesseract-free reader (PP-OCRv4 via RapidOCR) reads each recorded box back."""
    from brandflow.qa.scene_text import read_scene_text

    job = make_job(5, SQUARE, headline="Juicy Commerce Apple", price="$12.50", cta="Shop now")
    creative = compose(gen.generate(job, tmp_path / "g.png"), job, brand, OverlaySpec(), tmp_path / "c.png")
    img = np.asarray(Image.open(creative.path).convert("RGB"))
    for r in creative.regions:
        pad = max(8, r.font_px // 3)
        crop = img[max(0, r.box.y0 - pad) : r.box.y1 + pad, max(0, r.box.x0 - pad) : r.box.x1 + pad]
        read = read_scene_text(np.ascontiguousarray(crop)).text
        assert ned(read, r.text) >= 0.9, (r.slot, read)
