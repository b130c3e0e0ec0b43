"""Forbidden words searched per pasted source (read once per run) have the detection power of the whole-image reading.

A compositor creative records what it pasted (packshots, the logo): a forbidden word printed on a packshot is
still caught, by reading the packshot once and reusing it; an image a model drew (no record) is read whole, and a
forbidden word drawn into it is still caught.
"""

from __future__ import annotations

import dataclasses

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from brandflow.compose.overlay import compose
from brandflow.generators.compositor import CompositorGenerator
from brandflow.imageio import load_rgb
from brandflow.qa import label_text, source_text
from brandflow.qa.base import CheckContext
from brandflow.qa.text import TextCheck
from brandflow.records import Box, GeneratedImage, Job, PlacedImage, ReferenceImage, StructuredPrompt, Subject, sha256_file
from brandflow.spec import FormatSpec, OverlaySpec, load_brand_kit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "saleor"
FONT = ROOT / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"
SQUARE = FormatSpec(name="square", width=1080, height=1080)


@pytest.fixture(autouse=True)
def fresh_cache():
    source_text.clear_cache()
    label_text.clear_cache()
    yield
    source_text.clear_cache()
    label_text.clear_cache()


@pytest.fixture(scope="module")
def brand():
    return load_brand_kit(EXAMPLE / "brand.yaml")  # forbidden_words: cheap, guaranteed, miracle, "best ever"


def _printed_packshot(folder: Path, word: str | None, name: str = "box.png") -> Path:
    """The example's book packshot (576 × 576 RGBA) with ``word`` printed in ink on its cover, 34 px."""
    im = Image.open(EXAMPLE / "images" / "saleor-battle-tested-book.png").convert("RGBA")
    if word:
        d = ImageDraw.Draw(im)
        font = ImageFont.truetype(str(FONT), 34)
        x0, y0, x1, y1 = d.textbbox((0, 0), word, font=font)
        cx, cy = 288, 250
        d.rectangle([cx - (x1 - x0) // 2 - 10, cy - 8, cx + (x1 - x0) // 2 + 10, cy + (y1 - y0) + 14], fill=(245, 240, 230, 255))
        d.text((cx - (x1 - x0) // 2 - x0, cy - y0), word, font=font, fill=(20, 20, 30, 255))
    path = folder / name
    im.save(path)
    return path


def _job(packshot: Path, seed: int = 7) -> Job:
    return Job(campaign="t", product_id="book", product_title="Battle-tested book", format=SQUARE, variant=0, seed=seed,
               backend="compositor", references=[ReferenceImage(path=packshot, role="primary_packshot", sha256=sha256_file(packshot))],
               prompt=StructuredPrompt(scene="studio", subjects=[Subject(description="a book")], color_palette=["#1864EC", "#EEEEEC"]),
               overlay={"headline": "Battle-tested book", "price": "$12.00", "cta": "Shop now"})


def _creative(tmp_path: Path, job: Job, brand, tag: str):
    generated = CompositorGenerator({}).generate(job, tmp_path / f"gen-{tag}.png")
    return compose(generated, job, brand, OverlaySpec(logo=True), tmp_path / f"creative-{tag}.png")


def _ctx(creative, brand, cache: Path | None, by_source: bool = True) -> CheckContext:
    return CheckContext(path=creative.path, brand=brand, regions=tuple(creative.regions),
                        placed=tuple(creative.placed) if by_source and creative.placed is not None else None, cache_dir=cache)


def test_compositor_creatives_record_every_pasted_source(tmp_path, brand):
    creative = _creative(tmp_path, _job(_printed_packshot(tmp_path, None)), brand, "a")
    roles = [p.role for p in creative.placed]
    assert roles == ["primary_packshot", "logo"]
    pack, logo = creative.placed
    assert pack.sha256 == sha256_file(tmp_path / "box.png") and logo.sha256 == sha256_file(EXAMPLE / "logo.png")
    for p in creative.placed:  # inside the frame, not empty
        assert 0 <= p.box.x0 < p.box.x1 <= SQUARE.width and 0 <= p.box.y0 < p.box.y1 <= SQUARE.height


def test_forbidden_word_printed_on_a_packshot_is_caught_in_the_creative(tmp_path, brand):
    creative = _creative(tmp_path, _job(_printed_packshot(tmp_path, "MIRACLE")), brand, "a")
    image = load_rgb(creative.path)
    by_source = TextCheck().run(image, _ctx(creative, brand, tmp_path / "cache"))
    assert by_source.verdict == "fail" and by_source.metrics["forbidden_found"] == ["miracle"], by_source.reasons
    assert "forbidden word(s) in the image: miracle" in by_source.reasons
    assert "full_text" not in by_source.metrics  # no whole-image reading was made
    assert [(s["source"], s["engine"]) for s in by_source.metrics["forbidden_sources"]] == [
        ("box.png", "tesseract"), ("box.png", "rapidocr"), ("logo.png", "tesseract")]  # the packshot by both engines
    # (the whole-image reading it replaces, Tesseract --psm 11 over the 1080² creative, did not find this word:
    # bench/qa.py part (d) counts both methods over many packshots, words and sizes)


def test_a_clean_packshot_passes_and_its_reading_is_reused_in_memory_and_from_the_run_folder(tmp_path, brand, monkeypatch):
    pack = _printed_packshot(tmp_path, None)
    first = _creative(tmp_path, _job(pack, seed=1), brand, "a")
    second = _creative(tmp_path, _job(pack, seed=2), brand, "b")
    cache = tmp_path / "cache"
    reads = []  # on_matte runs once per source actually read (not reused)
    real = source_text.on_matte
    monkeypatch.setattr(source_text, "on_matte", lambda rgba: reads.append(1) or real(rgba))
    r1 = TextCheck().run(load_rgb(first.path), _ctx(first, brand, cache))
    assert r1.verdict == "pass", r1.reasons
    # packshot and logo each read once by Tesseract, the packshot once by the scene-text engine
    assert len(reads) == 2 and len(list(cache.glob("*.json"))) == 3
    r2 = TextCheck().run(load_rgb(second.path), _ctx(second, brand, cache))
    assert len(reads) == 2  # the second creative of the same packshot reads nothing again
    source_text.clear_cache()  # a resumed run: a new process, the run folder kept
    label_text.clear_cache()
    r3 = TextCheck().run(load_rgb(second.path), _ctx(second, brand, cache))
    assert len(reads) == 2
    assert r3.metrics["forbidden_sources"] == r2.metrics["forbidden_sources"] == r1.metrics["forbidden_sources"]
    assert [s["source"] for s in r1.metrics["forbidden_sources"]] == ["box.png", "box.png", "logo.png"]


def test_the_packshot_s_scene_text_reading_is_shared_with_the_identity_check(tmp_path, brand, monkeypatch):
    """One scene-text reading per packshot: whichever check asks first reads it, the other reuses it."""
    from brandflow.qa import scene_text
    from brandflow.qa.identity import IdentityCheck

    calls, real = [], scene_text.read_scene_text
    monkeypatch.setattr(scene_text, "read_scene_text", lambda *a, **k: calls.append(1) or real(*a, **k))
    creative = _creative(tmp_path, _job(_printed_packshot(tmp_path, "MIRACLE")), brand, "a")
    image = load_rgb(creative.path)
    ctx = _ctx(creative, brand, tmp_path / "cache")
    text = TextCheck().run(image, ctx)
    assert len(calls) == 1 and "MIRACLE" in next(s["read"] for s in text.metrics["forbidden_sources"] if s["engine"] == "rapidocr")
    IdentityCheck().run(image, dataclasses.replace(ctx, references=(creative.placed[0].path,)))
    assert len(calls) == 1, "the identity check read the packshot's lettering again"


def test_a_changed_source_file_falls_back_to_the_whole_image(tmp_path, brand):
    pack = _printed_packshot(tmp_path, None)
    creative = _creative(tmp_path, _job(pack), brand, "a")
    _printed_packshot(tmp_path, "CHEAP")  # the file changed after it was pasted: its recorded sha256 no longer holds
    res = TextCheck().run(load_rgb(creative.path), _ctx(creative, brand, tmp_path / "cache"))
    assert res.verdict == "pass", res.reasons
    assert "full_text" in res.metrics and "forbidden_sources" not in res.metrics
    assert any("box.png could not be read again" in n for n in res.metrics["notes"])


def test_forbidden_word_drawn_into_a_generated_image_is_caught_by_the_whole_image_reading(tmp_path, brand):
    # a model's output (FLUX.2, an agency file): no record of what is in it
    im = Image.new("RGB", (1080, 1080), (205, 200, 190))
    d = ImageDraw.Draw(im)
    d.ellipse([300, 300, 780, 780], fill=(40, 90, 200))
    d.text((360, 500), "Guaranteed", font=ImageFont.truetype(str(FONT), 56), fill=(250, 250, 250))
    im.save(tmp_path / "model.png")
    generated = GeneratedImage(path=tmp_path / "model.png", width=1080, height=1080, sha256=sha256_file(tmp_path / "model.png"))
    job = _job(_printed_packshot(tmp_path, None)).model_copy(update={"backend": "flux2"})
    creative = compose(generated, job, brand, OverlaySpec(logo=True), tmp_path / "creative.png")
    assert creative.placed is None  # unknown sources, even though compose pasted the logo
    res = TextCheck().run(load_rgb(creative.path), _ctx(creative, brand, tmp_path / "cache"))
    assert res.verdict == "fail" and res.metrics["forbidden_found"] == ["guaranteed"], res.metrics.get("full_text")
    assert "forbidden_sources" not in res.metrics and "Guaranteed" in res.metrics["full_text"]


def test_a_light_wordmark_on_transparency_is_read(tmp_path):
    im = Image.new("RGBA", (420, 120), (0, 0, 0, 0))
    ImageDraw.Draw(im).text((20, 25), "CHEAP", font=ImageFont.truetype(str(FONT), 64), fill=(255, 255, 255, 255))
    im.save(tmp_path / "logo.png")
    on_white, inverted = source_text.on_matte(np.asarray(im))  # white erases the letters; inverted on black keeps them
    assert on_white.min() == 255 and inverted[0, 0].tolist() == [255, 255, 255] and inverted.min() == 0
    from brandflow.qa.text import ocr_words

    source = PlacedImage(path=tmp_path / "logo.png", sha256=sha256_file(tmp_path / "logo.png"), role="logo",
                         box=Box(x0=0, y0=0, x1=210, y1=60))
    words, cached = source_text.source_words(source, lambda a: ocr_words(a, psm=11), "test")
    assert [w.text for w in words if w.text != "|"] == ["CHEAP"] and not cached


def test_compose_maps_recorded_boxes_through_its_fit(tmp_path, brand):
    # a generator at another native size that records what it pasted: compose scales to cover and centre-crops
    Image.new("RGB", (1600, 800), (200, 200, 200)).save(tmp_path / "wide.png")
    pack = shutil.copy(EXAMPLE / "images" / "saleor-apple-drink.png", tmp_path / "p.png")
    placed = [PlacedImage(path=Path(pack), sha256=sha256_file(pack), role="primary_packshot", box=Box(x0=700, y0=100, x1=900, y1=500))]
    generated = GeneratedImage(path=tmp_path / "wide.png", width=1600, height=800, sha256=sha256_file(tmp_path / "wide.png"), placed=placed)
    job = _job(Path(pack)).model_copy(update={"format": FormatSpec(name="sq", width=400, height=400), "overlay": {}})
    creative = compose(generated, job, brand, OverlaySpec(logo=False), tmp_path / "c.png")
    # scale 0.5 (800 → 400 high), then 200 px cut from the left: x 700 → 150, y 100 → 50
    assert creative.placed[0].box == Box(x0=150, y0=50, x1=250, y1=250)


def test_threads_pasting_one_source_read_it_once(tmp_path, brand):
    """Jobs of one product run in parallel: the first reads the packshot, the others wait for that reading."""
    from concurrent.futures import ThreadPoolExecutor

    from brandflow.qa.text import ocr_words

    path = _printed_packshot(tmp_path, "Miracle")
    source = PlacedImage(path=path, sha256=sha256_file(path), role="primary_packshot", box=Box(x0=0, y0=0, x1=400, y1=400))
    calls = []

    def reader(a):
        calls.append(1)
        return ocr_words(a, psm=11)

    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: source_text.source_words(source, reader, "threads", tmp_path / "kept"), range(4)))
    views = len(source_text.on_matte(np.asarray(Image.open(path).convert("RGBA"))))
    assert len(calls) == views, "the source was read more than once"
    assert [cached for _, cached in got].count(False) == 1 and all(words == got[0][0] for words, _ in got)
