"""Benchmark: the review report at scale — 1,000 creatives.

Builds a synthetic run of N creatives (real PNGs, 1080×1080 and 1080×1920, with every kind of outcome:
published, held, failed, error) with tests/review/synthetic.py, then measures:

- render: ``render_report`` wall and CPU seconds, cold (every thumbnail made) and warm (thumbnails cached
  beside the creatives, as when the review gate's report is rendered again at the end of the run);
- size: the self-contained report.html in MB (thumbnails embedded, full-size images linked);
- open: in Debian's chromium (Playwright), from navigation start to DOMContentLoaded and to the load
  event, and the renderer main thread's busy time until then (CDP ``Performance.getMetrics`` TaskDuration),
  each repeat in a fresh page; then the time to apply the "everything" filter and to sort by
  score (click → next frame), and the scroll: the whole grid scrolled in viewport steps with the frame
  time of each step (lazy thumbnails decode as they come near).

Usage:  python bench/report.py [--creatives 1000] [--repeats 5]     (writes bench/results/report.md)
Numbers are reported in the README; nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "review"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def spread(values: list[float], unit: str = "s", digits: int = 2) -> str:
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / {max(values):.{digits}f} {unit}"


def open_in_chromium(report: Path, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"dcl": [], "load": [], "task": [], "filter": [], "sort": [], "frame_max": [], "frame_median": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            page.goto(report.as_uri(), wait_until="load")
            metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
            out["task"].append(metrics["TaskDuration"])  # renderer main-thread busy seconds: less sensitive to other load
            nav = page.evaluate("(() => { const n = performance.getEntriesByType('navigation')[0]; return [n.domContentLoadedEventEnd, n.loadEventEnd]; })()")
            out["dcl"].append(nav[0] / 1000)
            out["load"].append(nav[1] / 1000)
            for key, script in (("filter", "document.getElementById('f-status').value = 'all'; document.getElementById('f-status').dispatchEvent(new Event('change'));"),
                                ("sort", "document.getElementById('f-sort').value = 'score'; document.getElementById('f-sort').dispatchEvent(new Event('change'));")):
                ms = page.evaluate(f"""() => new Promise(done => {{ const t = performance.now(); {script}
                    requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t))); }})""")
                out[key].append(ms / 1000)
            frames = page.evaluate("""async () => {
                const times = []; const h = document.documentElement.scrollHeight; const step = innerHeight;
                for (let y = 0; y < h; y += step) {
                  const t = performance.now(); scrollTo(0, y);
                  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
                  times.push(performance.now() - t);
                }
                return times; }""")
            out["frame_max"].append(max(frames) / 1000)
            out["frame_median"].append(statistics.median(frames) / 1000)
            page.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--creatives", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--keep", type=Path, help="build the run here and keep it (default: a temporary folder)")
    args = ap.parse_args()

    from synthetic import make_run

    from brandflow.manifest import RunManifest
    from brandflow.review.report import render_report

    tmp = Path(tempfile.mkdtemp(prefix="bf-report-bench-")) if args.keep is None else args.keep
    run_dir = tmp / "runs" / "bench"
    t = time.perf_counter()
    manifest = make_run(run_dir, args.creatives, products=args.creatives // 4)
    built = time.perf_counter() - t
    report = run_dir / "report.html"

    renders: dict[str, list[tuple[float, float]]] = {"cold": [], "warm": []}
    for i in range(3):
        for thumb in run_dir.glob("work/*/.thumb-*"):
            thumb.unlink()
        for kind in ("cold", "warm"):
            manifest = RunManifest.read(run_dir / "manifest.json")
            w0, c0 = time.perf_counter(), cpu()
            render_report(manifest, report)
            renders[kind].append((time.perf_counter() - w0, cpu() - c0))
    size_mb = report.stat().st_size / 1e6
    opened = open_in_chromium(report, args.repeats)
    load = os.getloadavg()

    lines = [
        f"# Review report bench: {args.creatives} creatives",
        "",
        f"{os.cpu_count()} cores, shared with other work (load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end); "
        f"synthetic run built in {built:.0f} s ({args.creatives // 4} products × 2 formats × 2 variants, every outcome kind).",
        "",
        "| measure | min / median / max |",
        "|---|---|",
        f"| render, cold (every thumbnail made), wall | {spread([w for w, _ in renders['cold']])} |",
        f"| render, cold, CPU incl. children | {spread([c for _, c in renders['cold']])} |",
        f"| render, warm (thumbnails cached), wall | {spread([w for w, _ in renders['warm']])} |",
        f"| render, warm, CPU incl. children | {spread([c for _, c in renders['warm']])} |",
        f"| report.html size | {size_mb:.1f} MB |",
        f"| chromium: DOMContentLoaded (from disk) | {spread(opened['dcl'])} |",
        f"| chromium: load event | {spread(opened['load'])} |",
        f"| chromium: renderer main-thread busy until load (CDP TaskDuration) | {spread(opened['task'])} |",
        f"| filter to everything (change → painted) | {spread(opened['filter'])} |",
        f"| sort by score (change → painted) | {spread(opened['sort'])} |",
        f"| scroll one viewport, median frame pair | {spread(opened['frame_median'], digits=3)} |",
        f"| scroll one viewport, worst frame pair | {spread(opened['frame_max'], digits=3)} |",
        "",
        f"Render: 3 alternating cold/warm pairs. Browser: {args.repeats} fresh pages, 1440×900, Debian chromium headless.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / "report.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(text)
    if args.keep is None:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
