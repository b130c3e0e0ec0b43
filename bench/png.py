"""Benchmark: PNG encoding. Published creatives: Pillow's default against zlib's run-length strategy (``Z_RLE``).
Work files: Pillow at level 1, as work files were written before, against :func:`brandflow.imageio.encode_work_png`
(OpenCV, Sub filter, ``Z_RLE``, level 1), on the Saleor images (not chosen on) and, with ``--creatives``, the run's
generated images (the Sub filter was chosen on the example's).

    python bench/png.py [--rounds 5] [--creatives RUN_FOLDER]

Images, each converted to RGB:

* the Saleor catalogue's product images (``../shared/data/saleor/images``), made by no one here and not among the
  images the strategy was chosen on (the example's creatives and DreamBench photos; the example's packshots are
  cut from this catalogue, so the two are related, not independent), scaled to 1080 px on the long side;
* with ``--creatives``, the published creatives of a finished run (``work/*/creative.png``, at their own size),
  e.g. the example's, and for the work-file table its generators' outputs (``work/*/generated.png``).

Each round encodes every image once with each strategy, alternating which goes first (A B, B A …), both at
:data:`brandflow.imageio.PUBLISHED_PNG_LEVEL` through :func:`brandflow.imageio.encode`; the figure per round is
process CPU time (user + sys, ``time.process_time``: encoding runs in this process) per megapixel.
Reports min / median / max over the rounds, and the bytes per megapixel (deterministic). Writes
``bench/results/png.md``. Nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brandflow.imageio import PUBLISHED_PNG_STRATEGY, WORK_PNG_LEVEL, encode, encode_work_png  # noqa: E402

SALEOR = ROOT.parent / "shared" / "data" / "saleor" / "images"
STRATEGIES = {"default": None, "Z_RLE": PUBLISHED_PNG_STRATEGY}  # None: Pillow's own default, as before Z_RLE
#: Work-file encoders: before (Pillow, every filter tried per row, level 1) and now.
WORK_ENCODERS = {"Pillow level 1": lambda im: encode(im, "png", png_level=WORK_PNG_LEVEL), "Sub + Z_RLE": encode_work_png}


def load_set(files: list[Path], long_side: int | None) -> list[Image.Image]:
    """RGB images, scaled down to ``long_side`` px when given (creatives are measured at their own size)."""
    out = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert("RGB")
            if long_side:
                im.thumbnail((long_side, long_side), Image.Resampling.LANCZOS)  # only ever shrinks
            out.append(im.copy())
    return out


def measure(images: list[Image.Image], rounds: int, encoders: dict | None = None) -> dict[str, dict[str, list[float] | float]]:
    """Per encoder (default: the published strategies): CPU ms per megapixel of each round, and kB per megapixel."""
    encoders = encoders or {name: (lambda im, s=s: encode(im, "png", png_strategy=s)) for name, s in STRATEGIES.items()}
    mp = sum(im.width * im.height for im in images) / 1e6
    res: dict[str, dict] = {name: {"ms_per_mp": [], "kb_per_mp": 0.0} for name in encoders}
    for r in range(rounds):
        order = list(encoders) if r % 2 == 0 else list(reversed(encoders))
        for name in order:
            t0 = time.process_time()
            size = sum(len(encoders[name](im)) for im in images)
            res[name]["ms_per_mp"].append((time.process_time() - t0) * 1000 / mp)
            res[name]["kb_per_mp"] = size / 1000 / mp
    return res


def mmm(v: list[float]) -> str:
    """``min / median / max``, whole numbers."""
    return f"{min(v):.0f} / {statistics.median(v):.0f} / {max(v):.0f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--creatives", type=Path, help="a finished run folder: also measure its published creatives")
    args = ap.parse_args()
    sets = {"Saleor catalogue images, 1080 px": sorted(p for p in SALEOR.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))}
    if args.creatives:
        sets["published creatives of " + args.creatives.name] = sorted(args.creatives.glob("work/*/creative.png"))
    lines = [f"# bench/png.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"{args.rounds} rounds, strategies alternated within each; process CPU per megapixel; zlib level 6; "
             f"1-min load average {os.getloadavg()[0]:.1f} at the start. min / median / max.", "",
             "| images | n | default ms/MP | Z_RLE ms/MP | default kB/MP | Z_RLE kB/MP | Z_RLE size |",
             "|---|---|---|---|---|---|---|"]
    for label, files in sets.items():
        images = load_set(files, 1080 if label.startswith("Saleor") else None)
        res = measure(images, args.rounds)
        d, r = res["default"], res["Z_RLE"]
        lines.append(f"| {label} | {len(images)} | {mmm(d['ms_per_mp'])} | {mmm(r['ms_per_mp'])} | {d['kb_per_mp']:.0f} | "
                     f"{r['kb_per_mp']:.0f} | {100 * (r['kb_per_mp'] / d['kb_per_mp'] - 1):+.1f} % |")
    work_sets = {"Saleor catalogue images, 1080 px (not chosen on)": load_set(sets["Saleor catalogue images, 1080 px"], 1080)}
    if args.creatives:  # the images the Sub filter was chosen on
        work_sets[f"`generated.png` of {args.creatives.name} (chosen on)"] = load_set(
            sorted(args.creatives.glob("work/*/generated.png")), None)
    lines += ["", "Work files, encoders alternated as above (`brandflow.imageio.encode_work_png` against Pillow at level 1, "
              "as work files were written before):", "",
              "| images | n | Pillow level 1 ms/MP | Sub + Z_RLE ms/MP | Pillow kB/MP | Sub + Z_RLE kB/MP |", "|---|---|---|---|---|---|"]
    for label, images in work_sets.items():
        res = measure(images, args.rounds, WORK_ENCODERS)
        a, b = res["Pillow level 1"], res["Sub + Z_RLE"]
        lines.append(f"| {label} | {len(images)} | {mmm(a['ms_per_mp'])} | {mmm(b['ms_per_mp'])} | {a['kb_per_mp']:.0f} | "
                     f"{b['kb_per_mp']:.0f} ({100 * (b['kb_per_mp'] / a['kb_per_mp'] - 1):+.1f} %) |")
    text = "\n".join(lines) + "\n"
    out = ROOT / "bench" / "results" / "png.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
