"""Benchmark: two commits of brandflow side by side on the same campaign, alternated, to show what a change did.

    python bench/ab.py --before ae4b7ce                        # the loop at 128 creatives, 3 pairs, HEAD's tree as after
    python bench/ab.py --before ae4b7ce --mode flow --scale 32

``--before`` is checked out into a temporary git worktree and imported from there (``PYTHONPATH``); *after* is this
checkout as it is. Each run is :func:`bench.campaign.measure` of the chosen side (``loop``: the stage functions
without Prefect; ``flow``: the Prefect flow with its ephemeral server): a fresh process and run folder, CPU = user +
sys of the whole process tree, wall time. Runs alternate before/after, after/before … (``--pairs``, at least 3),
after one uncounted warm-up run of each. Same venv, same campaign copy (``bench.campaign.make_campaign``), same
Prefect home. Writes ``bench/results/ab-<mode>-<scale>.md``. Nothing here asserts a target.

``--mode cli`` compares what a user runs, across any distance in history: ``brandflow run`` of each side's own
example campaign as shipped at that commit (``examples/saleor``, 128 creatives; campaign files change with the code),
each side installed with its own entry points (``pip install --no-deps --target``; a worktree on ``PYTHONPATH`` alone
would load today's plugins into old code), through :func:`bench.campaign.measure`'s accounting (the temporary Prefect
server counted). The two campaigns and QA checks differ, so verdicts are reported per side, not compared::

    python bench/ab.py --before 53de078 --mode cli --pairs 4    # today against the code issue 16 measured
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _campaign_module(root: Path, name: str):  # noqa: ANN202 - a module object
    spec = importlib.util.spec_from_file_location(name, root / "bench" / "campaign.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="the commit to compare against (any git revision)")
    ap.add_argument("--mode", choices=["loop", "flow", "cli"], default="loop")
    ap.add_argument("--scale", choices=["32", "128", "320", "photos"], default="128")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=3)
    args = ap.parse_args()
    before_rev = subprocess.run(["git", "rev-parse", "--short", args.before], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    after_rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "brandflow"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory(prefix="brandflow-ab-") as tmp:
        base = Path(tmp)
        tree = base / "before"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), before_rev], cwd=ROOT, check=True)
        try:
            after = _campaign_module(ROOT, "campaign_after")
            cli = args.mode == "cli"
            # --mode cli: today's driver measures both sides (an old tree may have no bench/campaign.py that can)
            sides = {"before": after if cli else _campaign_module(tree, "campaign_before"), "after": after}
            after._become_subreaper()
            common = {k: v for k, v in after.bench_env(base).items() if k != "PYTHONPATH"}
            envs = {"before": {**common, "PYTHONPATH": str(tree)}, "after": common}
            campaign = after.make_campaign(base / "campaign", args.scale) if not cli else None
            campaigns = {"before": campaign, "after": campaign}
            if cli:
                if args.scale != "128":
                    raise SystemExit("--mode cli runs each side's example as shipped: --scale 128 only")
                site = base / "before-site"
                subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                                "--target", str(site), str(tree)], check=True)
                envs["before"]["PYTHONPATH"] = str(site)
                for name, root in (("before", tree), ("after", ROOT)):
                    copy = base / f"example-{name}"
                    shutil.copytree(root / "examples" / "saleor", copy, ignore=shutil.ignore_patterns("runs"))
                    campaigns[name] = copy / "campaign.yaml"
            mode = "flow" if cli else args.mode
            log = ROOT / "bench" / "results" / "ab.log"
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text("")
            for name in ("before", "after"):  # warm-up, not counted: migrates the Prefect home, fills the OS file cache
                sides[name].measure(mode, campaigns[name], base / f"warm-{name}", args.workers, envs[name], log, cli=cli)
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            loads = []
            for i in range(args.pairs):
                for name in (("before", "after") if i % 2 == 0 else ("after", "before")):
                    r = sides[name].measure(mode, campaigns[name], base / f"{name}-{i}", args.workers, envs[name], log, cli=cli)
                    runs[name].append(r)
                    loads.append(os.getloadavg()[0])
                    print(f"{name} #{i + 1}: cpu {r['cpu']:.1f} s, wall {r['wall']:.1f} s, load {loads[-1]:.1f}", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False)

    def mmm(values: list[float]) -> str:
        return " / ".join(f"{v:.1f}" for v in sides["after"].stats(values))

    def final(r: dict) -> str:  # jobs by their last attempt's verdict
        return ", ".join(f"{v} {n}" for v, n in sides["after"]._final_verdicts(r["verdicts"]).items())

    same = all(a["verdicts"] == b["verdicts"] for a in runs["before"] for b in runs["after"])
    steady = {name: all(r["verdicts"] == runs[name][0]["verdicts"] for r in runs[name]) for name in runs}
    lines = [
        f"# bench/ab.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"{args.mode} at {args.scale} creatives' scale, before = {before_rev}, after = {after_rev}{' (with uncommitted changes)' if dirty else ''}; "
        f"{args.pairs} alternated pairs, {args.workers} worker threads, 1-min load average {min(loads):.1f}–{max(loads):.1f}. "
        "CPU = user + sys of the run's whole process tree. min / median / max.",
        "",
        "| | before | after | after − before per pair |",
        "|---|---|---|---|",
        f"| CPU s | {mmm([r['cpu'] for r in runs['before']])} | {mmm([r['cpu'] for r in runs['after']])} | "
        f"{mmm([a['cpu'] - b['cpu'] for a, b in zip(runs['after'], runs['before'])])} |",
        f"| wall s | {mmm([r['wall'] for r in runs['before']])} | {mmm([r['wall'] for r in runs['after']])} | "
        f"{mmm([a['wall'] - b['wall'] for a, b in zip(runs['after'], runs['before'])])} |",
        f"| CPU ratio after / before per pair | | | {' / '.join(f'{v:.3f}' for v in after.stats([a['cpu'] / b['cpu'] for a, b in zip(runs['after'], runs['before'])]))} |",
        "",
        (f"Each side ran its own example campaign as shipped, `brandflow run` as a whole process (own install, own QA checks): "
         f"before {runs['before'][0]['jobs']} jobs, {runs['before'][0]['attempts']} attempts, final verdicts {final(runs['before'][0])}; "
         f"after {runs['after'][0]['jobs']} jobs, {runs['after'][0]['attempts']} attempts, final verdicts {final(runs['after'][0])}; "
         f"verdicts the same in every run of a side: before {'yes' if steady['before'] else 'NO'}, after {'yes' if steady['after'] else 'NO'}."
         if cli else f"QA verdicts the same in every run: {'yes' if same else 'NO'}."),
    ]
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "results" / f"ab-{args.mode}-{args.scale}.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    sys.exit(main())
