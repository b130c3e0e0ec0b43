"""Marking on every published file: the real generate → compose → publish path writes IPTC DigitalSourceType, the
campaign and job ids and the model with its licence into PNG, JPEG and WebP; a configured certificate adds a C2PA
manifest naming the model, read back with c2pa-python and exiftool; byte-limited formats keep room for the marks;
bad certificates and unwritable formats get errors that name the fix."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image

from brandflow.errors import ImageError
from brandflow.feed.catalog import load_feed
from brandflow.pipeline.plan import plan_jobs
from brandflow.pipeline.stages import compose_stage, generate_stage, publish_stage
from brandflow.publishers.provenance import (
    COMPOSITE_SYNTHETIC,
    COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
    TRAINED_ALGORITHMIC_MEDIA,
    C2paSigning,
    SigningError,
    check_signing,
    mark,
    read_provenance,
)
from brandflow.records import ModelLicence, QAResult
from brandflow.spec import load_campaign
from certs import make_chain

FORMATS = [
    {"name": "square-png", "width": 160, "height": 160, "file_type": "png"},
    {"name": "square-jpeg", "width": 320, "height": 320, "file_type": "jpeg", "max_bytes": 30000},
    {"name": "square-webp", "width": 160, "height": 160, "file_type": "webp"},
]
KLEIN_9B = ModelLicence(model="FLUX.2 [klein] 9B", model_id="black-forest-labs/FLUX.2-klein-9B",
                        licence="LicenseRef-FLUX-Non-Commercial-2.1", commercial_use=False, usage="commercial",
                        recorded_licence="BFL-SH-0042")


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return make_chain(tmp_path_factory.mktemp("c2pa"))


def _publish_all(campaign_dir: Path, tmp_path: Path, c2pa: tuple[Path, Path] | None = None):
    """Every format of one product through the real stages; returns ``[(job, creative, published path)]``."""
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec.update(formats=FORMATS, variants=1)
    if c2pa:
        spec["publish"] = {"provenance": {"c2pa": {"cert_chain": str(c2pa[0]), "private_key": str(c2pa[1])}}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id == "white-plimsolls"])
    out, target = [], (tmp_path / "published").as_uri()
    for job in jobs:
        generated, _ = generate_stage(job, spec, brand, tmp_path / "run")
        creative, _ = compose_stage(generated, job, spec, brand, tmp_path / "run")
        asset = publish_stage(creative, job, QAResult(verdict="pass", checks=[]), spec, target)
        out.append((job, creative, Path(asset.uri.removeprefix("file://"))))
    return out


def test_every_format_carries_source_type_ids_and_model(campaign_dir, tmp_path):
    published = _publish_all(campaign_dir, tmp_path)
    assert sorted(p.suffix for _, _, p in published) == [".jpg", ".png", ".webp"]
    for job, _, path in published:
        prov = read_provenance(path)
        assert prov["digital_source_type"] == COMPOSITE_SYNTHETIC  # compositor: packshot photo + rendered layout
        assert prov["campaign"] == "saleor-autumn" and prov["job_id"] == job.job_id and prov["product_id"] == "white-plimsolls"
        assert prov["Model"] == "brandflow compositor" and prov["ModelLicence"] == "none" and "c2pa" not in prov
        tags = subprocess.run(
            ["exiftool", "-s3", "-XMP-iptcExt:DigitalSourceType", "-XMP-brandflow:JobId", "-XMP-brandflow:ModelLicence", str(path)],
            capture_output=True, text=True, check=True,
        ).stdout.split("\n")
        assert tags[:3] == [COMPOSITE_SYNTHETIC, job.job_id, "none"]


def test_a_byte_limited_jpeg_keeps_room_for_the_marks(campaign_dir, tmp_path, chain):
    published = _publish_all(campaign_dir, tmp_path, c2pa=chain)
    job, creative, path = next(x for x in published if x[2].suffix == ".jpg")
    assert job.format.max_bytes == 30000
    # the quality search lowered the quality below the default 90 so that creative + marks fit
    with Image.open(creative.path) as im:
        assert im.size == (320, 320)
    assert creative.bytes < 30000 - 16384 and path.stat().st_size <= 30000
    prov = read_provenance(path)
    assert prov["c2pa"] is True and prov["job_id"] == job.job_id  # both marks survived the encoder


def test_c2pa_names_the_model_and_reads_back_with_c2pa_and_exiftool(tmp_path, chain):
    import c2pa

    src = tmp_path / "c.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(src, quality=90)
    signed, _ = mark(src, tmp_path / "signed.jpg", campaign="c", job_id="P1/sq/v0", backend="flux2-klein",
                     composited=True, model=KLEIN_9B, c2pa=C2paSigning(*chain))
    reader = c2pa.Reader(str(signed))
    try:
        assert reader.get_validation_state() == "Valid"
        manifest = reader.get_active_manifest()
    finally:
        reader.close()
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    created, edited = actions[0], actions[1]
    assert created["action"] == "c2pa.created" and created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"]["name"] == "FLUX.2 [klein] 9B"
    assert created["parameters"]["licence"] == "LicenseRef-FLUX-Non-Commercial-2.1"
    assert created["parameters"]["recorded_licence"] == "BFL-SH-0042"
    assert edited["action"] == "c2pa.edited" and edited["digitalSourceType"] == COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA

    xmp = read_provenance(signed)
    assert xmp["ai_system"] == "FLUX.2 [klein] 9B" and xmp["RecordedLicence"] == "BFL-SH-0042"
    out = subprocess.run(["exiftool", "-a", "-G1", "-s", "-JUMBF:all", "-XMP-iptcExt:AISystemUsed", str(signed)],
                         capture_output=True, text=True, check=True).stdout
    assert "FLUX.2 [klein] 9B" in out  # the XMP property
    assert "c2pa" in out.lower()  # exiftool sees the C2PA (JUMBF) manifest store


def test_a_corrupt_certificate_is_refused_with_the_fix(tmp_path, chain):
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    with pytest.raises(SigningError, match=r"not a PEM certificate chain.*Fix: give the signing certificate first"):
        check_signing(C2paSigning(bad, chain[1]))
    with pytest.raises(SigningError, match=r"cannot read .*Fix"):
        check_signing(C2paSigning(tmp_path / "missing.pem", chain[1]))
    other = make_chain(tmp_path / "other")
    with pytest.raises(SigningError, match="does not belong to the signing certificate"):
        check_signing(C2paSigning(chain[0], other[1]))


def test_an_expired_certificate_is_refused_before_signing(tmp_path):
    expired = make_chain(tmp_path / "old", valid_from_days=-40, valid_days=10)
    with pytest.raises(SigningError, match=r"expired on .*Fix: renew it"):
        check_signing(C2paSigning(*expired))
    src = tmp_path / "c.png"
    Image.new("RGB", (32, 32)).save(src)
    with pytest.raises(SigningError, match="expired"):
        mark(src, tmp_path / "m.png", campaign="c", job_id="j", backend="flux2", c2pa=C2paSigning(*expired))
    assert not (tmp_path / "m.png").exists()


def test_validate_refuses_an_expired_certificate(campaign_dir, tmp_path):
    from typer.testing import CliRunner

    from brandflow.cli import app

    expired = make_chain(tmp_path / "old", valid_from_days=-40, valid_days=10)
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["publish"] = {"provenance": {"c2pa": {"cert_chain": str(expired[0]), "private_key": str(expired[1])}}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    res = CliRunner().invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and "expired" in res.output


def test_a_format_the_marker_cannot_write_names_the_fix(tmp_path):
    gif = tmp_path / "c.gif"
    Image.new("RGB", (16, 16)).save(gif)
    with pytest.raises(ImageError, match=r"Fix: set the format's file_type to png, jpeg or webp.*enabled: false"):
        mark(gif, tmp_path / "m.gif", campaign="c", job_id="j", backend="flux2")


@pytest.mark.parametrize("file_type", ["jpeg", "webp"])
def test_the_quality_search_finds_the_highest_quality_that_fits(file_type):
    import numpy as np

    from brandflow.imageio import encode, encode_within

    rng = np.random.default_rng(3)
    ramp = np.linspace(0, 200, 128)[None, :, None] + np.linspace(0, 50, 128)[:, None, None]
    image = Image.fromarray(np.clip(ramp + rng.normal(0, 12, (128, 128, 3)), 0, 255).astype(np.uint8), "RGB")
    full = len(encode(image, file_type, 90))
    limit, reserve = full * 2 // 3, 1000
    data, quality = encode_within(image, file_type, limit, reserve)
    assert quality < 90 and len(data) + reserve <= limit
    if file_type == "jpeg":  # libjpeg's size grows with quality, so the search finds the highest that fits
        assert len(encode(image, file_type, quality + 1)) + reserve > limit
    assert encode_within(image, file_type, None, reserve) == (encode(image, file_type, 90), 90)
