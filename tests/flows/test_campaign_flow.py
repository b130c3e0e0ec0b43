"""The campaign flow end to end under a real (temporary) Prefect backend, on real Saleor products."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from brandflow.flows.campaign import campaign_flow
from brandflow.manifest import RunManifest
from brandflow.records import sha256_file
from brandflow.publishers.provenance import read_provenance

PRODUCTS = ["apple-juice", "white-plimsolls", "dash-force"]


def _small(campaign_dir: Path, **overrides) -> Path:
    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = [{"name": "square", "width": 1080, "height": 1080}, {"name": "story", "width": 1080, "height": 1920}]
    spec["variants"] = 1
    spec.update(overrides)
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return tmp_path / "run"


def test_end_to_end_then_rerun_reuses_everything(prefect_harness, campaign_dir, run_dir):
    campaign = _small(campaign_dir)
    first = campaign_flow(str(campaign), str(run_dir), only=PRODUCTS)
    s = first.summary
    assert s.products == 3 and s.jobs == 6 and s.reused == 0
    assert s.published + s.held + s.failed + s.errors == 6 and s.errors == 0
    assert s.published >= 4, "most creatives of real products should pass QA"

    manifest = RunManifest.read(first.manifest)
    assert {j.product_id for j in manifest.jobs} == set(PRODUCTS)
    for job in manifest.jobs:
        final = job.final
        assert final.creative is not None and final.creative.path.is_file()
        assert {c.check for c in final.qa.checks} == {"format", "text", "colour", "identity"}
        if job.status == "published":
            published = Path(job.published.uri.removeprefix("file://"))
            assert published.is_file() and job.published.key.startswith("saleor-autumn/")
            assert json.loads(published.with_name(published.name + ".json").read_text())["sha256"] == job.published.sha256
            assert job.published.sha256 == sha256_file(published) != final.creative.sha256  # the marked file was published
            assert read_provenance(published)["job_id"] == job.job_id
        else:
            assert (run_dir / job.status).is_dir(), "creatives that are not published are kept aside with reasons"
    runs = run_dir / "published" / "saleor-autumn" / "_runs"
    assert {p.name for p in runs.glob("*/*") if not p.name.endswith(".json.json")} >= {"manifest.json", "report.html"}, \
        "the audit record is published beside the creatives"
    report = first.report.read_text()
    for pid in PRODUCTS:
        assert f'data-product="{pid}"' in report
    assert "data:image/jpeg;base64," in report

    published = sorted((run_dir / "published").rglob("*.png"))
    mtimes = {p: p.stat().st_mtime_ns for p in published}
    second = campaign_flow(str(campaign), str(run_dir), only=PRODUCTS)
    assert second.summary.reused == second.summary.attempts, "a re-run reuses every finished job"
    assert second.summary.published == s.published
    assert sorted((run_dir / "published").rglob("*.png")) == published, "no duplicates on re-run"
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())
    assert all(not j.published.written for j in RunManifest.read(second.manifest).jobs if j.published)


def test_bad_rows_and_bad_template_do_not_sink_the_campaign(prefect_harness, campaign_dir, run_dir, tmp_path):
    feed = campaign_dir / "products.csv"
    lines = feed.read_text(encoding="utf-8").splitlines()
    header, rows = lines[0], [l for l in lines[1:] if l.split(",")[0] in ("apple-juice", "bean-juice")]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a truncated PNG
    rows.append(f"broken-image,Broken,desc,Groceries,1.00 USD,{broken},")
    rows.append("no-price,No Price,desc,Groceries,free,images/saleor-apple-drink.png,")
    feed.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    template = campaign_dir / "uses_missing.json.j2"
    template.write_text(
        '{% if product.id == "bean-juice" %}{{ product.no_such_field }}{% endif %}'
        '{"scene": {{ product.title|tojson }}, "subjects": [{"description": "the product"}], "color_palette": {{ brand.palette|tojson }}}'
    )
    campaign = _small(campaign_dir, template=str(template))
    result = campaign_flow(str(campaign), str(run_dir))
    manifest = RunManifest.read(result.manifest)
    reasons = {r.product_id: r for r in manifest.rejections}
    assert set(reasons) == {"broken-image", "no-price", "bean-juice"}
    assert reasons["bean-juice"].field == "template" and "no_such_field" in reasons["bean-juice"].reason
    assert {j.product_id for j in manifest.jobs} == {"apple-juice"}
    html = result.report.read_text()
    assert "broken-image" in html and "no_such_field" in html


def test_task_workers_come_from_the_environment(monkeypatch):
    import subprocess
    import sys

    from brandflow.flows.campaign import task_workers

    monkeypatch.delenv("BRANDFLOW_TASK_WORKERS", raising=False)
    assert task_workers() == 3
    monkeypatch.setenv("BRANDFLOW_TASK_WORKERS", "8")
    assert task_workers() == 8
    for bad in ("0", "65", "four"):
        monkeypatch.setenv("BRANDFLOW_TASK_WORKERS", bad)
        with pytest.raises(ValueError, match="BRANDFLOW_TASK_WORKERS"):
            task_workers()
    code = ("from brandflow.flows.campaign import campaign_flow\n"
            "with campaign_flow.task_runner.duplicate() as runner: print(runner._max_workers)")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "BRANDFLOW_TASK_WORKERS": "6"},
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "6", "a worker started with the variable runs the flow with that many threads"
    bad = subprocess.run([sys.executable, "-c", code], env={**os.environ, "BRANDFLOW_TASK_WORKERS": "four"}, capture_output=True, text=True)
    assert bad.returncode != 0 and "BRANDFLOW_TASK_WORKERS must be a whole number" in bad.stderr
    # the import itself never reads the variable (a bad value fails the run that uses it, not every import)
    subprocess.run([sys.executable, "-c", "import brandflow.flows.campaign"], env={**os.environ, "BRANDFLOW_TASK_WORKERS": "four"},
                   check=True)
