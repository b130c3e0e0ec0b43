"""Format QA: exact size, container type from the header, mode and byte budget."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from brandflow.qa.format import FormatCheck, read_header
from brandflow.spec import FormatSpec

SQUARE = FormatSpec(name="square", width=1080, height=1080, file_type="png", max_bytes=2_000_000)


def _write(path, size=(1080, 1080), mode="RGB", fmt="PNG", **save):
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    arr[: size[1] // 2] = (26, 99, 236)  # half flat so files stay small
    im = Image.fromarray(arr).convert(mode)
    im.save(path, fmt, **save)
    return np.asarray(Image.fromarray(arr))


def test_exact_png_passes_with_measured_numbers(tmp_path, make_ctx):
    p = tmp_path / "ok.png"
    img = _write(p)
    res = FormatCheck().run(img, make_ctx(path=p, format=SQUARE))
    assert res.verdict == "pass", res.reasons
    m = res.metrics
    assert (m["width"], m["height"], m["file_type"], m["mode"], m["aspect"]) == (1080, 1080, "png", "RGB", 1.0)
    assert m["bytes"] == p.stat().st_size
    assert res.thresholds["width"] == 1080 and res.thresholds["max_bytes"] == 2_000_000


def test_wrong_size_fails(tmp_path, make_ctx):
    p = tmp_path / "small.png"
    img = _write(p, size=(1080, 1079))
    res = FormatCheck().run(img, make_ctx(path=p, format=SQUARE))
    assert res.verdict == "fail"
    assert res.reasons == ["size 1080×1079 px, format 'square' asks 1080×1080"]


def test_file_type_comes_from_the_header_not_the_extension(tmp_path, make_ctx):
    p = tmp_path / "lying.png"
    img = _write(p, fmt="JPEG", quality=90)
    res = FormatCheck().run(img, make_ctx(path=p, format=SQUARE))
    assert res.verdict == "fail" and res.metrics["file_type"] == "jpeg"
    assert any("file type jpeg" in r for r in res.reasons)


def test_over_max_bytes_fails(tmp_path, make_ctx):
    p = tmp_path / "big.png"
    img = _write(p)
    tight = SQUARE.model_copy(update={"max_bytes": p.stat().st_size - 1})
    res = FormatCheck().run(img, make_ctx(path=p, format=tight))
    assert res.verdict == "fail" and "over the format's max_bytes" in res.reasons[0]


@pytest.mark.parametrize("mode", ["P", "L", "LA"])
def test_palette_and_grey_modes_fail(tmp_path, make_ctx, mode):
    p = tmp_path / f"{mode}.png"
    img = _write(p, mode=mode)
    res = FormatCheck().run(img, make_ctx(path=p, format=SQUARE))
    assert res.verdict == "fail" and res.metrics["mode"] == mode
    assert any(f"mode {mode}" in r for r in res.reasons)


def test_rgba_png_and_webp_pass_their_formats(tmp_path, make_ctx):
    p = tmp_path / "a.png"
    img = _write(p, mode="RGBA")
    res = FormatCheck().run(img, make_ctx(path=p, format=SQUARE.model_copy(update={"max_bytes": None})))
    assert res.verdict == "pass", res.reasons
    w = tmp_path / "a.webp"
    img = _write(w, fmt="WEBP", quality=80)
    webp = SQUARE.model_copy(update={"file_type": "webp"})
    assert FormatCheck().run(img, make_ctx(path=w, format=webp)).verdict == "pass"


def test_no_format_passes_and_reports(tmp_path, make_ctx):
    p = tmp_path / "any.jpg"
    img = _write(p, size=(640, 480), fmt="JPEG")
    res = FormatCheck().run(img, make_ctx(path=p))
    assert res.verdict == "pass" and res.thresholds == {}
    assert (res.metrics["width"], res.metrics["height"], res.metrics["file_type"]) == (640, 480, "jpeg")
    assert res.metrics["aspect"] == pytest.approx(4 / 3, abs=1e-4)


def test_decoded_pixels_must_match_the_file(tmp_path, make_ctx):
    p = tmp_path / "ok.png"
    _write(p)
    res = FormatCheck().run(np.zeros((500, 500, 3), np.uint8), make_ctx(path=p, format=SQUARE))
    assert res.verdict == "fail" and "decoded pixels are 500×500" in res.reasons[0]


def test_missing_or_non_image_file_fails_without_raising(tmp_path, make_ctx):
    img = np.zeros((1080, 1080, 3), np.uint8)
    res = FormatCheck().run(img, make_ctx(path=tmp_path / "nope.png", format=SQUARE))
    assert res.verdict == "fail" and res.reasons[0].startswith("cannot read file")
    t = tmp_path / "notes.png"
    t.write_text("not an image")
    res = FormatCheck().run(img, make_ctx(path=t, format=SQUARE))
    assert res.verdict == "fail" and "not an image" in res.reasons[0]


@pytest.mark.parametrize(("fmt", "orientation"), [("JPEG", 6), ("PNG", 8), ("PNG", 1)])
def test_exif_rotated_files_report_displayed_size(tmp_path, fmt, orientation):
    p = tmp_path / f"rotated.{fmt.lower()}"
    im = Image.new("RGB", (200, 100), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = orientation  # 6, 8: rotate 90° on display
    im.save(p, fmt, exif=exif)
    h = read_header(p)
    expected = (100, 200) if orientation in (6, 8) else (200, 100)
    assert (h["width"], h["height"], h["exif_orientation"]) == (*expected, orientation)
