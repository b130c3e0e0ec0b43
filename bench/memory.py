"""Peak memory of one job on a huge packshot: generate (compositor) → compose → QA, in a fresh process.

    .venv/bin/python bench/memory.py [--megapixels 62] [--repeat 3]

Writes a synthetic opaque packshot of the given size (a product-like shape on a plain studio backdrop, so the
compositor keys the backdrop out, the costliest path), runs one job of the example campaign on it through the
same stage functions as the flow, and prints the child process's peak resident set (``ru_maxrss``) and wall
time, min/median/max over ``--repeat`` runs. Issue 12: "A 62-megapixel packshot costs 5 GB of RAM".
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time, shutil
from pathlib import Path
import yaml
sys.path.insert(0, sys.argv[1])
from brandflow.spec import load_campaign
from brandflow.feed.catalog import load_feed
from brandflow.pipeline.plan import plan_jobs
from brandflow.pipeline.stages import run_attempt
folder = Path(sys.argv[2])
spec, brand = load_campaign(folder / "campaign.yaml")
products, rejections = load_feed(spec.feed)
assert not rejections, rejections
jobs, rej = plan_jobs(spec, brand, products)
t = time.perf_counter()
attempt = run_attempt(jobs[0], spec, brand, folder / "run")
print(json.dumps({"seconds": time.perf_counter() - t, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "error": attempt.error, "verdict": attempt.qa.verdict if attempt.qa else None}))
"""


def make_campaign(folder: Path, megapixels: float) -> None:
    """A one-product campaign whose packshot is an opaque ``megapixels`` PNG (3:2), square 1080 format."""
    import numpy as np
    import yaml
    from PIL import Image, ImageDraw

    w = int((megapixels * 1e6 * 1.5) ** 0.5)
    h = int(w / 1.5)
    im = Image.new("RGB", (w, h), (240, 240, 240))
    d = ImageDraw.Draw(im)
    d.rounded_rectangle((w // 3, h // 6, 2 * w // 3, 5 * h // 6), radius=w // 20, fill=(200, 40, 40))
    d.ellipse((w * 0.42, h * 0.3, w * 0.58, h * 0.55), fill=(250, 220, 60))
    noise = np.random.default_rng(0).integers(0, 6, (h, w, 1), dtype=np.uint8)  # a real photo is not flat
    im = Image.fromarray(np.clip(np.asarray(im, dtype=np.int16) + noise - 3, 0, 255).astype(np.uint8))
    im.save(folder / "packshot.png", compress_level=1)
    for name in ("brand.yaml", "logo.png"):
        (folder / name).write_bytes((ROOT / "examples" / "saleor" / name).read_bytes())
    (folder / "products.csv").write_text(
        "id,title,description,product_type,price,image_link\nbig,Big Product,,Groceries,3.00 USD,packshot.png\n")
    spec = yaml.safe_load((ROOT / "examples" / "saleor" / "campaign.yaml").read_text())
    spec["formats"] = [{"name": "square", "width": 1080, "height": 1080}]
    spec["variants"] = 1
    (folder / "campaign.yaml").write_text(yaml.safe_dump(spec))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megapixels", type=float, default=62.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_campaign(folder, args.megapixels)
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(folder)], capture_output=True, text=True,
                                 env={**os.environ, "OMP_THREAD_LIMIT": "1", "BRANDFLOW_CACHE_DIR": "off"})
            if out.returncode:
                sys.exit(out.stderr[-2000:])
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            import shutil
            shutil.rmtree(folder / "run", ignore_errors=True)
    rss = [r["maxrss_mb"] for r in runs]
    sec = [r["seconds"] for r in runs]
    print(f"{args.megapixels:g} MP packshot, one job (generate → compose → QA), {len(runs)} fresh processes; "
          f"load average {os.getloadavg()[0]:.1f} (shared machine)")
    print(f"peak RSS MB min/median/max: {min(rss):.0f} / {statistics.median(rss):.0f} / {max(rss):.0f}")
    print(f"wall s      min/median/max: {min(sec):.1f} / {statistics.median(sec):.1f} / {max(sec):.1f}")
    print(f"result: {runs[-1]['verdict'] or runs[-1]['error']}")


if __name__ == "__main__":
    main()
