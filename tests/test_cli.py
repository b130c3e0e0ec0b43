"""The command line: validate, run and qa, through typer's runner in-process."""

from __future__ import annotations

import json

import yaml
from PIL import Image, ImageDraw, ImageFont
from typer.testing import CliRunner

from brandflow.cli import app

runner = CliRunner()
FONT = "brandflow/assets/fonts/DejaVuSans-Bold.ttf"


def test_validate_counts_jobs(example_dir):
    res = runner.invoke(app, ["validate", str(example_dir / "campaign.yaml")])
    assert res.exit_code == 0, res.output
    assert "32 products" in res.output and "valid" in res.output


def test_validate_reports_spec_errors_with_exit_2(campaign_dir):
    path = campaign_dir / "brand.yaml"
    data = yaml.safe_load(path.read_text())
    data["colours"][0]["hex"] = "#12345G"
    path.write_text(yaml.safe_dump(data))
    res = runner.invoke(app, ["validate", str(campaign_dir / "campaign.yaml")])
    assert res.exit_code == 2
    assert "#RRGGBB" in res.output


def test_qa_json_on_an_outside_image(tmp_path, example_dir):
    brand = yaml.safe_load((example_dir / "brand.yaml").read_text())
    primary = next(c["hex"] for c in brand["colours"] if c["role"] == "primary")
    img = Image.new("RGB", (1080, 1080), primary)
    ImageDraw.Draw(img).text((80, 80), "Autumn Sale", fill="white", font=ImageFont.truetype(FONT, 96))
    path = tmp_path / "agency.png"
    img.save(path)
    ok = runner.invoke(app, ["qa", str(path), "--brand", str(example_dir / "brand.yaml"), "--expect-text", "Autumn Sale", "--json", "--checks", "format,text"])
    assert ok.exit_code == 0, ok.output
    result = json.loads(ok.stdout)[str(path)]
    assert result["verdict"] in ("pass", "warn")
    wrong = runner.invoke(app, ["qa", str(path), "--brand", str(example_dir / "brand.yaml"), "--expect-text", "Winter Clearance", "--checks", "text"])
    assert wrong.exit_code == 1


def test_run_prints_the_summary_and_the_published_report(prefect_harness, campaign_dir, tmp_path):
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = spec["formats"][:1]
    spec["variants"] = 1
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    published = tmp_path / "published"
    result = runner.invoke(app, ["run", str(path), "--only", "white-plimsolls", "--out", str(tmp_path / "run"),
                                 "--publish", published.as_uri(), "--workers", "1"])
    assert result.exit_code == 0, result.output
    flat = result.output.replace("\n", "")  # rich wraps long paths at the console width
    assert "1 creatives from 1 products" in flat
    assert f"report: {tmp_path / 'run' / 'report.html'}" in flat
    reports = list(published.rglob("_runs/*/report.html"))
    assert len(reports) == 1 and f"published report: {reports[0].as_uri()}" in flat


def test_run_refuses_zero_workers(campaign_dir):
    result = runner.invoke(app, ["run", str(campaign_dir / "campaign.yaml"), "--workers", "0"])
    assert result.exit_code == 2 and "workers" in result.output
