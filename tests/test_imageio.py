"""Bad images get a clear error or a clear result, never a crash: corrupt, bombs, odd modes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.errors import ImageError
from brandflow.imageio import load_rgb, load_rgba
from brandflow.qa.base import CheckContext, run_checks
from brandflow.spec import load_brand_kit


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose IHDR claims ``width × height`` with almost no pixel data (a decompression-bomb shape)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_truncated_png_names_the_file(tmp_path, example_dir):
    src = (example_dir / "images" / "saleor-apple-drink.png").read_bytes()
    bad = tmp_path / "truncated.png"
    bad.write_bytes(src[: len(src) // 2])
    with pytest.raises(ImageError, match="truncated.png"):
        load_rgb(bad)


def test_garbage_and_missing_files(tmp_path):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="not a readable image"):
        load_rgb(junk)
    with pytest.raises(ImageError, match="file not found"):
        load_rgb(tmp_path / "nope.png")


def test_20000_square_png_is_refused_before_decoding(tmp_path):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 20000, 20000)
    with pytest.raises(ImageError, match=r"bomb\.png.*decompression.bomb.*400000000 pixels.*downscale"):
        load_rgb(bomb)


@pytest.mark.parametrize(
    "mode, make",
    [
        ("L", lambda: Image.new("L", (64, 48), 128)),
        ("I;16", lambda: Image.fromarray(np.full((48, 64), 65535 // 2, dtype=np.uint16))),
        ("CMYK", lambda: Image.new("CMYK", (64, 48), (0, 255, 255, 0))),
        ("P", lambda: Image.new("RGB", (64, 48), (24, 100, 236)).convert("P")),
        ("LA", lambda: Image.new("LA", (64, 48), (200, 0))),
    ],
)
def test_every_mode_becomes_rgb_uint8(tmp_path, mode, make):
    path = tmp_path / f"img.{'jpg' if mode == 'CMYK' else 'png'}"
    make().save(path)
    rgb = load_rgb(path)
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    if mode == "I;16":
        assert 120 <= rgb[0, 0, 0] <= 135, "16-bit grey is scaled to 8 bits, not clipped"
    if mode == "CMYK":
        assert rgb[0, 0, 0] > 200 and rgb[0, 0, 1] < 60, "CMYK red stays red"
    if mode == "LA":
        assert (rgb == 255).all(), "fully transparent pixels flatten onto the white matte"
    assert load_rgba(path).shape == (48, 64, 4)


def test_qa_of_a_fully_transparent_image_is_a_result_not_a_crash(tmp_path, example_dir):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (256, 256), (0, 0, 0, 0)).save(path)
    brand = load_brand_kit(example_dir / "brand.yaml")
    ctx = CheckContext(path=path, brand=brand, expected_text=("",), references=(example_dir / "images" / "saleor-apple-drink.png",))
    result = run_checks(load_rgb(path), ctx, ["format", "text", "colour", "identity"])
    by = {c.check: c for c in result.checks}
    assert by["colour"].verdict == "fail", "no brand colour in an empty image"
    assert by["identity"].verdict == "fail", "no product in an empty image"
    assert not any("crashed" in r for r in result.reasons), result.reasons


def test_pixels_handed_on_are_the_files_pixels(tmp_path):
    """A stage reading a file the previous stage just wrote gets the same pixels without decoding it; only
    lossless PNG is handed on (QA must see a JPEG's artefacts), and each hand-off is read once."""
    import hashlib

    from brandflow.imageio import encode, hand_on, load_rgb, load_rgb_of, write_atomic

    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8), "RGB")
    for file_type in ("png", "jpeg"):
        path = tmp_path / f"x.{file_type}"
        data = encode(im, file_type)
        write_atomic(path, data)
        sha = hashlib.sha256(data).hexdigest()
        hand_on(path, sha, im, file_type)
        got = load_rgb_of(path, sha)
        assert np.array_equal(got, load_rgb(path)), f"{file_type}: what the reader gets is what the file holds"
    path = tmp_path / "y.png"
    data = encode(im, "png")
    write_atomic(path, data)
    sha = hashlib.sha256(data).hexdigest()
    hand_on(path, sha, im, "png")
    path.unlink()
    assert np.array_equal(load_rgb_of(path, sha), np.asarray(im)), "handed on: the file is not decoded"
    with pytest.raises(ImageError):
        load_rgb_of(path, sha)  # consumed: the second read decodes, and the file is gone


def test_decoded_inputs_are_shared_until_the_file_changes(tmp_path):
    """A packshot read by several stages is decoded once; a file rewritten in place is decoded again; a downscaled
    read never serves a full-size one, nor the reverse; what is shared cannot be modified by one reader under another."""
    from brandflow.imageio import encode, write_atomic

    rng = np.random.default_rng(1)
    path = tmp_path / "packshot.png"
    write_atomic(path, encode(Image.fromarray(rng.integers(0, 256, (50, 80, 4), dtype=np.uint8), "RGBA"), "png"))
    first = load_rgba(path, max_side=4096)
    assert load_rgba(path, max_side=4096) is first, "read again: one decode"
    assert not first.flags.writeable
    small = load_rgba(path, max_side=40)
    assert small.shape[:2] == (25, 40) and load_rgba(path, max_side=4096) is first, "a downscaled read is its own entry"
    assert load_rgba(path, max_side=40) is small and np.array_equal(load_rgba(path), first)
    write_atomic(path, encode(Image.fromarray(rng.integers(0, 256, (50, 80, 4), dtype=np.uint8), "RGBA"), "png"))
    again = load_rgba(path)
    assert again is not first and not np.array_equal(again, first), "rewritten in place: the new pixels are read"
    path.unlink()
    with pytest.raises(ImageError, match="not found"):
        load_rgba(path)
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    with pytest.raises(ImageError, match="loop-a"):
        load_rgba(tmp_path / "loop-a")


def test_a_packshot_is_decoded_once_across_stages_threads_and_the_feed_check(tmp_path, monkeypatch):
    """A ``max_side`` the image already fits in is no downscale: one entry (the cut-out reads at 4096, label OCR at
    1536); threads asking at once decode once; a WebP checked by the feed is kept for the stages, into free room only."""
    import threading
    import time

    from brandflow import imageio

    rng = np.random.default_rng(2)
    path = tmp_path / "packshot.webp"
    Image.fromarray(rng.integers(0, 256, (60, 90, 4), dtype=np.uint8), "RGBA").save(path, lossless=True)
    decodes = []
    real_open = imageio.open_image

    def counting_open(*args, **kwargs):
        decodes.append(args[0])
        time.sleep(0.05)  # long enough for every thread below to ask while the first decodes
        return real_open(*args, **kwargs)

    monkeypatch.setattr(imageio, "open_image", counting_open)
    imageio.verify_image(path)  # the feed check's decode, kept
    assert load_rgba(path, max_side=4096) is load_rgba(path, max_side=1536) is load_rgba(path) and len(decodes) == 1
    assert load_rgba(path, max_side=45).shape[:2] == (30, 45) and len(decodes) == 2, "a real downscale is its own entry"

    path2 = tmp_path / "other.webp"
    Image.fromarray(rng.integers(0, 256, (60, 90, 4), dtype=np.uint8), "RGBA").save(path2, lossless=True)
    got: list[np.ndarray] = []
    threads = [threading.Thread(target=lambda: got.append(load_rgba(path2, max_side=4096))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert decodes.count(path2) == 1 and all(a is got[0] for a in got), "concurrent reads of one file: one decode"

    small = imageio.LRUCache(maxsize=60 * 90 * 4 + 1, getsizeof=lambda a: a.nbytes)
    monkeypatch.setattr(imageio, "_decoded", imageio.OncePerKey(cache=small))
    kept = load_rgba(path2)  # fills the (small) cache
    before = len(decodes)
    imageio.verify_image(path)  # no free room: the feed check evicts nothing
    assert len(small) == 1 and next(iter(small.values())) is kept
    assert load_rgba(path2) is kept and len(decodes) == before + 1, "only the feed check decoded; path2 still kept"


def test_published_png_is_fast_and_falls_back_to_the_smallest_encoding_under_a_byte_limit():
    """PNG is lossless: every encoding decodes to the same pixels. Unbounded, the fast run-length strategy is used;
    when that misses a channel's byte limit, zlib's default strategy at level 9 is tried and the smaller file kept."""
    import io

    from brandflow.imageio import PUBLISHED_PNG_STRATEGY, encode, encode_within

    rng = np.random.default_rng(4)
    tile = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)  # repeats 48 bytes apart: LZ77 finds them, RLE cannot
    im = Image.fromarray(np.tile(tile, (8, 16, 1)), "RGB")
    ramp = np.linspace(0, 255, 256)[None, :, None] + rng.normal(0, 3, (128, 256, 3))  # where zlib's 0 and Pillow's differ
    smooth = Image.fromarray(np.clip(ramp, 0, 255).astype(np.uint8), "RGB")
    pillow = io.BytesIO()
    smooth.save(pillow, "PNG", compress_level=6)
    assert encode(smooth, "png") == pillow.getvalue(), "without a strategy: Pillow's own encoding (work files, the fallback)"
    fast = encode(im, "png", png_strategy=PUBLISHED_PNG_STRATEGY)
    small = encode(im, "png", png_level=9)
    assert len(small) < len(fast), "the fixture must be one where the slow encoding is smaller"
    assert encode_within(im, "png", None) == (fast, 90)
    assert encode_within(im, "png", len(fast) + 100, reserve=50) == (fast, 90), "fits: no second encoding"
    data, _ = encode_within(im, "png", len(fast) - 1)
    assert data == small
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), np.asarray(im))


@pytest.mark.parametrize(("mode", "shape"), [("RGB", (61, 83, 3)), ("RGBA", (61, 83, 4)), ("L", (61, 83)), ("P", (61, 83))])
def test_work_png_keeps_every_pixel_and_mode(mode, shape):
    """Work files are read back to resume a run: the fast encoder must be lossless in every mode it is handed
    (RGB/RGBA/L through OpenCV, channel order included; other modes through Pillow)."""
    import io

    from brandflow.imageio import encode_work_png

    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, shape, dtype=np.uint8)
    pixels[0, 0] = [255, 0, 0, 128][: shape[2]] if len(shape) == 3 else 7  # a pure red pixel: BGR order would show
    im = Image.fromarray(pixels, "L").convert("P") if mode == "P" else Image.fromarray(pixels, mode)
    back = Image.open(io.BytesIO(encode_work_png(im)))
    assert back.format == "PNG" and back.mode == im.mode and back.size == im.size
    assert np.array_equal(np.asarray(back), np.asarray(im))
