"""The model licence guard: every backend declares its model's licence; a commercial campaign (the default) is refused
non-commercial weights by `validate` and `run` unless the operator records a licence, which the manifest and the
published files' XMP keep."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from brandflow.cli import app
from brandflow.licences import LicenceError, check_licence, model_licence
from brandflow.publishers.provenance import read_provenance
from brandflow.spec import load_campaign

runner = CliRunner()


def _campaign(campaign_dir, **changes):
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            spec.pop(key, None)
        else:
            spec[key] = value
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("backend", "options", "licence", "commercial"),
    [
        ("compositor", {}, "none", True),
        ("flux2", {}, "LicenseRef-FLUX-Non-Commercial-2.1", False),  # FLUX.2 [dev]
        ("flux2-klein", {}, "Apache-2.0", True),  # klein 4B is the default variant
        ("flux2-klein", {"variant": "klein-9b"}, "LicenseRef-FLUX-Non-Commercial-2.1", False),
        ("bfl", {"model": "flux-2-pro"}, "LicenseRef-BFL-API-Terms", True),
    ],
)
def test_every_backend_declares_its_models_licence(backend, options, licence, commercial):
    declared = model_licence(backend, options)
    assert declared.licence == licence and declared.commercial_use is commercial
    assert declared.trained is (backend != "compositor")


def test_validate_refuses_flux2_dev_for_a_commercial_campaign(campaign_dir):
    path = _campaign(campaign_dir, generator={"backend": "flux2", "options": {"variant": "dev"}})
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2
    flat = " ".join(res.output.split())
    assert "FLUX.2 [dev]" in flat and "LicenseRef-FLUX-Non-Commercial-2.1" in flat
    assert "generator.licence" in flat and "usage: non-commercial" in flat and "klein-4b" in flat


def test_validate_accepts_it_with_a_recorded_licence_or_non_commercial_usage(campaign_dir):
    path = _campaign(campaign_dir, generator={"backend": "flux2", "options": {}, "licence": "BFL-SH-2026-0042"})
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 0, res.output
    assert "recorded licence BFL-SH-2026-0042" in " ".join(res.output.split())
    spec, _ = load_campaign(path)
    assert check_licence(spec).recorded_licence == "BFL-SH-2026-0042"

    path = _campaign(campaign_dir, usage="non-commercial", generator={"backend": "flux2-klein", "options": {"variant": "klein-9b"}})
    spec, _ = load_campaign(path)
    record = check_licence(spec)
    assert record.usage == "non-commercial" and record.recorded_licence is None


def test_klein_4b_and_the_api_need_no_recorded_licence(campaign_dir):
    for generator in ({"backend": "flux2-klein", "options": {"variant": "klein-4b"}}, {"backend": "bfl", "options": {"model": "flux-2-klein-9b"}}):
        spec, _ = load_campaign(_campaign(campaign_dir, generator=generator))
        assert check_licence(spec).usage == "commercial"


def test_a_blank_or_control_character_licence_is_a_spec_error(campaign_dir):
    path = _campaign(campaign_dir, generator={"backend": "flux2", "options": {}, "licence": "ok\x07"})
    res = runner.invoke(app, ["validate", str(path)])
    assert res.exit_code == 2 and "generator.licence" in res.output


def test_run_refuses_before_generating_anything(prefect_harness, campaign_dir, tmp_path):
    from brandflow.flows.campaign import campaign_flow

    path = _campaign(campaign_dir, generator={"backend": "flux2-klein", "options": {"variant": "klein-9b"}})
    with pytest.raises(LicenceError, match=r"FLUX\.2 \[klein\] 9B"):
        campaign_flow(str(path), str(tmp_path / "run"), ["white-plimsolls"])
    assert not (tmp_path / "run" / "work").exists()


def test_the_manifest_and_every_published_file_name_the_model_and_licence(prefect_harness, campaign_dir, tmp_path):
    from brandflow.flows.campaign import campaign_flow
    from brandflow.targets import allowing

    path = _campaign(campaign_dir, formats=[{"name": "square", "width": 256, "height": 256, "file_type": "jpeg"}], variants=1)
    published = tmp_path / "published"
    with allowing(published.as_uri()):  # a run-time target: the operator allows it
        campaign_flow(str(path), str(tmp_path / "run"), ["white-plimsolls"], None, published.as_uri())
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["model"]["model"] == "brandflow compositor" and manifest["model"]["licence"] == "none"
    assert manifest["model"]["usage"] == "commercial"
    files = [p for p in published.rglob("*.jpg")]
    assert files
    prov = read_provenance(files[0])
    assert prov["Model"] == "brandflow compositor" and prov["ModelLicence"] == "none" and prov["Usage"] == "commercial"
    assert prov["source_type"] == "compositeSynthetic" and "ai_system" not in prov


def test_check_licence_error_type(campaign_dir):
    spec, _ = load_campaign(_campaign(campaign_dir, generator={"backend": "flux2", "options": {}}))
    with pytest.raises(LicenceError, match="generator.licence"):
        check_licence(spec, "campaign.yaml")
