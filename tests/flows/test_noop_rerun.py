"""A re-run that finds everything done: no Prefect, no file written, the same exit status — and anything
missing sends the run through the flow, which repairs it exactly once (brandflow/pipeline/noop.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from brandflow.cli import app
from brandflow.flows.campaign import campaign_flow
from brandflow.manifest import RunManifest
from brandflow.pipeline.noop import checked_images, finished_run
from brandflow.pipeline.plan import run_target
from brandflow.pipeline.preflight import preflight

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saleor"
PRODUCTS = ["apple-juice", "white-plimsolls"]  # white-plimsolls has three packshots


@pytest.fixture(scope="module")
def finished(prefect_harness, tmp_path_factory) -> tuple[Path, Path]:
    """``(campaign.yaml, run folder)``: 2 products × square, run once by the flow to the end."""
    folder = tmp_path_factory.mktemp("noop")
    for name in ("campaign.yaml", "brand.yaml", "products.csv"):
        shutil.copy(EXAMPLE / name, folder / name)
    for name in ("images", "packshots", "logo.png"):
        (folder / name).symlink_to(EXAMPLE / name)
    spec = yaml.safe_load((folder / "campaign.yaml").read_text())
    spec.update(formats=[{"name": "square", "width": 1080, "height": 1080}], variants=1)
    spec["feed"]["filter"] = {"ids": PRODUCTS}
    campaign = folder / "campaign.yaml"
    campaign.write_text(yaml.safe_dump(spec, sort_keys=False))
    run_dir = folder / "run"
    result = campaign_flow(str(campaign), str(run_dir))
    assert result.summary.jobs == 2 and result.summary.errors == 0 and result.summary.published >= 1
    return campaign, run_dir


def _snapshot(folder: Path) -> dict[str, tuple[str, int, int]]:
    """Every file below ``folder``: sha256, mtime (ns) and inode."""
    return {str(p.relative_to(folder)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _decide(campaign: Path, run_dir: Path) -> str:
    checked = preflight(campaign, lambda spec: checked_images(run_dir))
    done, why = finished_run(checked, campaign, run_dir, run_target(checked.spec, run_dir))
    assert (done is None) == bool(why)
    return why


def test_a_noop_rerun_imports_no_prefect_and_writes_nothing(finished):
    campaign, run_dir = finished
    manifest = RunManifest.read(run_dir / "manifest.json")
    before = _snapshot(run_dir)
    code = ("import sys\nfrom brandflow.cli import app\ntry:\n"
            f"    app({['run', str(campaign), '--out', str(run_dir), '--json']!r})\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print('prefect imported:', any(m.split('.')[0] == 'prefect' for m in sys.modules))\nsys.exit(code)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # no test server to talk to
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    *answer, last = out.stdout.strip().splitlines()
    assert last == "prefect imported: False", out.stderr
    result = json.loads("\n".join(answer))
    assert result["noop"] is True and "nothing to do" in out.stderr
    assert out.returncode == result["exit_code"] == manifest.exit_code, "the exit status is the recorded run's"
    assert result["summary"] == manifest.summary.model_dump(mode="json")
    assert result["published_report"] and result["published_report"].endswith("/report.html")
    assert _snapshot(run_dir) == before, "no file of the run folder (creatives, records, published copies) is written"


def test_a_noop_rerun_removes_what_a_killed_writer_left(finished):
    """A run killed after its manifest, mid-write of a file, leaves a temporary file no later run writes over: the
    no-op re-run deletes it (its writer is gone) and keeps a live writer's, changing nothing else."""
    campaign, run_dir = finished
    before = _snapshot(run_dir)
    job_dir = next(p for p in (run_dir / "work").iterdir() if p.is_dir())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = job_dir / f".creative.marked.png.{int(dead.stdout)}.x1y2z3.tmp"
    live = job_dir / f".creative.marked.png.{os.getpid()}.a1b2c3.tmp"
    for f in (stale, live):
        f.write_bytes(b"half a file")
    try:
        assert _decide(campaign, run_dir) == ""
        assert not stale.exists() and live.exists()
    finally:
        live.unlink(missing_ok=True)
    assert _snapshot(run_dir) == before


def test_anything_missing_or_changed_is_not_a_noop(finished):
    campaign, run_dir = finished
    manifest = RunManifest.read(run_dir / "manifest.json")
    assert _decide(campaign, run_dir) == ""
    published = next(j for j in manifest.jobs if j.status == "published").published
    target = Path(published.uri.removeprefix("file://"))
    moves = {
        target: "not at the target",  # a published creative deleted at the target
        next((run_dir / "work").rglob("generated.png")): "not finished",  # a stage's file gone: that job runs again
        next((run_dir / "published").rglob("_runs/*/report.html")): "run record",  # the run record's published copy
    }
    for path, why in moves.items():
        path.rename(path.with_name(path.name + ".away"))
        try:
            assert why in _decide(campaign, run_dir)
        finally:
            path.with_name(path.name + ".away").rename(path)
    report, stamp = run_dir / "report.html", (run_dir / "report.html").stat().st_mtime_ns
    os.utime(report, ns=(stamp, (run_dir / "manifest.json").stat().st_mtime_ns - 10**9))  # killed between the two writes
    try:
        assert "report.html" in _decide(campaign, run_dir)
    finally:
        os.utime(report, ns=(stamp, stamp))
    original = campaign.read_text()
    try:
        campaign.write_text(original.replace("name: saleor-autumn", "name: saleor-autumn\nreview: required"))
        assert "review" in _decide(campaign, run_dir)
        spec = yaml.safe_load(original)
        spec["overlay"]["cta"] = "Buy now"  # new pixels: the jobs' content keys change
        campaign.write_text(yaml.safe_dump(spec, sort_keys=False))
        assert "not finished" in _decide(campaign, run_dir)
    finally:
        campaign.write_text(original)
    assert _decide(campaign, run_dir) == "", "every check left the run folder as it was"


def test_a_deleted_creative_is_republished_once_then_the_rerun_is_a_noop(finished):
    campaign, run_dir = finished
    manifest = RunManifest.read(run_dir / "manifest.json")
    published = next(j for j in manifest.jobs if j.status == "published").published
    target = Path(published.uri.removeprefix("file://"))
    target.unlink()
    runner = CliRunner()
    again = runner.invoke(app, ["run", str(campaign), "--out", str(run_dir), "--json"])
    assert again.exit_code == manifest.exit_code, again.output
    result = json.loads(again.stdout)
    assert result["noop"] is False and result["summary"]["reused"] == result["summary"]["attempts"] == 2
    assert target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == published.sha256
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name, target.name + ".json"], "written once, no version"
    after = RunManifest.read(run_dir / "manifest.json")
    assert [j.published.written for j in after.jobs if j.published] .count(True) == 1
    third = runner.invoke(app, ["run", str(campaign), "--out", str(run_dir), "--json"])
    assert json.loads(third.stdout)["noop"] is True and third.exit_code == manifest.exit_code
