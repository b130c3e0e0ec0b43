"""Benchmark: a campaign whose packshots an earlier campaign read, against a first campaign (the QA readings cache).

QA reads every packshot's lettering (RapidOCR) and every pasted source's words (Tesseract) once per content; those
readings are kept in the user's cache (``BRANDFLOW_CACHE_DIR``, ``brandflow/cachedir.py``), so a second campaign
over the same catalogue, or a run into a new folder, reads none again. This measures what that saves, as
``bench/campaign.py`` measures (its ``measure``: a fresh process and a fresh run folder per run, CPU = user + sys of
the whole process tree, the ephemeral Prefect server included, peak RSS of the tree):

* **cold**: a new, empty cache (a first campaign on a new machine);
* **warm**: the cache one earlier run (not counted) filled; the run folder is new all the same.

Cold and warm alternate (A B A B …, ``--pairs``, at least 3), on the flow (``--mode flow``, default) or the loop.
Both must give the same QA verdicts and byte-identical creatives; the script says whether they did.

    python bench/readings_cache.py                 # the example's 128 creatives, 3 pairs, the flow
    python bench/readings_cache.py --scale 32 --mode loop

Writes ``bench/results/readings-cache.md``. Nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import campaign as bench  # noqa: E402  (bench/campaign.py: make_campaign, measure, bench_env)

ROOT = Path(__file__).resolve().parents[1]


def fmt(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="128", choices=sorted(bench.SCALES))
    ap.add_argument("--mode", default="flow", choices=["flow", "loop"])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "readings-cache.md")
    args = ap.parse_args()
    bench._become_subreaper()
    with tempfile.TemporaryDirectory(prefix="brandflow-cache-bench-") as tmp:
        base = Path(tmp)
        env = bench.bench_env(base)
        log = ROOT / "bench" / "results" / "readings-cache.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("")
        campaign = bench.make_campaign(base / "campaign", args.scale)
        cache = base / "user-cache"
        print("filling the cache (not counted): one run of the same campaign", flush=True)
        bench.measure(args.mode, campaign, base / "fill", args.workers, env, log, cache=cache)
        runs: dict[str, list[dict]] = {"cold": [], "warm": []}
        loads = []
        for i in range(args.pairs):
            for side in ("cold", "warm") if i % 2 == 0 else ("warm", "cold"):
                r = bench.measure(args.mode, campaign, base / f"{side}-{i}", args.workers, env, log,
                                  cache=cache if side == "warm" else None)
                runs[side].append(r)
                loads.append(os.getloadavg()[0])
                print(f"  {side} #{i + 1}: cpu {r['cpu']:.1f} s, wall {r['wall']:.1f} s, rss {r['rss_tree_mb']:.0f} MB, "
                      f"load {loads[-1]:.1f}", flush=True)
    same_verdicts = len({json.dumps(r["verdicts"], sort_keys=True) for side in runs.values() for r in side}) == 1
    same_bytes = len({json.dumps(r["creatives"], sort_keys=True) for side in runs.values() for r in side}) == 1
    saved = [c["cpu"] - w["cpu"] for c, w in zip(runs["cold"], runs["warm"])]
    lines = [
        f"# bench/readings_cache.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, shared with other work: "
        f"1-min load average {min(loads):.1f}–{max(loads):.1f}. The {args.mode} on bench/campaign.py's scale {args.scale} "
        f"({runs['cold'][0]['jobs']} creatives), {args.workers} workers; cold and warm alternated, {args.pairs} pairs, each a fresh "
        "process and run folder; CPU = user + sys of the whole process tree (Prefect's server included). Median (min–max).",
        "",
        "| QA readings cache | CPU s | wall s | peak RSS MB |",
        "|---|---|---|---|",
        *(f"| {side} | {fmt([r['cpu'] for r in rs])} | {fmt([r['wall'] for r in rs])} | {fmt([r['rss_tree_mb'] for r in rs], 0)} |"
          for side, rs in runs.items()),
        "",
        f"CPU saved per pair (cold − warm): {fmt(saved)} s. QA verdicts identical in every run: {'yes' if same_verdicts else 'NO'}; "
        f"creatives byte-identical: {'yes' if same_bytes else 'NO'}.",
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
