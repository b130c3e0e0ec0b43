"""A campaign published to a real S3 endpoint (moto on 127.0.0.1): every creative, the manifest and the report
land in the bucket, and the report links to the published objects with presigned URLs (or a CDN base)."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import yaml

from brandflow.manifest import RunManifest


def _campaign(campaign_dir: Path, **publish) -> Path:
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = [{"name": "square", "width": 1080, "height": 1080, "file_type": "png"}]
    spec["variants"] = 1
    spec["qa"] = {"checks": ["format"], "max_attempts": 1}  # publishing is under test here, not QA
    spec["publish"] = {**spec.get("publish", {}), **publish}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def test_presigned_links_stay_out_of_the_audit_record(prefect_harness, campaign_dir, tmp_path, moto_endpoint, bucket, keys, monkeypatch):
    from brandflow.flows.campaign import campaign_flow

    monkeypatch.setenv("BRANDFLOW_ALLOWED_TARGETS", f"s3://{bucket}/brand")  # a run-time target: the operator allows it
    path = _campaign(campaign_dir, s3={"endpoint_url": moto_endpoint, "presign_expiry": 900})
    result = campaign_flow(str(path), str(tmp_path / "run"), only=["white-plimsolls", "grey-hoodie"],
                           publish_to=f"s3://{bucket}/brand")
    manifest = RunManifest.read(result.manifest)
    published = [j.published for j in manifest.jobs if j.published]
    assert len(published) == 2
    html = result.report.read_text()
    record = result.manifest.read_text() + html
    assert "X-Amz-Signature" not in record and "X-Amz-Credential" not in record, \
        "a presigned URL names the access key id and stays valid until it expires: never in the manifest or report"
    for asset in published:
        assert asset.uri == f"s3://{bucket}/brand/{asset.key}" and asset.link is None
        assert f'href="{asset.uri}"' in html, "the report names where it is"

    assert result.published_report and "X-Amz-Signature=" in result.published_report
    assert _get(result.published_report) == result.report.read_bytes(), "the audit record is in the bucket too"
    runs = [k for k in keys(bucket) if "/_runs/" in k]
    assert sorted(Path(k).name for k in runs) == ["manifest.json", "report.html"]


def test_a_cdn_base_replaces_presigned_links(prefect_harness, campaign_dir, tmp_path, moto_endpoint, bucket):
    from brandflow.flows.campaign import campaign_flow

    path = _campaign(campaign_dir, target=f"s3://{bucket}/brand",
                     s3={"endpoint_url": moto_endpoint, "public_base_url": "https://cdn.example.com/assets/"})
    result = campaign_flow(str(path), str(tmp_path / "run"), only=["white-plimsolls"])
    (job,) = RunManifest.read(result.manifest).jobs
    assert job.published.link == f"https://cdn.example.com/assets/brand/{job.published.key}"
    assert re.fullmatch(r"https://cdn\.example\.com/assets/brand/saleor-autumn/_runs/[^/]+/report\.html", result.published_report)
