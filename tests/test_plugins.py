"""The plugin contract: every named plugin is resolved through the registry and its settings validated by its own
``Options`` model, with the nearest valid name on a typo; a third-party publisher installed by entry point gets
its own YAML key and runs through a campaign."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from brandflow import registry
from brandflow.cli import app
from brandflow.errors import SpecError
from brandflow.spec import load_campaign

runner = CliRunner()


def _edit(campaign_dir: Path, edit) -> Path:  # noqa: ANN001
    path = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(("edit", "field", "nearest"), [
    (lambda d: d.setdefault("generator", {}).update(backend="compositer"), "generator.backend", "compositor"),
    (lambda d: d.setdefault("generator", {}).update(options={"scael": 1.1}), "generator.options.scael", "scale"),
    (lambda d: d.setdefault("qa", {}).update(checks=["format", "identiy"]), "qa.checks.1", "identity"),
    (lambda d: d.setdefault("qa", {}).update(colour={"pass_delta_ee": 2}), "qa.colour.pass_delta_ee", "pass_delta_e"),
    (lambda d: d.setdefault("qa", {}).update(txt={"min_ned": 0.8}), "qa.txt", "text"),
    (lambda d: d.setdefault("publish", {}).update(target="s4://bucket/prefix"), "publish.target", None),
    (lambda d: d.setdefault("publish", {}).update(s3={"regoin": "eu-west-1"}), "publish.s3.regoin", "region"),
    (lambda d: d.setdefault("publish", {}).update(wagtial={"tags": ["a"]}), "publish.wagtial", "wagtail"),
    (lambda d: d.update(formts=d["formats"]), "formts", "formats"),
])
def test_validate_names_the_field_and_the_nearest_valid_name(campaign_dir, edit, field, nearest):
    path = _edit(campaign_dir, edit)
    res = runner.invoke(app, ["validate", "--json", str(path)])
    assert res.exit_code == 2, res.output
    error = json.loads(res.stdout)["error"]
    assert error["field"] == field and error["path"] == str(path)
    if nearest:
        assert f"did you mean {nearest!r}?" in error["reason"]
    else:  # no installed publisher is near 's4': the fix lists those that are
        assert "no publisher named 's4'" in error["reason"] and "file, s3, wagtail" in error["fix"]
    plain = runner.invoke(app, ["validate", str(path)])
    assert plain.exit_code == 2 and error["message"] in plain.output.replace("\n", "")


def test_plugin_settings_are_the_plugins_own_models(campaign_dir):
    from brandflow.publishers.s3 import S3Options
    from brandflow.qa.text import TextThresholds

    path = _edit(campaign_dir, lambda d: (d.setdefault("qa", {}).update(text={"min_ned": 0.8}),
                                          d.setdefault("publish", {}).update(s3={"region": "eu-west-1"})))
    spec, _ = load_campaign(path)
    assert isinstance(spec.qa.text, TextThresholds) and spec.qa.text.min_ned == 0.8
    assert isinstance(spec.qa.options("colour"), registry.options_model("check", "colour"))
    assert isinstance(spec.publish.s3, S3Options)
    assert spec.publish.options_for("s3://bucket/x") == {"region": "eu-west-1"}
    assert spec.publish.options_for("file:///tmp/x") == {}


def test_an_unquoted_hex_colour_says_quote_it_at_its_line(campaign_dir):
    brand = campaign_dir / "brand.yaml"
    lines = brand.read_text().splitlines()
    n, line = next((i, x) for i, x in enumerate(lines) if "hex:" in x)
    lines[n] = line.replace("'", "").replace('"', "")
    brand.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError) as e:
        load_campaign(campaign_dir / "campaign.yaml")
    assert e.value.field == f"line {n + 1}" and "quote it: hex: '#" in e.value.fix and "# starts a comment" in e.value.fix


# --------------------------------------------------------------------------- a third-party publisher package
ACME = '''
"""A third-party brandflow publisher: copies creatives under <folder>/<label>/ and records who published them."""

import json
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

from pydantic import Field

from brandflow.records import PublishedAsset
from brandflow.registry import PluginOptions


class AcmeOptions(PluginOptions):
    label: str = Field(default="acme", pattern=r"^[a-z]+$")
    uppercase_keys: bool = False


class AcmePublisher:
    name = "acme"
    Options = AcmeOptions

    def __init__(self, uri, **options):
        self.options = AcmeOptions(**options)
        self.root = Path(unquote(urlparse(uri).path))

    def publish(self, src, key, sha256, metadata, on_conflict, labels=None):
        key = key.upper() if self.options.uppercase_keys else key
        dest = self.root / self.options.label / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        dest.with_name(dest.name + ".acme.json").write_text(json.dumps({"sha256": sha256, "title": labels.title if labels else None}))
        return PublishedAsset(uri=dest.as_uri(), key=key, sha256=sha256, link=dest.as_uri())
'''


@pytest.fixture
def acme_installed(tmp_path, monkeypatch):
    """The ``acme-publisher`` distribution installed into a folder on ``sys.path``: its module and a dist-info with
    the entry point, exactly what ``pip install`` writes."""
    site = tmp_path / "site"
    (site / "acme_publisher-1.0.dist-info").mkdir(parents=True)
    (site / "acme_publisher.py").write_text(textwrap.dedent(ACME))
    (site / "acme_publisher-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-publisher\nVersion: 1.0\n")
    (site / "acme_publisher-1.0.dist-info" / "entry_points.txt").write_text("[brandflow.publishers]\nacme = acme_publisher:AcmePublisher\n")
    monkeypatch.syspath_prepend(str(site))
    yield site
    registry._loaded.pop(("publisher", "acme"), None)


def test_a_third_party_publisher_is_found_and_its_options_validated(campaign_dir, tmp_path, acme_installed):
    assert "acme" in registry.available("publisher")
    bad = _edit(campaign_dir, lambda d: d["publish"].update(target=(tmp_path / "out").as_uri().replace("file:", "acme:"),
                                                            acme={"lable": "spring"}) if "publish" in d else
                d.update(publish={"target": (tmp_path / "out").as_uri().replace("file:", "acme:"), "acme": {"lable": "spring"}}))
    res = runner.invoke(app, ["validate", "--json", str(bad)])
    assert res.exit_code == 2 and json.loads(res.stdout)["error"]["field"] == "publish.acme.lable"
    assert "did you mean 'label'?" in res.stdout


def test_a_third_party_publisher_runs_through_a_campaign(prefect_harness, campaign_dir, tmp_path, acme_installed):
    out = tmp_path / "out"

    def edit(d):  # noqa: ANN001
        d["formats"], d["variants"] = d["formats"][:1], 1
        d.setdefault("publish", {}).update(target=out.as_uri().replace("file:", "acme:"), acme={"label": "spring", "uppercase_keys": True})
        d.setdefault("qa", {})["checks"] = ["format"]

    path = _edit(campaign_dir, edit)
    res = runner.invoke(app, ["run", "--json", str(path), "--only", "white-plimsolls", "--out", str(tmp_path / "run"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["summary"]
    assert summary["published"] == 1
    creatives = [p for p in (out / "spring").rglob("*.PNG")]
    assert len(creatives) == 1 and creatives[0].name == "V0.PNG", "the publisher's own options were applied"
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    (job,) = manifest["jobs"]
    assert job["published"]["uri"] == creatives[0].as_uri()
    assert json.loads(creatives[0].with_name("V0.PNG.acme.json").read_text())["sha256"] == job["published"]["sha256"]
