"""QA readings that depend only on a file's content are kept in the user's cache, across runs and campaigns."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import pytest
import yaml

from brandflow import cachedir
from brandflow.feed.catalog import load_feed
from brandflow.pipeline import jobs as pj
from brandflow.pipeline.plan import plan_jobs
from brandflow.qa import identity, label_text, scene_text, source_text
from brandflow.spec import load_campaign

PRODUCTS = ["apple-juice", "white-plimsolls"]


def test_where_the_cache_is(monkeypatch, tmp_path):
    monkeypatch.delenv("BRANDFLOW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cachedir.user_cache_dir() == tmp_path / "xdg" / "brandflow"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG specification: relative paths are invalid
    assert cachedir.user_cache_dir() == Path("~/.cache/brandflow").expanduser()
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(tmp_path / "mine"))
    assert cachedir.user_cache_dir() == tmp_path / "mine"
    for off in ("off", "", "None", "0"):
        monkeypatch.setenv("BRANDFLOW_CACHE_DIR", off)
        assert cachedir.user_cache_dir() is None and cachedir.shared_folder("qa-sources") is None


def test_the_cache_is_private_and_an_unusable_one_is_said_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(tmp_path / "cache"))
    folder = cachedir.shared_folder("qa-sources")
    assert folder == tmp_path / "cache" / "qa-sources" and folder.is_dir()
    assert stat.S_IMODE((tmp_path / "cache").stat().st_mode) == 0o700

    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    with caplog.at_level(logging.WARNING, logger="brandflow.cachedir"):
        assert cachedir.shared_folder("qa-sources") is None
        assert cachedir.shared_folder("qa-sources") is None
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and "BRANDFLOW_CACHE_DIR" in said[0] and "run folder" in said[0]
    assert not cachedir.keep(tmp_path / "a-file" / "x.json", b"{}")  # a result that cannot be kept is not an error


def _plan(campaign_dir: Path) -> tuple:
    path = campaign_dir / "campaign.yaml"
    data = yaml.safe_load(path.read_text())
    data["formats"] = [{"name": "square", "width": 540, "height": 540}]
    data["variants"] = 1
    data["qa"]["checks"] = ["text", "identity"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    spec, brand = load_campaign(path)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, [p for p in products if p.id in PRODUCTS])
    return spec, brand, jobs


def _new_process() -> None:
    """What a new process starts with: no reading in memory."""
    label_text.clear_cache()
    source_text.clear_cache()
    identity.clear_cache()


def _run(spec, brand, jobs, run_dir: Path, monkeypatch) -> tuple[dict, list, list]:
    """Run the jobs into ``run_dir`` as a new process would; returns verdicts, the packshot readings made by the
    scene-text engine and whether each Tesseract source reading came from disk."""
    _new_process()
    scene_reads: list[tuple] = []
    source_reads: list[bool] = []
    read_scene, read_source = scene_text.read_scene_text, source_text._read_or_reuse
    monkeypatch.setattr(scene_text, "read_scene_text", lambda image, **k: scene_reads.append(image.shape) or read_scene(image, **k))
    monkeypatch.setattr(source_text, "_read_or_reuse", lambda *a: (lambda r: source_reads.append(r[1]) or r)(read_source(*a)))
    done = pj.run_batch(jobs, spec, brand, run_dir)
    monkeypatch.setattr(scene_text, "read_scene_text", read_scene)
    monkeypatch.setattr(source_text, "_read_or_reuse", read_source)
    qa = {job.job_id: attempts[-1].qa for job, attempts in done}
    return {k: (v.verdict, [c.metrics for c in v.checks]) for k, v in qa.items()}, scene_reads, source_reads


def test_a_second_campaign_over_the_same_catalogue_reads_no_packshot_again(campaign_dir, tmp_path, monkeypatch):
    cache = tmp_path / "user-cache"
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(cache))
    spec, brand, jobs = _plan(campaign_dir)

    first, scene1, source1 = _run(spec, brand, jobs, tmp_path / "run-a", monkeypatch)
    assert len(scene1) == len(PRODUCTS), "each primary packshot's lettering is read once"
    assert source1 and not any(source1), "each pasted source is read by Tesseract"
    kept = sorted(p.name for p in (cache / "qa-sources").iterdir())
    assert len(kept) >= len(PRODUCTS) + len(source1)
    assert all(len(n.split("-")[0]) == 64 and n.endswith(".json") for n in kept), "named by content hash only"
    assert not (tmp_path / "run-a" / "work" / "qa-sources").exists()

    again, scene2, source2 = _run(spec, brand, jobs, tmp_path / "run-b", monkeypatch)  # another run folder
    assert scene2 == [] and source2 and all(source2), "every reading came from the cache"
    assert again == first, "the same verdicts and the same numbers"


def test_with_the_cache_off_readings_stay_in_the_run_folder(campaign_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", "off")
    spec, brand, jobs = _plan(campaign_dir)
    first, scene1, _ = _run(spec, brand, jobs, tmp_path / "run-a", monkeypatch)
    assert len(scene1) == len(PRODUCTS) and any((tmp_path / "run-a" / "work" / "qa-sources").iterdir())
    again, scene2, _ = _run(spec, brand, jobs, tmp_path / "run-b", monkeypatch)
    assert len(scene2) == len(PRODUCTS), "a new run folder reads the packshots again"
    assert again == first


def test_an_unwritable_cache_loses_nothing(campaign_dir, tmp_path, monkeypatch):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(tmp_path / "a-file" / "cache"))
    spec, brand, jobs = _plan(campaign_dir)
    verdicts, scene1, _ = _run(spec, brand, jobs, tmp_path / "run", monkeypatch)
    assert len(verdicts) == len(jobs) and len(scene1) == len(PRODUCTS)
    assert any((tmp_path / "run" / "work" / "qa-sources").iterdir()), "kept in the run folder instead"


def test_a_killed_writers_temporary_file_in_the_cache_is_removed_once_per_process(monkeypatch, tmp_path):
    """Writes into the shared cache do not scan it (it only grows); the first use in a process sweeps it instead."""
    import subprocess
    import sys

    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)
    folder = tmp_path / "cache" / "qa-sources"
    folder.mkdir(parents=True)
    stale = folder / f".{'a' * 64}-0123456789abcdef.json.{dead}.k3j2.tmp"
    stale.write_bytes(b"x")
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(tmp_path / "cache"))
    assert cachedir.shared_folder("qa-sources") == folder and not stale.exists()
    again = folder / f".{'b' * 64}-0123456789abcdef.json.{dead}.k3j2.tmp"
    again.write_bytes(b"x")
    assert cachedir.keep(folder / f"{'c' * 64}-0123456789abcdef.json", b"{}")
    assert cachedir.shared_folder("qa-sources") == folder and again.exists(), "swept once per process, not per write"


def test_the_cache_is_measured_and_cleared_and_a_cleared_reading_is_read_again(campaign_dir, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from brandflow.cli import app

    cache = tmp_path / "user-cache"
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", str(cache))
    spec, brand, jobs = _plan(campaign_dir)
    first, scene1, _ = _run(spec, brand, jobs, tmp_path / "run-a", monkeypatch)
    kept = sorted((cache / "qa-sources").iterdir())
    # a cache folder pointed at a folder that holds other things: they are neither counted nor removed
    foreign = [cache / "notes.txt", cache / "qa-sources" / "README.json", cache / "qa-sources" / f"{'a' * 64}.json"]
    for path in foreign:
        path.write_text("mine")

    runner = CliRunner()
    info = runner.invoke(app, ["cache", "info", "--json"])
    assert info.exit_code == 0, info.output
    assert json.loads(info.output) == {"folder": str(cache), "files": len(kept), "bytes": sum(p.stat().st_size for p in kept)}

    old = kept[0]
    os.utime(old, (old.stat().st_atime, old.stat().st_mtime - 10 * 86400))
    cleared = runner.invoke(app, ["cache", "clear", "--older-than", "7"])
    assert cleared.exit_code == 0 and "removed 1 readings" in cleared.output, cleared.output
    assert not old.exists() and all(p.exists() for p in kept[1:])

    cleared = runner.invoke(app, ["cache", "clear"])
    assert cleared.exit_code == 0 and f"removed {len(kept) - 1} readings" in cleared.output, cleared.output
    assert not any(p.exists() for p in kept) and all(p.read_text() == "mine" for p in foreign)
    assert cachedir.usage() == cachedir.CacheUsage(cache, 0, 0)

    again, scene2, _ = _run(spec, brand, jobs, tmp_path / "run-b", monkeypatch)
    assert len(scene2) == len(scene1) == len(PRODUCTS), "a cleared reading is read again"
    assert again == first


def test_cache_commands_with_the_cache_off_or_a_bad_age(monkeypatch):
    from typer.testing import CliRunner

    from brandflow.cli import app

    runner = CliRunner()
    assert runner.invoke(app, ["cache", "clear", "--older-than", "-1"]).exit_code == 2, "a negative age is refused"
    with pytest.raises(ValueError, match="older_than_days"):
        cachedir.prune(-1)
    monkeypatch.setenv("BRANDFLOW_CACHE_DIR", "off")
    info = runner.invoke(app, ["cache", "info"])
    assert info.exit_code == 0 and "off" in info.output
    assert runner.invoke(app, ["cache", "info", "--json"]).output.strip() == "null"
    assert cachedir.prune() is None and "nothing to clear" in runner.invoke(app, ["cache", "clear"]).output


def test_kept_or_computed_reuses_what_loads_and_keeps_nothing_of_a_failure(tmp_path):
    import json

    path = tmp_path / f"{'a' * 64}-0123456789abcdef.json"
    load = lambda p: (lambda d: d.get("v"))(json.loads(p.read_text())) if p.exists() else None  # noqa: E731
    dump = lambda v: json.dumps({"v": v}).encode()  # noqa: E731
    calls = []

    def compute():
        calls.append(1)
        return 42

    assert cachedir.kept_or_computed(path, load, compute, dump) == (42, False) and path.exists()
    month_ago = time.time() - 30 * 86400
    os.utime(path, (month_ago, month_ago))
    assert cachedir.kept_or_computed(path, load, compute, dump) == (42, True) and len(calls) == 1
    assert path.stat().st_mtime > month_ago + 29 * 86400, "a reused result counts as used now, for prune's age"
    path.write_text('{"other": 1}')  # unreadable as a result: computed again and kept again
    assert cachedir.kept_or_computed(path, load, compute, dump) == (42, False) and json.loads(path.read_text()) == {"v": 42}
    assert cachedir.kept_or_computed(None, load, compute, dump) == (42, False), "no path: nothing kept, nothing read"

    def broken():
        raise ValueError("bytes changed")

    other = tmp_path / f"{'b' * 64}-0123456789abcdef.json"
    with pytest.raises(ValueError, match="bytes changed"):
        cachedir.kept_or_computed(other, load, broken, dump)
    assert not other.exists()
