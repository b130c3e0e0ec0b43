"""Kill -9 a real ``brandflow run`` at each stage (generation, compose, publish, report), then re-run: every
creative is published exactly once, the manifest is complete, no ``.tmp`` is left in the target, and the
killed run left no Prefect server behind."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


from brandflow.manifest import RunManifest
from brandflow.records import sha256_file

IDS = ["apple", "../../pear", "a b"]


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc; Linux)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _run(campaign: Path, run_dir: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "brandflow.cli", "run", str(campaign), "--out", str(run_dir), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def _kill_when(proc: subprocess.Popen, reached: Callable[[], bool], timeout: float = 90) -> bool:
    """SIGKILL ``proc`` as soon as ``reached()`` (polled every 5 ms, plus a random 0-30 ms so kills land at
    different points within the stage); returns whether it was killed (False: it finished first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if reached():
            time.sleep(random.uniform(0, 0.03))
            children = _children(proc.pid)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            time.sleep(0.5)  # the kernel's parent-death signal is immediate; give the child a moment to go
            orphans = [c for c in children if _alive(c)]
            assert not orphans, f"the killed run left processes behind: {orphans}"
            return True
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the run never reached the stage")


def test_runs_killed_at_every_stage_resume_to_exactly_one_publish_each(prefect_harness, hostile_campaign, tmp_path):
    from prefect.settings import PREFECT_API_URL

    campaign = hostile_campaign(IDS, formats=[{"name": "square", "width": 256, "height": 256},
                                              {"name": "wide", "width": 384, "height": 256}])
    run_dir = campaign.parent / "runs" / "r"
    published = run_dir / "published"
    base_env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
    base_env.pop("PREFECT_API_URL", None)
    served = {**base_env, "PREFECT_API_URL": PREFECT_API_URL.value()}  # the session's server: no start-up per run

    stages = {
        "generation": lambda: any((run_dir / "work").glob("*/*")),
        "compose": lambda: any((run_dir / "work").glob("*/creative*")),
        "publish": lambda: any(published.rglob("*.png")),
        "report": lambda: (run_dir / "manifest.json").is_file(),
    }
    killed = []
    for i, (stage, reached) in enumerate(stages.items()):
        env = base_env if i == 0 else served  # the first run starts its own ephemeral server, which must die with it
        if _kill_when(_run(campaign, run_dir, env), reached):
            killed.append(stage)
    assert "generation" in killed, "the first run was killed while generating"

    final = _run(campaign, run_dir, served)
    output = final.communicate(timeout=120)[0].decode(errors="replace")
    assert final.returncode == 0, output

    manifest = RunManifest.read(run_dir / "manifest.json")
    assert manifest.error is None and len(manifest.jobs) == 2 * len(IDS)
    assert all(j.status == "published" and j.published for j in manifest.jobs)
    files = sorted(p for p in published.rglob("*.png"))
    assert len(files) == len(manifest.jobs), f"each creative exactly once: {[p.name for p in files]}"
    assert {Path(j.published.uri.removeprefix("file://")) for j in manifest.jobs} == set(files)
    for job in manifest.jobs:
        assert sha256_file(Path(job.published.uri.removeprefix("file://"))) == job.published.sha256
    assert not [p for p in run_dir.rglob("*.tmp")], "no temporary file is left after the re-run"
    assert (run_dir / "report.html").is_file()
