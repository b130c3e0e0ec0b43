"""Benchmark: the whole example campaign on this machine — wall time, creatives per minute, peak RSS,
and the orchestration overhead of the Prefect flow over the same stage functions in a plain loop.

Each measurement runs in a fresh Python process (so peak RSS is that run's alone) on a fresh run
folder (so nothing is reused). Usage:

    python bench/campaign.py                 # full table, writes bench/results/campaign.md
    python bench/campaign.py --quick         # fewer products, for a smoke run

Numbers are reported in the README; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "saleor"
WORKERS = 3  # the flow's ThreadPoolTaskRunner size, used by the plain loop too


# --------------------------------------------------------------------------- one run (child process)
def make_campaign(folder: Path, repeat: int, formats: str, variants: int) -> Path:
    """A copy of the example campaign whose feed repeats every product ``repeat`` times (new ids)."""
    import yaml

    rows = list(csv.DictReader((EXAMPLE / "products.csv").open(encoding="utf-8")))
    with (folder / "products.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in range(repeat):
            for row in rows:
                w.writerow({**row, "id": row["id"] if r == 0 else f"{row['id']}-r{r}"})
    (folder / "images").symlink_to(EXAMPLE / "images")
    (folder / "brand.yaml").write_text((EXAMPLE / "brand.yaml").read_text())
    spec = yaml.safe_load((EXAMPLE / "campaign.yaml").read_text())
    if formats != "all":
        spec["formats"] = [f for f in spec["formats"] if f["name"] in formats.split(",")]
    spec["variants"] = variants
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def run_loop(campaign: Path, out: Path) -> dict:
    """The same stage functions as the flow, in a plain thread pool: no Prefect at all."""
    from brandflow.manifest import RunManifest, RunSummary
    from brandflow.review.report import render_report
    from brandflow.records import JobRecord
    from brandflow.spec import load_campaign
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.pipeline.jobs import run_job
    from brandflow.pipeline.stages import publish_stage
    from datetime import datetime, timezone

    started, t0 = datetime.now(timezone.utc), time.perf_counter()
    spec, brand = load_campaign(campaign)
    products, rejections = load_feed(spec.feed)
    jobs, more = plan_jobs(spec, brand, products)
    target = (out / "published").as_uri()

    def attempts_of(job):
        return run_job(job, spec, brand, out)

    records = []
    with ThreadPoolExecutor(WORKERS) as pool:
        for job, attempts in pool.map(attempts_of, jobs):
            a = attempts[-1]
            ok = a.qa is not None and a.qa.verdict == "pass"
            published = publish_stage(a.creative, job, a.qa, spec, target) if ok else None
            status = "published" if ok else ("error" if a.qa is None else ("failed" if a.qa.verdict == "fail" else "held"))
            records.append(JobRecord(job_id=job.job_id, product_id=job.product_id, product_title=job.product_title,
                                     format=job.format.name, variant=job.variant, backend=job.backend, prompt=job.prompt,
                                     overlay=job.overlay, references=job.references, attempts=attempts, status=status,
                                     published=published))
    summary = RunSummary.of(records, rejections + more, len(products), time.perf_counter() - t0)
    manifest = RunManifest(campaign=spec.slug, spec_path=str(campaign), brand=brand.name, backend=spec.generator.backend,
                           publish_target=target, started_at=started, summary=summary, jobs=records, rejections=rejections + more)
    manifest.write(out / "manifest.json")
    render_report(manifest, out / "report.html")
    return summary.model_dump()


def run_flow(campaign: Path, out: Path) -> dict:
    from brandflow.flows.campaign import campaign_flow

    return campaign_flow(str(campaign), str(out)).summary.model_dump()


def child(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        campaign = make_campaign(folder, args.repeat, args.formats, args.variants)
        t0 = time.perf_counter()
        summary = (run_flow if args.mode == "flow" else run_loop)(campaign, folder / "run")
        wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall": wall, "rss_mb": peak_kib / 1024, "summary": summary}))


# --------------------------------------------------------------------------- driver
def measure(mode: str, repeat: int, formats: str, variants: int) -> dict:
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING", "OMP_THREAD_LIMIT": "1"}
    cmd = [sys.executable, __file__, "--child", "--mode", mode, "--repeat", str(repeat), "--formats", formats, "--variants", str(variants)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - t0
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--mode", choices=["flow", "loop"], default="flow")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--formats", default="all")
    ap.add_argument("--variants", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one format, one variant")
    ap.add_argument("--scale", type=int, default=10, help="repeat factor for the RSS-flatness run")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "campaign.md")
    args = ap.parse_args()
    if args.child:
        return child(args)

    fmts, variants = ("square", 1) if args.quick else ("all", 2)
    rows = []
    for mode in ("loop", "flow"):
        r = measure(mode, 1, fmts, variants)
        rows.append((f"example campaign, {mode}", r))
        print(f"{mode}: {r['wall']:.1f} s, {r['summary']['jobs']} creatives, {r['rss_mb']:.0f} MB peak RSS", flush=True)
    small = measure("flow", 1, "square", 1)
    big = measure("flow", args.scale, "square", 1)
    rows += [("square ×1 variant, 1× products, flow", small), (f"square ×1 variant, {args.scale}× products, flow", big)]

    loop, flow_ = rows[0][1], rows[1][1]
    overhead = 100.0 * (flow_["wall"] - loop["wall"]) / loop["wall"]
    lines = [
        f"# bench/campaign.py — {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "",
        "| run | creatives | attempts | published | wall s | creatives/min | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        s = r["summary"]
        lines.append(f"| {name} | {s['jobs']} | {s['attempts']} | {s['published']} | {r['wall']:.1f} | {60 * s['jobs'] / r['wall']:.1f} | {r['rss_mb']:.0f} |")
    lines += [
        "",
        f"Orchestration overhead (flow vs plain thread-pool loop, same stage functions, {WORKERS} workers): {overhead:+.1f} %",
        f"RSS growth {args.scale}× products: {small['rss_mb']:.0f} MB → {big['rss_mb']:.0f} MB ({big['rss_mb'] / small['rss_mb']:.2f}×)",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
