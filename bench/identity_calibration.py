"""Identity calibration and held-out evaluation on real data (prints numbers; ``--fit`` prints new constants).

    python bench/identity_calibration.py            # held-out figures of the shipped constants (split B)
    python bench/identity_calibration.py --fit      # re-fit FUSION and the thresholds on split A, then report B
    python bench/identity_calibration.py --thresholds   # the shipped FUSION; the thresholds' rules re-applied on A, then B
    python bench/identity_calibration.py --relit 150    # B's pasted pairs turned and re-lit (another light), reported only
    python bench/identity_calibration.py --recoloured   # products pasted in another colourway (grey, hue turned), A and B
    python bench/identity_calibration.py --campaign examples/saleor/campaign.yaml   # the rendered campaign
    python bench/identity_calibration.py --cost 12  # CPU per creative with label text on vs off (alternated)
    python bench/identity_calibration.py --fit --only-a --cache /tmp/idcal   # model selection on A alone

Data sets (every figure is reported per set and per split):

* **dreambench** — ``../shared/data/dreambench-dev`` (10 DreamBench subjects, 4–6 real photos each, CC-BY-4.0):
  every ordered pair of photos (reference = photo i, creative = photo j ≠ i) inside a subject is "same", across
  subjects "different". Neither photo has alpha: the reference is segmented like an opaque packshot.
* **multiview** — Saleor products with several packshot views (``additional_image_link``): view j pasted on a
  1080 × 1080 background as :func:`brandflow.qa.calibrate_identity.paste` does (text bar, JPEG), scored
  against another view i ≠ j of the same product ("same": another viewpoint) and against each view of another
  multi-view product of the same split ("different").
* **dreambench, reference set** — the same photos scored as the check runs with several packshots: each photo
  against *all other* photos of a subject as its references, best score (own subject = same, other subjects =
  different). A second protocol on the same data, not a different data set.
* **pasted** — the pasted-packshot pairs of :func:`brandflow.qa.calibrate_identity.pasted_pairs` (the
  compositor's case: same view pasted; negatives half of the same product type).
* **recoloured** (``--recoloured``, reported apart) — each view of the split's products with a colourway (≥ 15 % of
  the product chromatic) pasted as shot (same) and grey or with its CIELAB hue turned 90° / 180° (different: the
  design lines up, the colourway does not), against its own packshot.

**Fixed split** (stated here, never changed after looking at results): DreamBench subjects in sorted order,
even positions → A (calibration: cat, dog, dog3, dog6, dog8), odd → B (held out: cat2, dog2, dog5, dog7,
poop_emoji); Saleor products per top-level product type in sorted id order alternating A, B
(:func:`split_products`, as ``bench/qa.py`` and ``tests/qa/test_identity_heldout.py``). Negatives only pair
subjects/products of one split. ``--fit`` uses A only; figures quoted in the README are B's.
"""

from __future__ import annotations

import argparse
import itertools
import math
import random
import warnings
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brandflow.cielab import linear_to_srgb, srgb_to_linear  # noqa: E402
from brandflow.imageio import load_rgb, load_rgba  # noqa: E402
from brandflow.qa import identity  # noqa: E402
from brandflow.qa.calibrate_identity import load_products, paste, pasted_pairs, roc_auc, split_products  # noqa: E402

DREAMBENCH = ROOT.parent / "shared" / "data" / "dreambench-dev"
if not DREAMBENCH.is_dir():  # CI clones beside shared/, a worktree lives one level deeper
    DREAMBENCH = ROOT.parents[1] / "shared" / "data" / "dreambench-dev"
FEED = ROOT / "examples" / "saleor" / "products.csv"
CUES = identity.CUES


def dreambench_split(root: Path = DREAMBENCH) -> tuple[list[str], list[str]]:
    """Subjects (folder names) of calibration split A and held-out split B (module notes)."""
    subjects = sorted(p.name for p in root.iterdir() if p.is_dir())
    return subjects[0::2], subjects[1::2]


def cues(m: dict) -> dict[str, float]:
    """The fused cues of one :func:`brandflow.qa.identity.match_reference` result."""
    return identity.cue_values(float(m["inliers"]), float(m["colour_similarity"]), float(m["palette_delta_e"]),
                               float(m["pixel_agreement"]))


def dreambench_pairs(subjects: list[str], root: Path = DREAMBENCH) -> tuple[list[dict], list[dict]]:
    """Match results of every ordered photo pair of ``subjects``: (same-subject, different-subject) lists."""
    photos = [(s, p) for s in subjects for p in sorted((root / s).glob("*.jpg"))]
    refs = {p: identity.features_of_reference_image(load_rgba(p), p) for _, p in photos}
    cres = {p: identity.creative_features(load_rgb(p)) for _, p in photos}
    pos, neg = [], []
    for (sa, pa), (sb, pb) in itertools.permutations(photos, 2):
        m = identity.match_reference(refs[pa], cres[pb])
        m |= {"_reference": f"{sa}/{pa.name}", "_creative": f"{sb}/{pb.name}"}
        (pos if sa == sb else neg).append(m)
    return pos, neg


def reference_set_scores(pairs: tuple[list[dict], list[dict]]) -> tuple[list[float], list[float]]:
    """The check as it runs with several packshots: each photo scored against *all other* photos of a subject
    as its references (best score), for its own subject (same) and every other subject (different); from the
    ordered pairs of :func:`dreambench_pairs` rescored with the current fusion."""
    best: dict[tuple[str, str], float] = {}
    for m in pairs[0] + pairs[1]:
        key = (m["_creative"], m["_reference"].split("/")[0])
        s = identity.score_of_match(m)
        best[key] = max(best.get(key, 0.0), s)
    pos = [v for (cre, subj), v in best.items() if cre.split("/")[0] == subj]
    neg = [v for (cre, subj), v in best.items() if cre.split("/")[0] != subj]
    return pos, neg


def multiview_pairs(products: dict, ids: list[str], seed: int) -> tuple[list[dict], list[dict]]:
    """Each view of each multi-view product in ``ids`` pasted (module notes) and matched against every other
    view of it (same) and every view of every other multi-view product in ``ids`` (different)."""
    rng = random.Random(seed)
    multi = [i for i in ids if len(products[i][1]) > 1]
    pos, neg = [], []
    for pid in multi:
        for view in products[pid][1]:
            boxes: list[tuple[int, int, int, int]] = []
            cre = identity.creative_features(paste(load_rgba(view), rng, text_boxes=boxes), tuple(boxes))
            pos += [identity.match_reference(identity.reference_features(v), cre) for v in products[pid][1] if v != view]
            neg += [identity.match_reference(identity.reference_features(v), cre)
                    for other in multi if other != pid for v in products[other][1]]
    return pos, neg


def pasted(products: dict, ids: list[str], trials: int, seed: int) -> tuple[list[dict], list[dict]]:
    """:func:`brandflow.qa.calibrate_identity.pasted_pairs` keeping the best reference's match result."""
    def best(image, refs, boxes=()):
        cre = identity.creative_features(image, boxes)
        return max((identity.match_reference(identity.reference_features(r), cre) for r in refs), key=lambda m: m["score"])
    pos, neg = pasted_pairs(products, ids, trials, seed, best)
    return pos, [n[0] for n in neg]


def collect(split: str, trials: int) -> dict[str, tuple[list[dict], list[dict]]]:
    """``{set name: (positives, negatives)}`` of split ``"A"`` or ``"B"`` (module notes)."""
    products = load_products(FEED)
    a_ids, b_ids = split_products(products)
    db_a, db_b = dreambench_split()
    ids, subjects, seed = (a_ids, db_a, 101) if split == "A" else (b_ids, db_b, 202)
    return {"dreambench": dreambench_pairs(subjects), "multiview": multiview_pairs(products, ids, seed),
            "pasted": pasted(products, ids, trials, seed)}


def relight(rgba: np.ndarray, rng: random.Random) -> np.ndarray:
    """``(h, w, 4) uint8`` RGBA packshot as a render might show it: turned 0–30° about its vertical axis (pinhole,
    focal length 1.2 × width) and under another light — linear-RGB gains of a warm or a cool illuminant (red 1.05–1.2
    and blue 0.8–0.95, or the reverse), an exposure of 0.85–1.15 and a tone curve (gamma 0.9–1.15)."""
    h, w = rgba.shape[:2]
    f, t = 1.2 * w, math.radians(rng.uniform(0, 30) * rng.choice((-1, 1)))
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    seen = [[f * (x - w / 2) * math.cos(t) / ((x - w / 2) * math.sin(t) + f) + w / 2,
             f * (y - h / 2) / ((x - w / 2) * math.sin(t) + f) + h / 2] for x, y in corners]
    out = cv2.warpPerspective(rgba, cv2.getPerspectiveTransform(corners, np.float32(seen)), (w, h))
    warm, cool = rng.uniform(1.05, 1.2), rng.uniform(0.8, 0.95)
    gains = np.array([warm, 1.0, cool] if rng.random() < 0.5 else [cool, 1.0, warm], np.float32) * rng.uniform(0.85, 1.15)
    enc = linear_to_srgb(srgb_to_linear(out[..., :3]) * gains).astype(np.float32) / 255.0
    out[..., :3] = np.rint(255 * enc ** rng.uniform(0.9, 1.15)).astype(np.uint8)
    return out


def relit_pairs(trials: int, seed: int = 303) -> tuple[list[float], list[float]]:
    """Split B's pasted pairs (:func:`brandflow.qa.calibrate_identity.pasted_pairs`' protocol) with the shown
    packshot passed through :func:`relight` first: positive and negative scores. A seed no other set uses."""
    products = load_products(FEED)
    _, ids = split_products(products)
    pos, neg = pasted_pairs(products, ids, trials, seed, shown=relight)
    return pos, [n for n, _, _ in neg]


#: A packshot has a colourway to lose when at least this share of its product pixels is chromatic (CIELAB C*ab ≥
#: ``identity.CHROMATIC_CHROMA``); a white tee "recoloured" is the same tee, not a negative.
COLOURWAY_SHARE = 0.15
RECOLOURINGS = ("grey", "hue 90°", "hue 180°")


def recolour(rgba: np.ndarray, kind: str) -> np.ndarray:
    """``(h, w, 4) uint8`` RGBA packshot in another colourway, lightness and print kept: ``"grey"`` (chroma 0) or its
    CIELAB a*b* plane turned by 90° / 180° (``"hue 90°"``, ``"hue 180°"``; skimage's CIELAB, D65), as a model asked
    for "the red one" might draw it."""
    from skimage import color

    out = rgba.copy()
    lab = color.rgb2lab(rgba[..., :3])
    if kind == "grey":
        lab[..., 1:] = 0.0
    else:
        t = math.radians(float(kind.split()[1].rstrip("°")))
        a, b = lab[..., 1].copy(), lab[..., 2].copy()
        lab[..., 1], lab[..., 2] = a * math.cos(t) - b * math.sin(t), a * math.sin(t) + b * math.cos(t)
    with warnings.catch_warnings():  # colours outside sRGB after the turn are clipped, as intended
        warnings.simplefilter("ignore", UserWarning)
        out[..., :3] = np.clip(color.lab2rgb(lab) * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def colourway_share(rgba: np.ndarray) -> float:
    """Share of the packshot's opaque pixels (alpha > 200) with OpenCV 8-bit Lab chroma ≥ ``identity.CHROMATIC_CHROMA``."""
    lab = cv2.cvtColor(np.ascontiguousarray(rgba[..., :3]), cv2.COLOR_RGB2LAB)[rgba[..., 3] > 200].astype(np.float32)
    return float(np.mean(np.hypot(lab[:, 1] - 128, lab[:, 2] - 128) >= identity.CHROMATIC_CHROMA)) if len(lab) else 0.0


def recoloured_pairs(split: str, seed: int = 404) -> tuple[list[dict], list[dict]]:
    """Every view of the split's products with a colourway (:data:`COLOURWAY_SHARE`) pasted as it is (same) and in
    each of :data:`RECOLOURINGS` (different: the design lines up, the colourway does not), each against its own
    packshot; the same background and place for all four (module notes: :func:`brandflow.qa.calibrate_identity.paste`
    without text bar or JPEG). A seed no other set uses."""
    products = load_products(FEED)
    ids = split_products(products)[0 if split == "A" else 1]
    pos, neg = [], []
    for i, view in enumerate(v for pid in ids for v in products[pid][1]):
        rgba = load_rgba(view)
        if colourway_share(rgba) < COLOURWAY_SHARE:
            continue
        ref = identity.reference_features(view)
        for kind in ("as shot", *RECOLOURINGS):
            shown = rgba if kind == "as shot" else recolour(rgba, kind)
            m = identity.match_reference(ref, identity.creative_features(paste(shown, random.Random(seed + i), augment=False)))
            (pos if kind == "as shot" else neg).append(m | {"_product": view.name, "_kind": kind})
    return pos, neg


def recoloured_rows(pairs: tuple[list[dict], list[dict]], pass_t: float, warn_t: float) -> list[str]:
    """Verdict counts of :func:`recoloured_pairs` — as shot, and per recolouring — with the chromatic rule
    (:data:`brandflow.qa.identity.RECOLOURED_CHROMATIC_AGREE`) and without it (before)."""
    def verdicts(ms: list[dict]) -> str:
        s = [identity.score_of_match(m) for m in ms]
        return (f"{sum(x >= pass_t for x in s)} / {sum(warn_t <= x < pass_t for x in s)} / "
                f"{sum(x < warn_t for x in s)}")

    pos, neg = pairs
    rule = identity.RECOLOURED_CHROMATIC_AGREE
    rows = ["| shown | n | pass / warn / fail | before: without the chromatic rule |", "| --- | --- | --- | --- |"]
    for kind, ms in [("as shot (the right colourway)", pos), *((k, [m for m in neg if m["_kind"] == k]) for k in RECOLOURINGS)]:
        now = verdicts(ms)
        identity.RECOLOURED_CHROMATIC_AGREE = 0.0
        try:
            before = verdicts(ms)
        finally:
            identity.RECOLOURED_CHROMATIC_AGREE = rule
        rows.append(f"| {kind} | {len(ms)} | {now} | {before} |")
    return rows


def fit(sets: dict[str, tuple[list[dict], list[dict]]], l2: float = 1e-2) -> dict[str, float]:
    """Logistic regression of same (1) / different (0) on :data:`CUES` (Newton–Raphson / IRLS, L2 ``l2`` on the
    weights), each (set, class) group weighted to equal total weight so that no set dominates."""
    X, y, w = [], [], []
    groups = [(p, 1.0) for p, _ in sets.values()] + [(n, 0.0) for _, n in sets.values()]
    for rows, label in groups:
        for m in rows:
            c = cues(m)
            X.append([1.0] + [c[k] for k in CUES])
            y.append(label)
            w.append(1.0 / len(rows))
    X, y, w = np.asarray(X), np.asarray(y), np.asarray(w)
    beta = np.zeros(X.shape[1])
    reg = np.diag([0.0] + [l2] * len(CUES))
    for _ in range(50):
        p = 1 / (1 + np.exp(-np.clip(X @ beta, -50, 50)))
        grad = X.T @ (w * (p - y)) + reg @ beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + reg
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return {"intercept": round(float(beta[0]), 4), **{k: round(float(b), 4) for k, b in zip(CUES, beta[1:])}}


def rescore(sets: dict) -> dict[str, tuple[list[float], list[float]]]:
    """Scores of every pair with the module's current :data:`brandflow.qa.identity.FUSION`, plus the
    ``dreambench, reference set`` protocol (:func:`reference_set_scores`) when the DreamBench pairs are there."""
    s = identity.score_of_match
    out = {k: ([s(m) for m in p], [s(m) for m in n]) for k, (p, n) in sets.items()}
    if "dreambench" in sets and sets["dreambench"][0] and "_creative" in sets["dreambench"][0][0]:
        out["dreambench, reference set"] = reference_set_scores(sets["dreambench"])
    return out


def tpr_at_fpr(pos: list[float], neg: list[float], fpr: float = 0.01) -> float:
    """TPR at the lowest threshold whose FPR (share of negatives ≥ it) is ≤ ``fpr``."""
    t = threshold_at_fpr(neg, fpr)
    return float(np.mean(np.asarray(pos) >= t))


def threshold_at_fpr(neg: list[float], fpr: float) -> float:
    """The lowest threshold (one of the negatives' scores nudged up, or 0) at which at most ``fpr`` of ``neg``
    score at or above it."""
    n = np.sort(np.asarray(neg))[::-1]
    k = int(math.floor(fpr * len(n)))  # negatives allowed at or above
    return float(np.nextafter(n[k], 1.0)) if k < len(n) else 0.0


def table(scores: dict[str, tuple[list[float], list[float]]], pass_t: float, warn_t: float) -> list[str]:
    """Markdown rows: set, n, ROC AUC, TPR at 1 % FPR, TPR / FPR at pass and warn."""
    rows = ["| set | same / different pairs | ROC AUC | TPR at 1 % FPR | TPR / FPR at pass "
            f"{pass_t:.3f} | TPR / FPR at warn {warn_t:.3f} |", "|---|---|---|---|---|---|"]
    for name, (p, n) in scores.items():
        p_, n_ = np.asarray(p), np.asarray(n)
        rows.append(f"| {name} | {len(p)} / {len(n)} | {roc_auc(p, n):.3f} | {100 * tpr_at_fpr(p, n):.1f} % | "
                    f"{100 * np.mean(p_ >= pass_t):.1f} % / {100 * np.mean(n_ >= pass_t):.1f} % | "
                    f"{100 * np.mean(p_ >= warn_t):.1f} % / {100 * np.mean(n_ >= warn_t):.1f} % |")
    return rows


STATUSES = ("agrees", "partial", "differs", "not legible", "not found")


def label_rows(sets: dict[str, tuple[list[dict], list[dict]]]) -> list[str]:
    """Markdown rows of the label-text comparison per set: pairs whose packshot has legible lettering (the
    others are neutral), and how the lettering fared on same / different pairs — found in full, read as other
    words ("differs": the score is capped, a fail), illegible at its mapped place (no evidence), or not found
    in the product region. Statuses of pairs matched before "not legible" existed read "not found" there."""
    cols = " / ".join(STATUSES)
    rows = [f"| set | pairs with a legible packshot label (same / different) | same: {cols} | different: {cols} |",
            "|---|---|---|---|"]
    for name, (p, n) in sets.items():
        def counts(ms):
            st = [(m.get("label_text") or {}).get("status") for m in ms]
            legible = [x for x in st if x in STATUSES]
            return len(legible), " / ".join(str(sum(x == k for x in legible)) for k in STATUSES)
        (lp, cp), (ln, cn) = counts(p), counts(n)
        rows.append(f"| {name} | {lp} / {ln} | {cp} | {cn} |")
    return rows


def learned_scores(method: str, model_path: str, split: str) -> dict[str, tuple[list[float], list[float]]]:
    """DreamBench pairs of ``split`` scored by a learned embedding (``"dino"`` / ``"clip"``, local weights only):
    cosine of the reference photo's embedding (cut out as the check does: :func:`brandflow.qa.embeddings.cut_out`
    + ``reference_view``) and the other photo's; ``{"dreambench": (same, different)}``, clipped at 0 as the
    check's score."""
    from brandflow.qa import embeddings

    model = embeddings.get_model(method, model_path)
    subjects = dreambench_split()[0 if split == "A" else 1]
    photos = [(s, p) for s in subjects for p in sorted((DREAMBENCH / s).glob("*.jpg"))]
    refs = {p: model.embed([embeddings.reference_view(embeddings.cut_out(load_rgba(p)))])[0] for _, p in photos}
    cres = {p: model.embed([load_rgb(p)])[0] for _, p in photos}
    pos, neg = [], []
    for (sa, pa), (sb, pb) in itertools.permutations(photos, 2):
        (pos if sa == sb else neg).append(max(0.0, float(refs[pa] @ cres[pb])))
    return {"dreambench": (pos, neg)}


def campaign_pairs(campaign: Path, out_dir: Path) -> tuple[list[float], list[float]]:
    """Every job of a campaign rendered by its generator + compose (text regions excluded as in the check);
    negatives: the same creative against the product 7 places on in id order and one of the same type."""
    from brandflow import registry
    from brandflow.compose.overlay import compose
    from brandflow.feed.catalog import load_feed
    from brandflow.pipeline.plan import plan_jobs
    from brandflow.qa.calibrate_identity import score
    from brandflow.spec import load_campaign

    spec, brand = load_campaign(campaign)
    products, _ = load_feed(spec.feed)
    jobs, _ = plan_jobs(spec, brand, products)
    gen = registry.load("generator", spec.generator.backend)(spec.generator.options)
    refs = {j.product_id: [r.path for r in j.references if r.role in ("primary_packshot", "alternate_view")] for j in jobs}
    ptype = {p.id: p.product_type.split(">")[0].strip() for p in products}
    ids = sorted(refs)
    pos, neg = [], []
    for k, job in enumerate(jobs):
        creative = compose(gen.generate(job, out_dir / f"{k}-gen.png"), job, brand, spec.overlay,
                           out_dir / f"{k}.{job.format.file_type}")
        img = load_rgb(creative.path)
        boxes = tuple((r.box.x0 - round(0.3 * r.font_px), r.box.y0 - round(0.3 * r.font_px),
                       r.box.x1 + round(0.3 * r.font_px), r.box.y1 + round(0.3 * r.font_px)) for r in creative.regions)
        pos.append(score(img, refs[job.product_id], boxes))
        same = [i for i in ids if i != job.product_id and ptype[i] == ptype[job.product_id]]
        others = {ids[(ids.index(job.product_id) + 7) % len(ids)], *(same[k % len(same): k % len(same) + 1])}
        neg += [score(img, refs[o], boxes) for o in sorted(others)]
    return pos, neg


def label_cost(limit: int, rounds: int = 3) -> list[str]:
    """CPU and wall seconds of the identity check per creative, label-text comparison on vs off, on the example
    campaign's square creatives (compositor + compose, ``limit`` of them, one per product), one core, warm caches
    (a first pass reads every packshot's lettering once and is reported apart). Off / on alternate creative by
    creative, ``rounds`` times (A B A B …); CPU = user + system of this process (getrusage), wall = perf_counter.
    Markdown rows: min / median / max per setting, and the one-off packshot reading."""
    import dataclasses
    import os
    import resource
    import statistics
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    import qa as bench_qa  # the example renderer and the CheckContext the run builds

    from brandflow.qa.identity import IdentityCheck, IdentityThresholds
    from brandflow.spec import QASpec

    os.environ["OMP_THREAD_LIMIT"] = "1"
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    spec, brand, done = bench_qa.render_campaign(Path(tempfile.mkdtemp(prefix="brandflow-idcost-")), {"square"}, {0}, limit)
    images = [(load_rgb(r.creative.path), r) for r in done]
    settings = {"off": QASpec(identity=IdentityThresholds(label_text=False)), "on": QASpec()}
    def ctx(r, th):  # as the run builds it, with the recorded product box (the identity search region)
        return dataclasses.replace(bench_qa.context(r, spec, brand, th), placed=tuple(r.creative.placed))
    first_c, first_w = [], []
    for img, r in images:  # pass 1: every packshot's lettering read once (the first creative of a product in a run)
        IdentityCheck().run(img, ctx(r, settings["off"]))
        c0, t0 = cpu(), time.perf_counter()
        IdentityCheck().run(img, ctx(r, settings["on"]))
        first_c.append(cpu() - c0)
        first_w.append(time.perf_counter() - t0)
    cpu_s: dict[str, list[float]] = {"off": [], "on": []}
    wall_s: dict[str, list[float]] = {"off": [], "on": []}
    for _ in range(rounds):
        for img, r in images:
            for name in ("off", "on"):
                c0, t0 = cpu(), time.perf_counter()
                IdentityCheck().run(img, ctx(r, settings[name]))
                cpu_s[name].append(cpu() - c0)
                wall_s[name].append(time.perf_counter() - t0)
    def mmm(v):
        return f"{min(v):.3f} / {statistics.median(v):.3f} / {max(v):.3f}"
    rows = [f"Identity check per {images[0][0].shape[1]} × {images[0][0].shape[0]} creative, one core, {len(images)} "
            f"creatives × {rounds} alternated rounds, load average {os.getloadavg()[0]:.1f} (shared machine):", "",
            "| label text | CPU s min / median / max | wall s min / median / max |", "|---|---|---|"]
    rows += [f"| {name} | {mmm(cpu_s[name])} | {mmm(wall_s[name])} |" for name in ("off", "on")]
    rows.append(f"| on, first creative of each product (packshot lettering read) | {mmm(first_c)} | {mmm(first_w)} |")
    return rows


def cached(cache: Path | None, split: str, trials: int) -> dict:
    """:func:`collect`, through ``cache`` (``cache`` + ``.A`` / ``.B``) when given."""
    if cache is None:
        return collect(split, trials)
    import pickle

    path = cache.with_suffix(f".{split}.pkl")
    if path.is_file():
        return pickle.loads(path.read_bytes())
    out = collect(split, trials)
    path.write_bytes(pickle.dumps(out))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", action="store_true", help="re-fit FUSION and thresholds on split A (prints them)")
    ap.add_argument("--relit", type=int, metavar="N", help="instead: N pasted pairs of split B turned and re-lit")
    ap.add_argument("--recoloured", action="store_true", help="instead: each split's products with a colourway pasted "
                    "as shot and grey / hue-turned (another colourway), verdicts with and without the chromatic rule")
    ap.add_argument("--thresholds", action="store_true", help="keep FUSION; re-apply the thresholds' rules on split A "
                    "(the code's scores drift as other parts change) and report B at them")
    ap.add_argument("--trials", type=int, default=150, help="pasted pairs per split")
    ap.add_argument("--campaign", type=Path, help="score this campaign's rendered creatives instead")
    ap.add_argument("--cost", type=int, metavar="N", help="time the check with label text on vs off on N example creatives")
    ap.add_argument("--only-a", action="store_true", help="match and report split A only (model selection without looking at B)")
    ap.add_argument("--cache", type=Path, help="pickle of the match results (written once, then read: re-fit without re-matching)")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    if args.cost:
        print("\n".join(label_cost(args.cost)))
        return
    if args.recoloured:
        from brandflow.qa.identity import IdentityThresholds

        t = IdentityThresholds()
        for split in ("A", "B"):
            print(f"## {split} ({'calibration' if split == 'A' else 'held out'}): products with a colourway, pasted as "
                  f"shot and recoloured, against their own packshot")
            print("\n".join(recoloured_rows(recoloured_pairs(split), t.pass_score, t.warn_score)))
        return
    if args.relit:
        from brandflow.qa.identity import IdentityThresholds

        t = IdentityThresholds()
        print("\n".join(table({"pasted, turned and re-lit (B)": relit_pairs(args.relit)}, t.pass_score, t.warn_score)))
        return
    if args.campaign:
        import tempfile

        pos, neg = campaign_pairs(args.campaign, Path(tempfile.mkdtemp(prefix="brandflow-identity-")))
        print("\n".join(table({"rendered campaign": (pos, neg)}, 0.0, 0.0)))
        return
    t0 = time.perf_counter()
    a = cached(args.cache, "A", args.trials)
    b = None if args.only_a else cached(args.cache, "B", args.trials)
    if args.fit or args.thresholds:
        if args.fit:
            identity.FUSION.update(fit(a))
            print("FUSION =", identity.FUSION)
        sa = {k: v for k, v in rescore(a).items() if k in a}  # the pair sets only, as fitted
        neg_all = [x for _, n in sa.values() for x in n]
        pass_t = max(threshold_at_fpr(n, 0.01) for _, n in sa.values())
        warn_t = float(np.percentile(sa["dreambench"][0], 10))
        print(f"pass_score = {pass_t:.4f} (the lowest score with FPR ≤ 1 % on every A set); warn_score = {warn_t:.4f} "
              f"(10th percentile of A's same-subject real-photo pairs: ≤ 10 % of them fail outright); "
              f"A negatives {len(neg_all)}")
    else:
        from brandflow.qa.identity import IdentityThresholds

        pass_t, warn_t = IdentityThresholds().pass_score, IdentityThresholds().warn_score
    print("## A (calibration)\n" + "\n".join(table(rescore(a), pass_t, warn_t)))
    print("\n".join(label_rows(a)))
    if b is None:
        return
    sb = rescore(b)
    print("## B (held out)\n" + "\n".join(table(sb, pass_t, warn_t)))
    print("\n".join(label_rows(b)))
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
