"""Label-text agreement in the identity check: the packshot's lettering read once, looked for in the creative.

Fixtures are built here: a carton (480 × 640 RGBA, a seeded pattern for keypoints) whose label says "OAT
MILK" or "SOY MILK", and the same carton without lettering. Both labels share the carton's design and colours:
only the words tell them apart.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from brandflow.qa import label_text
from brandflow.qa.identity import IdentityCheck, IdentityThresholds
from brandflow.records import sha256_file
from brandflow.spec import QASpec

FONT = Path(__file__).resolve().parents[2] / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"


def carton(words: str | None) -> np.ndarray:
    """``(640, 480, 4) uint8`` RGBA packshot: a patterned carton on transparency, ``words`` in a white label band."""
    rng = random.Random(7)  # the same pattern for every label: one design
    im = Image.new("RGBA", (480, 640), (0, 0, 0, 0))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle((40, 20, 440, 620), 24, fill=(40, 110, 190, 255))
    for _ in range(60):
        x, y, r = rng.randint(60, 420), rng.randint(40, 600), rng.randint(6, 26)
        colour = rng.choice([(250, 200, 40, 255), (230, 70, 60, 255), (20, 40, 90, 255), (250, 250, 250, 255)])
        (d.ellipse if rng.random() < 0.5 else d.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    d.rectangle((60, 250, 420, 390), fill=(250, 250, 245, 255))
    if words:
        d.text((240, 320), words, font=ImageFont.truetype(str(FONT), 64), fill=(20, 30, 60, 255), anchor="mm")
    return np.asarray(im)


def save(rgba: np.ndarray, path: Path) -> Path:
    Image.fromarray(rgba).save(path)
    return path


def shoot(rgba: np.ndarray, angle: float = 0.0, scale: float = 1.0, jpeg: int | None = None,
          background=(236, 228, 214)) -> np.ndarray:
    """The packshot "re-shot": rotated, scaled and placed on a 720 × 720 backdrop, optionally JPEG-encoded →
    ``(720, 720, 3) uint8``."""
    h, w = rgba.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    M[:, 2] += (360 - w / 2, 360 - h / 2)
    warped = cv2.warpAffine(rgba, M, (720, 720), flags=cv2.INTER_AREA, borderValue=(0, 0, 0, 0)).astype(np.float32)
    a = warped[..., 3:] / 255.0
    out = (warped[..., :3] * a + np.array(background, np.float32) * (1 - a)).round().astype(np.uint8)
    if jpeg:
        ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


@pytest.fixture(scope="module")
def cartons(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cartons")
    return {"oat": save(carton("OAT MILK"), d / "oat.png"), "soy": save(carton("SOY MILK"), d / "soy.png"),
            "plain": save(carton(None), d / "plain.png")}


@pytest.fixture
def run(make_ctx):
    def run(image: np.ndarray, *refs: Path, label: bool = True):
        th = QASpec(identity=IdentityThresholds(label_text=label))
        return IdentityCheck().run(image, make_ctx(references=refs, thresholds=th))
    return run


def test_packshot_lettering_is_read_once_per_content(cartons):
    label = label_text.packshot_label("sha-oat", path=cartons["oat"])
    assert label.legible and {"oat", "milk"} <= set(label.tokens), label
    line = next(ln for ln in label.lines if "oat" in ln.tokens)
    assert 0.05 < line.box[0] < line.box[2] < 0.95 and 0.35 < line.box[1] < line.box[3] < 0.65  # the label band
    # the cache is keyed by content hash: another file with that hash is not read again
    assert label_text.packshot_label("sha-oat", path=cartons["soy"]) is label



def _counting_ocr(monkeypatch) -> list[int]:
    """Count the scene-text OCR calls (the real engine still reads)."""
    from brandflow.qa import scene_text

    calls, real = [], scene_text.read_scene_text
    monkeypatch.setattr(scene_text, "read_scene_text", lambda *a, **k: calls.append(1) or real(*a, **k))
    return calls


def test_kept_reading_is_reused_by_a_new_process_and_gives_the_same_label(cartons, tmp_path, monkeypatch):
    """A resumed run (a new process, the same run folder) interprets the kept OCR lines instead of reading the
    packshot again, and gets the very same label; a damaged file is read again."""
    label_text.clear_cache()  # other tests may have read this carton in this process
    calls = _counting_ocr(monkeypatch)
    sha = sha256_file(cartons["oat"])
    first = label_text.packshot_label(sha, path=cartons["oat"], cache_dir=tmp_path)
    kept = list(tmp_path.glob(f"{sha}-*.json"))
    assert len(calls) == 1 and len(kept) == 1 and first.legible
    label_text.clear_cache()  # a new process: nothing in memory
    again = label_text.packshot_label(sha, path=cartons["oat"], cache_dir=tmp_path)
    assert len(calls) == 1, "the kept reading was not reused"
    assert again.lines == first.lines and again.engine == first.engine and again.seconds == 0.0
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(again.lines, first.lines))
    kept[0].write_text("{not json", encoding="utf-8")
    label_text.clear_cache()
    assert label_text.packshot_label(sha, path=cartons["oat"], cache_dir=tmp_path).lines == first.lines
    assert len(calls) == 2
    label_text.clear_cache()  # a file whose bytes are not the key's is not read under that key
    with pytest.raises(ValueError, match="sha256 differs"):
        label_text.packshot_reading(sha, path=cartons["soy"])


def test_threads_asking_for_one_packshot_read_it_once(cartons, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    label_text.clear_cache()
    calls = _counting_ocr(monkeypatch)
    with ThreadPoolExecutor(4) as pool:
        sha = sha256_file(cartons["soy"])
        labels = list(pool.map(lambda _: label_text.packshot_label(sha, path=cartons["soy"]), range(4)))
    assert len(calls) == 1 and all(lb.lines == labels[0].lines and lb.legible for lb in labels)

def test_label_saying_something_else_fails_on_label_text(cartons, run):
    """Same carton, same colours: keypoints and colour agree, the words do not."""
    res = run(shoot(carton("SOY MILK"), angle=4, scale=0.9), cartons["oat"])
    assert res.verdict == "fail", res.metrics
    parts = res.metrics["parts"]
    assert parts["shape"]["agrees"] and parts["colour"]["agrees"], parts
    assert parts["label_text"]["agrees"] is False and ["oat", "soy"] in parts["label_text"]["different"], parts
    assert "milk" in parts["label_text"]["found"] and res.metrics["label_text"]["lines_by_pixels"] == 0  # read by OCR
    assert any(p.startswith("label text:") and "“soy”" in p and "“oat”" in p for p in res.metrics["disagrees"])
    assert "label text" in res.metrics["plain"][0]
    # without the label comparison the same creative passes: the words are what tells them apart
    assert run(shoot(carton("SOY MILK"), angle=4, scale=0.9), cartons["oat"], label=False).verdict == "pass"


@pytest.mark.parametrize(("angle", "scale", "jpeg"), [(0, 1.0, None), (-8, 0.75, 80)])
def test_same_product_reshot_passes_with_its_label_found(cartons, run, angle, scale, jpeg):
    res = run(shoot(carton("OAT MILK"), angle, scale, jpeg, background=(200, 220, 200)), cartons["oat"])
    assert res.verdict == "pass", res.metrics
    lt = res.metrics["label_text"]
    assert lt["status"] == "agrees" and lt["where"] == "at the packshot's label lines", lt
    assert lt["lines_by_pixels"] == 1  # the label band's pixels are the packshot's: no OCR was needed
    assert res.metrics["parts"]["label_text"]["agrees"] is True and not res.metrics["disagrees"]


def test_unlabelled_product_is_neutral(cartons, run):
    """No legible lettering on the packshot: the label cue neither helps nor hurts (same score with it off)."""
    image = shoot(carton(None), angle=3, scale=0.85)
    on, off = run(image, cartons["plain"]), run(image, cartons["plain"], label=False)
    assert on.metrics["label_text"]["status"] == "no label" and on.metrics["parts"]["label_text"]["agrees"] is None
    assert on.metrics["score"] == off.metrics["score"] and on.verdict == off.verdict == "pass"


def test_label_found_reports_but_only_other_words_move_the_score(cartons, run):
    """Found words are reported, not fused (the brand's own words are on most products); other words cap it."""
    image = shoot(carton("OAT MILK"), angle=-5, scale=0.8)
    on, off = run(image, cartons["oat"]), run(image, cartons["oat"], label=False)
    assert on.metrics["label_text"]["found"] == ["oat", "milk"] and off.metrics["label_text"]["status"] == "not read"
    assert on.metrics["score"] == off.metrics["score"]


@pytest.mark.parametrize("shape", [(1, 1, 3), (6, 6, 3)])
def test_tiny_creative_against_a_labelled_packshot_fails_clearly(cartons, run, shape):
    res = run(np.full(shape, 200, np.uint8), cartons["oat"])
    assert res.verdict == "fail" and res.reasons, res
    assert res.metrics["label_text"]["status"] in ("not found", "not read"), res.metrics["label_text"]


def test_bad_packshots_give_no_lettering_and_a_clear_identity_result(tmp_path, run):
    clear = np.zeros((64, 64, 4), np.uint8)
    assert not label_text.read_packshot_label(clear).legible
    tiny = label_text.read_packshot_label(np.full((1, 1, 4), 255, np.uint8))
    assert not tiny.lines and "too small" in tiny.note
    res = run(shoot(carton("OAT MILK")), save(clear, tmp_path / "clear.png"))
    assert res.verdict == "fail" and "clear.png" in res.reasons[0] and "transparent" in res.reasons[0]


def test_overlay_text_over_the_label_is_not_read_as_the_product_s_words():
    """compose's own text drawn across the label band (a sale bar) is no evidence about the product's words."""
    label = label_text.read_packshot_label(carton("OAT MILK"))
    M = cv2.getRotationMatrix2D((240, 320), 0, 1.0)
    M[:, 2] += (120, 40)  # the carton at (120, 40) in the 720 × 720 creative
    image = shoot(carton("SOY MILK"))
    band = (100, 280, 620, 440)  # creative pixels over the label band
    assert label_text.compare(label, label_text.read_mapped(image, M, (480, 640), label), mapped=True).status == "differs"
    occluded = label_text.read_mapped(image, M, (480, 640), label, occluders=(band,))
    assert [w.legible for w in occluded] == [False]
    assert label_text.compare(label, occluded, mapped=True).neutral


def test_comparison_rules():
    label = label_text.PackshotLabel((label_text.LabelLine("OAT MILK", 99, (0.1, 0.4, 0.9, 0.5), ("oat", "milk")),))
    read = label_text.ReadWord
    same = label_text.compare(label, [read("0AT", 70, 0), read("MILK", 90, 0)], mapped=True)
    assert same.status == "agrees" and same.agreement == 1.0  # "0AT": one look-alike glyph is OCR noise
    other = label_text.compare(label, [read("SOY", 90, 0), read("MILK", 90, 0)], mapped=True)
    assert other.status == "differs" and other.different == [["oat", "soy"]] and other.agreement == pytest.approx(4 / 7)
    garbled = label_text.compare(label, [read("OAX", 90, 0), read("MILK", 90, 0)], mapped=True)
    assert garbled.status == "partial" and garbled.missing == ["oat"]  # a garbled reading is not another word
    anywhere = label_text.compare(label, [read("SOY", 90), read("MILK", 90)], mapped=False)
    assert anywhere.status == "partial" and anywhere.other_words == ["soy"]  # unplaced: missing, not different
    assert label_text.compare(label_text.PackshotLabel(()), [], mapped=True).neutral
    assert label_text.tokens_of("100% Truly-Open 55 a") == ["100%", "truly", "open"]


@pytest.mark.parametrize(("shown", "ref", "verdict", "status"), [
    ("saleor-apple-drink.png", "saleor-banana-drink.png", "fail", "differs"),  # one bottle design, another flavour
    ("saleor-carrot-drink.png", "saleor-bean-drink.png", "fail", "differs"),
    ("saleor-apple-drink.png", "saleor-apple-drink.png", "pass", "agrees"),
])
def test_real_packshots_another_flavour_fails_on_its_label(packshots, run, shown, ref, verdict, status):
    """The Saleor juice bottles share their design: the flavour word is what differs, and it is read."""
    from brandflow.imageio import load_rgba
    from brandflow.qa.calibrate_identity import paste

    res = run(paste(load_rgba(packshots / shown), random.Random(3), augment=False), packshots / ref)
    assert res.verdict == verdict and res.metrics["label_text"]["status"] == status, res.metrics["label_text"]
    assert res.metrics["parts"]["shape"]["agrees"]  # the design lines up either way
