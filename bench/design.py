"""Design measures of the example's creatives (issue 15). Prints a table per creative and a summary; writes
bench/results/design.md. Nothing here asserts: targets and figures go in the README.

    python bench/design.py                      # examples/saleor/campaign.yaml, variant 0, every product
    python bench/design.py --variants 2 --campaign examples/saleor/markets/campaign.yaml   # de-DE, ar-SA, ja-JP

Each creative is rendered by the real compositor + compose (no Prefect, no QA: the same stage functions'
generator and compose calls). Per creative:

* **ΔE00 product/background** — CIEDE2000 (scikit-image ``deltaE_ciede2000``, CIELAB D65) between each dominant
  colour of the product (k-means k = 4 on the packshot's opaque pixels, clusters covering ≥ 10 % of it) and the
  mean CIELAB of the rendered backdrop in a ring around the product's silhouette (2 % of the short side wide,
  starting 2 px outside the alpha > 160 mask, text and logo excluded); the minimum over the dominant colours.
  Target ≥ 20 (a clearly different colour; above 5 an observer sees two colours, Mokrzycki & Tatol 2011).
* **Largest empty band** — the longest run of full-width rows (or full-height columns) of the live area
  (frame minus safe margin and the channel's text-free zones) that no element touches (product silhouette
  bounding boxes, text ink boxes, logo slot), as a share of the live area's height (width). Target ≤ 15 %.
* **Packshot scale** — output pixels per packshot pixel (≤ 1 means never upscaled). Target ≤ 1.
* **Text contrast** — the worst WCAG 2.x contrast ratio of the drawn texts against what is behind them
  (compose's own measure). Target ≥ 4.5 (AA).
* **Safe-zone violations** — texts or the logo inside the channel's text-free zones or outside the safe margin.
  Target 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brandflow.compose.layout import boxes_overlap  # noqa: E402
from brandflow.compose.overlay import compose  # noqa: E402
from brandflow.feed.catalog import load_feed  # noqa: E402
from brandflow.generators.compositor import SOLID_ALPHA, CompositorGenerator, _product_colours, load_cutout  # noqa: E402
from brandflow.pipeline.plan import plan_jobs  # noqa: E402
from brandflow.cielab import delta_e_ciede2000, srgb_to_lab  # noqa: E402
from brandflow.spec import load_campaign  # noqa: E402


def render_campaign(campaign: Path, variants: int = 1, limit: int | None = None, out: Path | None = None):
    """``[(job, scene, creative, rgb array)]`` for the campaign's jobs of variant < ``variants``."""
    spec, brand = load_campaign(campaign)
    products, _ = load_feed(spec.feed)
    products = products[:limit] if limit else products
    jobs, _ = plan_jobs(spec, brand, products)
    gen = CompositorGenerator(spec.generator.options)
    out = out or Path(tempfile.mkdtemp(prefix="brandflow-design-"))
    rows = []
    for job in jobs:
        if job.variant >= variants:
            continue
        base = out / f"{job.locale or 'default'}-{job.product_id}-{job.format.name}-v{job.variant}"
        img, scene = gen.render(job)
        img.save(base.with_suffix(".g.png"), compress_level=1)
        from brandflow.records import GeneratedImage, sha256_file

        g = GeneratedImage(path=base.with_suffix(".g.png"), width=img.width, height=img.height, sha256=sha256_file(base.with_suffix(".g.png")))
        creative = compose(g, job, brand, spec.overlay, base.with_suffix("." + job.format.file_type))
        rows.append((job, scene, creative, np.asarray(Image.open(creative.path).convert("RGB"))))
    return spec, rows


def product_mask(job, scene, shape) -> np.ndarray:
    """``(H, W) bool``: the product's solid pixels (alpha > 160) as placed."""
    mask = np.zeros(shape[:2], bool)
    for p in scene.placements:
        ref = job.references[p.ref]
        cut = load_cutout(ref.path, ref.sha256)
        x0, y0, x1, y1 = p.box
        a = np.asarray(cut.getchannel("A").resize((x1 - x0, y1 - y0))) > SOLID_ALPHA
        mask[y0:y1, x0:x1] |= a
    return mask


def measure(job, scene, creative, rgb: np.ndarray) -> dict:
    h, w = rgb.shape[:2]
    short = min(w, h)
    mask = product_mask(job, scene, rgb.shape)
    near = cv2.dilate(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    ring_w = max(3, round(0.02 * short))
    far = cv2.dilate(mask.astype(np.uint8), np.ones((2 * ring_w + 5, 2 * ring_w + 5), np.uint8)) > 0
    ring = far & ~near
    for r in creative.regions:
        ring[r.box.y0:r.box.y1, r.box.x0:r.box.x1] = False
    if scene.layout.logo:
        x0, y0, x1, y1 = scene.layout.logo
        ring[y0:y1, x0:x1] = False
    ring_lab = srgb_to_lab(rgb[ring]).mean(axis=0)
    ref = job.references[scene.placements[0].ref]
    dom = _product_colours(str(ref.path), ref.sha256)
    de = min(float(delta_e_ciede2000(lab, ring_lab)) for lab, share in dom if share >= 0.10)

    lx0, ly0, lx1, ly1 = scene.layout.live
    occupied_rows = np.zeros(h, bool)
    occupied_cols = np.zeros(w, bool)
    ys, xs = np.nonzero(mask)
    occupied_rows[ys] = True
    occupied_cols[xs] = True
    boxes = [(r.box.x0, r.box.y0, r.box.x1, r.box.y1) for r in creative.regions]
    if scene.layout.logo and job.overlay:  # the logo slot, when the campaign draws a logo
        boxes.append(scene.layout.logo)
    for x0, y0, x1, y1 in boxes:
        occupied_rows[y0:y1] = True
        occupied_cols[x0:x1] = True

    def longest_empty(occ: np.ndarray) -> int:
        best = run = 0
        for o in occ:
            run = 0 if o else run + 1
            best = max(best, run)
        return best

    band = max(longest_empty(occupied_rows[ly0:ly1]) / (ly1 - ly0), longest_empty(occupied_cols[lx0:lx1]) / (lx1 - lx0))
    m = round(0.06 * short)
    violations = 0
    for b in boxes:
        if any(boxes_overlap(b, z) for z in scene.layout.text_free) or b[0] < m or b[1] < m or b[2] > w - m or b[3] > h - m:
            violations += 1
    return {
        "job": job.job_id,  # locale/product/format/vN for a job of a market
        "de00": de,
        "band": band,
        "scale": max(p.scale for p in scene.placements),
        "contrast": min((r.contrast for r in creative.regions), default=21.0),
        "violations": violations,
        "surface": scene.surface_name,
        "notes": len(scene.notes),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--campaign", type=Path, default=ROOT / "examples" / "saleor" / "campaign.yaml")
    ap.add_argument("--variants", type=int, default=1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "design.md")
    args = ap.parse_args()
    t0 = time.perf_counter()
    spec, rows = render_campaign(args.campaign, args.variants, args.limit)
    results = [measure(*r) for r in rows]
    lines = [f"# Design measures: {spec.name} ({len(results)} creatives, variants < {args.variants})", "",
             "| creative | ΔE00 product/bg | largest empty band | packshot scale | min text contrast | safe-zone violations | backdrop |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        lines.append(f"| {r['job']} | {r['de00']:.1f} | {100 * r['band']:.1f} % | {r['scale']:.2f} | {r['contrast']:.2f} | "
                     f"{r['violations']} | {r['surface']} |")
    de = [r["de00"] for r in results]
    band = [r["band"] for r in results]
    summary = [
        "", "| measure | target | min | median | max | share meeting the target |", "| --- | --- | ---: | ---: | ---: | ---: |",
        f"| ΔE00 product/background | ≥ 20 | {min(de):.1f} | {statistics.median(de):.1f} | {max(de):.1f} | {sum(d >= 20 for d in de)}/{len(de)} |",
        f"| largest empty band | ≤ 15 % | {100 * min(band):.1f} % | {100 * statistics.median(band):.1f} % | {100 * max(band):.1f} % | {sum(b <= 0.15 for b in band)}/{len(band)} |",
        f"| packshot scale | ≤ 1 | {min(r['scale'] for r in results):.2f} | {statistics.median(r['scale'] for r in results):.2f} | {max(r['scale'] for r in results):.2f} | {sum(r['scale'] <= 1 for r in results)}/{len(results)} |",
        f"| min text contrast (WCAG) | ≥ 4.5 | {min(r['contrast'] for r in results):.2f} | {statistics.median(r['contrast'] for r in results):.2f} | {max(r['contrast'] for r in results):.2f} | {sum(r['contrast'] >= 4.5 for r in results)}/{len(results)} |",
        f"| safe-zone violations | 0 | {min(r['violations'] for r in results)} | — | {max(r['violations'] for r in results)} | {sum(r['violations'] == 0 for r in results)}/{len(results)} |",
        f"| creatives with a too-small-packshot note | — | | | | {sum(r['notes'] > 0 for r in results)}/{len(results)} |",
        "", f"{time.perf_counter() - t0:.0f} s wall on a shared 2-core machine.",
    ]
    text = "\n".join(lines + summary) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
