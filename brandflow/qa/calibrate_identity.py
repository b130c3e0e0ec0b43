"""Calibrate the identity score on same-vs-different product pairs (prints numbers; changes nothing).

    python -m brandflow.qa.calibrate_identity [--feed examples/saleor/products.csv] [--trials 300] [--seed 1]

Positives: a packshot of product P pasted (40–70 % of the side, random position) on a 1080 × 1080 flat or
vertical-gradient background, 30 % with a text bar across the top, 30 % re-encoded as JPEG q80–95; scored
against all of P's packshots. Negatives: the same creative scored against another product's packshots (half
of them of the same top-level product type, the hard case). Prints the ROC AUC (Mann–Whitney rank
statistic), score percentiles and the error rates at candidate thresholds.

This module imports only brandflow's core and ``brandflow.qa``: rendering a whole campaign (generator +
compose) for calibration, and the real-photo sets (DreamBench, multi-view Saleor products) with the fixed
calibration / held-out split, live in ``bench/identity_calibration.py``.
"""

from __future__ import annotations

import argparse
import csv
import random
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from brandflow.imageio import load_rgba
from brandflow.qa.identity import creative_features, match_reference, reference_features

FONT = Path(__file__).resolve().parents[1] / "assets" / "fonts" / "DejaVuSans-Bold.ttf"


def paste(packshot: np.ndarray, rng: random.Random, size: int = 1080, scale: tuple[float, float] = (0.4, 0.7),
          augment: bool = True, text_boxes: list[tuple[int, int, int, int]] | None = None) -> np.ndarray:
    """Composite an ``(h, w, 4) uint8`` RGBA packshot on a random flat/gradient ``size``² background →
    ``(size, size, 3) uint8`` RGB (optionally a text bar and JPEG re-encoding, see the module notes).
    The text bar's box ``(x0, y0, x1, y1)`` is appended to ``text_boxes`` when given (compose records its
    text regions the same way)."""
    side = int(size * rng.uniform(*scale))
    h, w = packshot.shape[:2]
    f = side / max(h, w)
    im = cv2.resize(packshot, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA).astype(np.float32)
    c1, c2 = (np.array([rng.randint(0, 255) for _ in range(3)], np.float32) for _ in range(2))
    t = np.linspace(0, 1, size, dtype=np.float32)[:, None, None] if rng.random() < 0.5 else np.zeros((size, 1, 1), np.float32)
    out = np.broadcast_to(c1 * (1 - t) + c2 * t, (size, size, 3)).copy()
    x, y = rng.randint(0, size - im.shape[1]), rng.randint(0, size - im.shape[0])
    a = im[..., 3:] / 255.0
    out[y : y + im.shape[0], x : x + im.shape[1]] = im[..., :3] * a + out[y : y + im.shape[0], x : x + im.shape[1]] * (1 - a)
    out = out.astype(np.uint8)
    if augment and rng.random() < 0.3:
        pil = Image.fromarray(out)
        d = ImageDraw.Draw(pil)
        top = rng.randint(0, 150)
        bottom = top + rng.randint(80, 160)
        d.rectangle((0, top, size, bottom), fill=tuple(int(v) for v in c2))
        if text_boxes is not None:
            text_boxes.append((0, top, size, bottom))
        d.text((40, top + 10), "Summer sale", font=ImageFont.truetype(str(FONT), rng.randint(40, 70)), fill="white")
        out = np.asarray(pil)
    if augment and rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(out[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, rng.randint(80, 95)])
        out = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return out


def roc_auc(pos: list[float], neg: list[float]) -> float:
    """P(score of a random positive > that of a random negative), ties count ½ (Mann–Whitney U / n₁n₂)."""
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def load_products(feed: Path) -> dict[str, tuple[str, list[Path]]]:
    """``{product id: (top-level product type, [packshot paths])}`` from a Merchant Center CSV."""
    out = {}
    with open(feed, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            links = [row["image_link"], *[p for p in (row.get("additional_image_link") or "").split(",") if p.strip()]]
            out[row["id"]] = (row["product_type"].split(">")[0].strip(), [feed.parent / p.strip() for p in links])
    return out


def split_products(products: dict[str, tuple[str, list[Path]]]) -> tuple[list[str], list[str]]:
    """Calibration half A and held-out half B of :func:`load_products`' products: per top-level product type,
    sorted ids alternate A, B, A, … (one split for bench/qa.py, bench/identity_calibration.py and the tests)."""
    by_type: dict[str, list[str]] = defaultdict(list)
    for pid in sorted(products):
        by_type[products[pid][0]].append(pid)
    return (sorted(p for ids in by_type.values() for p in ids[0::2]),
            sorted(p for ids in by_type.values() for p in ids[1::2]))


def score(image: np.ndarray, refs: list[Path], text_boxes: tuple[tuple[int, int, int, int], ...] = ()) -> float:
    """The identity score of ``image`` against ``refs`` (best reference), keypoints outside ``text_boxes``."""
    cre = creative_features(image, text_boxes)
    return max(float(match_reference(reference_features(r), cre)["score"]) for r in refs)


def pasted_pairs(products: dict, ids: list[str], trials: int, seed: int, scorer=None,
                 shown=None) -> tuple[list[float], list[tuple[float, str, str]]]:
    """Pasted packshots of the products ``ids`` (module notes): positive scores, and ``(score, shown id,
    reference id)`` negatives (half of them another product of the same type where one exists).
    ``scorer(image, reference_paths, text_boxes)`` defaults to :func:`score`; ``shown(rgba, rng)`` → rgba, when given,
    changes the packshot before it is pasted (turned, re-lit: ``bench/identity_calibration.py --relit``)."""
    scorer = scorer or score
    rng = random.Random(seed)
    pos, neg = [], []
    for _ in range(trials):
        pid = rng.choice(ids)
        ptype, paths = products[pid]
        boxes: list[tuple[int, int, int, int]] = []
        packshot = load_rgba(rng.choice(paths))
        img = paste(packshot if shown is None else shown(packshot, rng), rng, text_boxes=boxes)
        same_type = [i for i in ids if i != pid and products[i][0] == ptype]
        other = rng.choice(same_type) if same_type and rng.random() < 0.5 else rng.choice([i for i in ids if i != pid])
        pos.append(scorer(img, paths, tuple(boxes)))
        neg.append((scorer(img, products[other][1], tuple(boxes)), pid, other))
    return pos, neg


def synthetic_pairs(feed: Path, trials: int, seed: int) -> tuple[list[float], list[tuple[float, str, str]]]:
    """Pasted packshots of every product of ``feed``: see :func:`pasted_pairs`."""
    products = load_products(feed)
    return pasted_pairs(products, sorted(products), trials, seed)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feed", type=Path, default=Path("examples/saleor/products.csv"))
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    pos, hard = synthetic_pairs(args.feed, args.trials, args.seed)
    neg = [h[0] for h in hard]
    dt = time.perf_counter() - t0
    print(f"{len(pos)} positives, {len(neg)} negatives in {dt:.0f} s")
    print(f"ROC AUC {roc_auc(pos, neg):.4f}")
    print("positives p1/p5/p25/p50:", np.percentile(pos, [1, 5, 25, 50]).round(3))
    print("negatives p50/p95/p99/max:", np.percentile(neg, [50, 95, 99, 100]).round(3))
    for t in (0.4, 0.5, 0.6, 0.7, 0.8):
        print(f"threshold {t:.2f}: positives below {np.mean(np.array(pos) < t):.3f}, negatives at or above "
              f"{np.mean(np.array(neg) >= t):.3f}")
    print("hardest negatives:", sorted(hard, reverse=True)[:5])


if __name__ == "__main__":
    main()
