"""Campaign and brand-kit validation: every error names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from brandflow.errors import SpecError
from brandflow.spec import load_brand_kit, load_campaign


def _edit(path: Path, **changes) -> None:
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[int(last) if last.isdigit() else last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_example_campaign_loads_with_absolute_paths(example_dir):
    spec, brand = load_campaign(example_dir / "campaign.yaml")
    assert spec.feed.path.is_absolute() and spec.feed.path.is_file()
    assert spec.brand_kit == (example_dir / "brand.yaml").resolve()
    assert brand.colour("primary") is not None
    assert all(c.hex == c.hex.upper() and len(c.hex) == 7 for c in brand.colours)


def test_bad_brand_hex_names_the_colour_and_the_expected_form(campaign_dir):
    brand = campaign_dir / "brand.yaml"
    _edit(brand, colours__0__hex="#12345G")
    with pytest.raises(SpecError) as e:
        load_brand_kit(brand)
    msg = str(e.value)
    assert "brand.yaml" in msg and "colours.0.hex" in msg and "#RRGGBB" in msg and "#12345G" in msg


def test_unknown_key_is_an_error_listing_the_allowed_keys(campaign_dir):
    campaign = campaign_dir / "campaign.yaml"
    _edit(campaign, qa__max_attempt=3)  # typo of max_attempts
    with pytest.raises(SpecError) as e:
        load_campaign(campaign)
    assert e.value.field == "qa.max_attempt"
    assert "max_attempts" in e.value.fix


def test_unknown_top_level_key(campaign_dir):
    campaign = campaign_dir / "campaign.yaml"
    _edit(campaign, varaints=3)
    with pytest.raises(SpecError, match="varaints.*remove it or use one of:.*variants"):
        load_campaign(campaign)


def test_missing_field_and_bad_value(campaign_dir):
    campaign = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(campaign.read_text())
    del data["formats"]
    campaign.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="formats.*add this field"):
        load_campaign(campaign)
    data["formats"] = [{"name": "sq", "width": 10, "height": 1080}]
    campaign.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"formats\.0\.width"):
        load_campaign(campaign)


def test_duplicate_format_names(campaign_dir):
    campaign = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(campaign.read_text())
    data["formats"] = [data["formats"][0], data["formats"][0]]
    campaign.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="unique"):
        load_campaign(campaign)


def test_yaml_syntax_error_names_the_line(campaign_dir):
    campaign = campaign_dir / "campaign.yaml"
    campaign.write_text("name: x\nformats: [\n")
    with pytest.raises(SpecError, match=r"line \d+"):
        load_campaign(campaign)


def test_missing_feed_file(campaign_dir):
    (campaign_dir / "products.csv").unlink()
    with pytest.raises(SpecError, match="feed.path.*file not found"):
        load_campaign(campaign_dir / "campaign.yaml")


def test_brand_kit_needs_a_primary_colour(campaign_dir):
    brand = campaign_dir / "brand.yaml"
    data = yaml.safe_load(brand.read_text())
    data["colours"] = [c for c in data["colours"] if c["role"] != "primary"]
    brand.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match="primary"):
        load_brand_kit(brand)


@pytest.mark.parametrize(
    ("model", "make_dir", "expected"),
    [
        ("./weights/klein", False, "{base}/weights/klein"),  # explicit relative path: resolved even before download
        ("weights/klein", True, "{base}/weights/klein"),  # a folder beside the campaign
        ("black-forest-labs/FLUX.2-klein-4B", False, "black-forest-labs/FLUX.2-klein-4B"),  # a repo id: untouched
        ("/models/klein", False, "/models/klein"),
    ],
)
def test_generator_model_folder_is_relative_to_the_campaign(campaign_dir, monkeypatch, tmp_path, model, make_dir, expected):
    path = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(path.read_text())
    data["generator"] = {"backend": "flux2-klein", "options": {"model": model}}
    path.write_text(yaml.safe_dump(data))
    if make_dir:
        (campaign_dir / model).mkdir(parents=True)
    monkeypatch.chdir(tmp_path.parent)  # the worker's working directory is not the campaign's folder
    spec, _ = load_campaign(path)
    assert spec.generator.options["model"] == expected.format(base=campaign_dir.resolve())
