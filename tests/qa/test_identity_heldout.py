"""Identity separates same from different Saleor products on pairs held out from calibration.

The split (also bench/qa.py's): per top-level product type, the product ids in sorted order alternate between
half A (even positions: where thresholds are picked — bench/qa.py re-picks the pass threshold on A alone) and half B
(odd positions: held out). This test uses half B only — shown products and reference products alike — and
seeds that no calibration run uses (calibrate_identity: 1; bench/qa.py: 101 for A, 202 for B). It checks the
threshold-free ROC AUC, and the spec's default operating point (pass 0.831 / warn 0.45) on these unseen products.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from brandflow.imageio import load_rgba
from brandflow.qa.calibrate_identity import load_products, paste, roc_auc, score, split_products

FEED = Path(__file__).resolve().parents[2] / "examples" / "saleor" / "products.csv"


def test_split_is_disjoint_and_stratified():
    products = load_products(FEED)
    a, b = split_products(products)
    assert not set(a) & set(b) and len(a) + len(b) == len(products) == 32
    for ptype in {t for t, _ in products.values()}:  # every product type is in both halves
        assert any(products[p][0] == ptype for p in a) and any(products[p][0] == ptype for p in b)
    assert {"banana-juice", "carrot-juice"} <= set(b)  # the hardest look-alikes (one label design) are held out


def test_identity_separates_held_out_products():
    products = load_products(FEED)
    _, held_out = split_products(products)
    rng = random.Random(20261122)
    pos, neg, hardest = [], [], []
    for i in range(20):
        pid = held_out[i % len(held_out)]
        ptype, paths = products[pid]
        boxes: list[tuple[int, int, int, int]] = []
        img = paste(load_rgba(rng.choice(paths)), rng, text_boxes=boxes)  # background, text bar, JPEG: random
        same_type = [p for p in held_out if p != pid and products[p][0] == ptype]
        other = same_type[i % len(same_type)] if i % 2 == 0 else rng.choice([p for p in held_out if p != pid])
        pos.append(score(img, paths, tuple(boxes)))
        neg.append(score(img, products[other][1], tuple(boxes)))
        hardest.append((neg[-1], pid, other))
    auc = roc_auc(pos, neg)
    assert auc >= 0.95, (auc, sorted(pos)[:3], sorted(hardest, reverse=True)[:3])
    pos_a, neg_a = np.array(pos), np.array(neg)
    assert np.mean(neg_a >= 0.831) <= 0.05, sorted(hardest, reverse=True)[:3]  # at most 1 of 20 other products passes
    assert np.mean(pos_a >= 0.831) >= 0.85  # most of the right product passes outright …
    assert np.mean(pos_a < 0.45) <= 0.10  # … and at most 2 of 20 fail (the rest go to a human as warn)
