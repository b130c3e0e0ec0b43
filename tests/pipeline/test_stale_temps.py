"""Temporary files a killed writer left anywhere in a run folder are removed; a live writer's are kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from brandflow.safenames import remove_stale_temps_below


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout)


def test_dead_writers_temps_go_at_every_depth_live_ones_and_other_files_stay(tmp_path):
    run = tmp_path / "run"
    job = run / "work" / "a-b-0123"
    job.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (run / "work" / "linked").symlink_to(outside, target_is_directory=True)
    dead = _dead_pid()
    stale = [job / f".creative.marked.png.{dead}.k3j2.tmp", run / f".manifest.json.{dead}.zz91.tmp"]
    kept = [job / f".generated.png.{os.getpid()}.ab12.tmp", job / "creative.png", job / "notes.tmp",
            outside / f".x.png.{dead}.q1.tmp"]  # not ours: behind a symlinked folder
    for f in stale + kept:
        f.write_bytes(b"x")
    assert remove_stale_temps_below(run) == 2
    assert not any(f.exists() for f in stale) and all(f.exists() for f in kept)


def test_a_failed_runs_record_also_removes_dead_writers_temps(tmp_path):
    """The run that failed writes its record too, and the next run resumes into the same folder: the same sweep."""
    from datetime import datetime, timezone

    from brandflow.manifest import RunManifest, RunSummary
    from brandflow.pipeline.record import write_failure_record

    run = tmp_path / "run"
    job = run / "work" / "a-b-0123"
    job.mkdir(parents=True)
    stale = job / f".creative.png.{_dead_pid()}.k3j2.tmp"
    stale.write_bytes(b"x")

    def manifest_of(records):
        return RunManifest(campaign="c", spec_path="c.yaml", brand="b", backend="compositor", publish_target="file:///p",
                           started_at=datetime.now(timezone.utc), summary=RunSummary.of(records, [], 0, 0.0),
                           jobs=records, rejections=[])

    err = write_failure_record(RuntimeError("the bucket went away"), [], [], manifest_of, run)
    assert err.manifest == run / "manifest.json" and err.manifest.is_file()
    assert not stale.exists()
