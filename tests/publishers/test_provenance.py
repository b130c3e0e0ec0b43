"""Provenance marking: XMP with the IPTC Digital Source Type in PNG / JPEG / WebP, pixels untouched, readable
back with Python (and exiftool when installed), surviving publication to S3; optional C2PA signing."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brandflow.errors import ImageError
from certs import make_chain
from brandflow.records import sha256_file
from brandflow.publishers.provenance import (
    COMPOSITE_SYNTHETIC,
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    build_xmp,
    mark,
    read_provenance,
    read_xmp,
    source_type_for,
)

PACKET_ID = b"W5M0MpCehiHzreSzNTczkc9d"


def _image(tmp_path: Path, name: str, **save) -> Path:
    rng = np.random.default_rng(7)
    mode = save.pop("mode", "RGB")
    arr = rng.integers(0, 256, (48, 72, len(mode)), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(arr, mode).save(path, **save)
    return path


FORMATS = {
    "png": dict(name="c.png"),
    "png-rgba": dict(name="c.png", mode="RGBA"),
    "jpeg": dict(name="c.jpg", quality=90),
    "jpeg-exif": dict(name="c.jpg", quality=90, exif=Image.Exif()),
    "webp-lossy": dict(name="c.webp", quality=80),  # simple format (VP8)
    "webp-lossless-alpha": dict(name="c.webp", mode="RGBA", lossless=True),  # simple format (VP8L)
    "webp-lossy-alpha": dict(name="c.webp", mode="RGBA", quality=80),  # extended format (VP8X + ALPH)
}


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_mark_embeds_xmp_without_touching_pixels(tmp_path, fmt):
    spec = dict(FORMATS[fmt])
    src = _image(tmp_path, **spec)
    before = src.read_bytes()
    dst = tmp_path / f"marked{src.suffix}"
    path, sha = mark(src, dst, campaign="spring-sale", job_id="P1/square/v0", backend="flux2", product_id="P1")

    assert path == dst and sha == sha256_file(dst) and src.read_bytes() == before  # the creative is untouched
    assert np.array_equal(_pixels(src), _pixels(dst))
    prov = read_provenance(dst)
    assert prov["digital_source_type"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA
    assert prov["source_type"] == "compositeWithTrainedAlgorithmicMedia"
    expected = {"campaign": "spring-sale", "job_id": "P1/square/v0", "product_id": "P1", "backend": "flux2",
                "ai_system": "flux2", "creator_tool": "brandflow"}
    assert {k: prov.get(k) for k in expected} == expected
    with Image.open(dst) as im:  # Pillow finds the packet where it looks for XMP in each format
        xmp = im.info.get("xmp")
    assert xmp is not None and b"Iptc4xmpExt:DigitalSourceType" in (xmp if isinstance(xmp, bytes) else xmp.encode())


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp-lossy"])
def test_marking_is_deterministic_and_replaces_an_old_packet(tmp_path, fmt):
    src = _image(tmp_path, **dict(FORMATS[fmt]))
    a, sha_a = mark(src, tmp_path / f"a{src.suffix}", campaign="c", job_id="j", backend="flux2")
    b, sha_b = mark(src, tmp_path / f"b{src.suffix}", campaign="c", job_id="j", backend="flux2")
    assert sha_a == sha_b  # a re-run makes the same bytes, so it publishes nothing new
    c, _ = mark(a, tmp_path / f"c{src.suffix}", campaign="other", job_id="k", backend="flux2", composited=False)
    assert c.read_bytes().count(PACKET_ID) == 1
    prov = read_provenance(c)
    assert prov["campaign"] == "other" and prov["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA


def test_jpeg_keeps_exif_first():
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x010F] = "Maker"  # Make
    Image.new("RGB", (32, 32), "red").save(buf, "JPEG", exif=exif)
    from brandflow.publishers.provenance import embed_xmp

    out = embed_xmp(buf.getvalue(), build_xmp(digital_source_type=COMPOSITE_SYNTHETIC, campaign="c", job_id="j"))
    assert out.index(b"Exif\x00") < out.index(b"http://ns.adobe.com/xap/1.0/\x00")
    with Image.open(io.BytesIO(out)) as im:
        assert im.getexif()[0x010F] == "Maker"


@pytest.mark.parametrize(
    "backend, composited, expected",
    [("compositor", True, COMPOSITE_SYNTHETIC), ("compositor", False, COMPOSITE_SYNTHETIC),
     ("flux2", True, COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA), ("flux2-klein", False, TRAINED_ALGORITHMIC_MEDIA)],
)
def test_source_type_follows_the_iptc_definitions(backend, composited, expected):
    assert source_type_for(backend, composited) == expected


def test_compositor_output_names_no_ai_system(tmp_path):
    src = _image(tmp_path, "c.png")
    path, _ = mark(src, tmp_path / "m.png", campaign="c", job_id="j", backend="compositor")
    prov = read_provenance(path)
    assert prov["source_type"] == "compositeSynthetic" and "ai_system" not in prov


def test_an_explicit_source_type_and_extra_properties(tmp_path):
    src = _image(tmp_path, "c.png")
    path, _ = mark(src, tmp_path / "m.png", campaign="c", job_id="j", backend="compositor",
                   digital_source_type=TRAINED_ALGORITHMIC_MEDIA, extra={"Seed": "42", "RunId": "r1"})
    prov = read_provenance(path)
    assert prov["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA and prov["Seed"] == "42" and prov["RunId"] == "r1"
    with pytest.raises(ValueError, match="IPTC term"):
        build_xmp(digital_source_type="http://example.com/ai", campaign="c", job_id="j")
    with pytest.raises(ValueError, match="XML name"):
        build_xmp(digital_source_type=TRAINED_ALGORITHMIC_MEDIA, campaign="c", job_id="j", extra={"bad name": "x"})


def test_untrusted_text_is_escaped(tmp_path):
    src = _image(tmp_path, "c.png")
    path, _ = mark(src, tmp_path / "m.png", campaign="c", job_id='<a href="x">&amp;</a>\x07', backend="flux2")
    assert read_provenance(path)["job_id"] == '<a href="x">&amp;</a>'


def test_switched_off_returns_the_creative_itself(tmp_path):
    src = _image(tmp_path, "c.png")
    path, sha = mark(src, tmp_path / "m.png", campaign="c", job_id="j", backend="flux2", enabled=False)
    assert path == src and sha == sha256_file(src) and not (tmp_path / "m.png").exists()
    assert read_provenance(src) == {} and read_xmp(src) is None


def test_refusals(tmp_path):
    src = _image(tmp_path, "c.png")
    with pytest.raises(ValueError, match="differ"):
        mark(src, src, campaign="c", job_id="j", backend="flux2")
    text = tmp_path / "note.txt"
    text.write_text("not an image")
    with pytest.raises(ImageError, match="PNG, JPEG and WebP"):
        mark(text, tmp_path / "m.txt", campaign="c", job_id="j", backend="flux2")
    with pytest.raises(ImageError, match="PNG, JPEG and WebP"):
        read_provenance(text)


def test_a_packet_with_entities_is_refused(tmp_path):
    from brandflow.publishers.provenance import embed_xmp

    src = _image(tmp_path, "c.png")
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x:xmpmeta xmlns:x="adobe:ns:meta/">&a;</x:xmpmeta>'
    (tmp_path / "evil.png").write_bytes(embed_xmp(src.read_bytes(), evil))
    with pytest.raises(ImageError, match="DOCTYPE"):
        read_provenance(tmp_path / "evil.png")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp-lossy"])
def test_exiftool_reads_the_source_type(tmp_path, fmt):
    src = _image(tmp_path, **dict(FORMATS[fmt]))
    path, _ = mark(src, tmp_path / f"m{src.suffix}", campaign="c", job_id="P1/sq/v0", backend="flux2", composited=False)
    out = subprocess.run(["exiftool", "-s3", "-XMP-iptcExt:DigitalSourceType", "-XMP-brandflow:JobId", str(path)],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [TRAINED_ALGORITHMIC_MEDIA, "P1/sq/v0"]


# ----------------------------------------------------------------------------------------------- after publishing
def test_provenance_reads_back_after_publishing_to_s3(tmp_path, moto_endpoint, bucket, s3):
    from brandflow.publishers.s3 import S3Publisher

    src = _image(tmp_path, "creative.png")
    target = S3Publisher(f"s3://{bucket}/brand", endpoint_url=moto_endpoint)
    marked, sha = mark(src, tmp_path / "creative.marked.png", campaign="spring", job_id="P1/square/v0", backend="flux2")
    asset = target.publish(marked, "spring/P1/square/v0.png", sha, {"campaign": "spring"}, "version")
    assert asset.sha256 == sha

    body = s3.get_object(Bucket=bucket, Key="brand/spring/P1/square/v0.png")["Body"].read()
    (tmp_path / "downloaded.png").write_bytes(body)
    prov = read_provenance(tmp_path / "downloaded.png")
    assert prov["source_type"] == "compositeWithTrainedAlgorithmicMedia" and prov["job_id"] == "P1/square/v0"
    assert s3.head_object(Bucket=bucket, Key="brand/spring/P1/square/v0.png")["Metadata"]["sha256"] == sha

    # a re-run marks again (same bytes) and publishes nothing
    again, sha2 = mark(src, tmp_path / "creative.marked.png", campaign="spring", job_id="P1/square/v0", backend="flux2")
    assert sha2 == sha and not target.publish(again, "spring/P1/square/v0.png", sha2, {}, "version").written

    # switched off: the published object is the creative, byte for byte, with no XMP
    plain, plain_sha = mark(src, tmp_path / "unused.png", campaign="spring", job_id="P1/square/v0", backend="flux2", enabled=False)
    target.publish(plain, "off/v0.png", plain_sha, {}, "version")
    body = s3.get_object(Bucket=bucket, Key="brand/off/v0.png")["Body"].read()
    assert body == src.read_bytes() and PACKET_ID not in body


# ----------------------------------------------------------------------------------------------- C2PA
@pytest.fixture(scope="module")
def throwaway_cert(tmp_path_factory):
    """A test root CA and an ES256 end-entity signing certificate (never trusted by anything)."""
    return make_chain(tmp_path_factory.mktemp("c2pa"))


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp-lossy"])
def test_c2pa_signing(tmp_path, throwaway_cert, fmt):
    import c2pa
    from brandflow.publishers.provenance import C2paSigning

    src = _image(tmp_path, **dict(FORMATS[fmt]))
    signing = C2paSigning(*throwaway_cert)
    dst = tmp_path / f"signed{src.suffix}"
    path, sha = mark(src, dst, campaign="c", job_id="P1/sq/v0", backend="flux2", composited=False, c2pa=signing)

    assert np.array_equal(_pixels(src), _pixels(path))
    prov = read_provenance(path)
    assert prov["c2pa"] is True and prov["source_type"] == "trainedAlgorithmicMedia"  # the XMP survives signing
    reader = c2pa.Reader(str(path))
    try:
        assert reader.get_validation_state() == "Valid"  # signature and hashes good (the test root is not trusted)
        manifest = reader.get_active_manifest()
    finally:
        reader.close()
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["action"] == "c2pa.created" and actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA

    again, sha2 = mark(src, dst, campaign="c", job_id="P1/sq/v0", backend="flux2", composited=False, c2pa=signing)
    assert sha2 == sha  # a resumed run reuses the signed file instead of signing new bytes
