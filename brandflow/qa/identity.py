"""Identity QA, weight-free: does the creative still show the product of the reference packshots?

Method (per reference packshot; the score is the best over references):

1. **Geometry** — ORB keypoints (Rublee et al., ICCV 2011; OpenCV) on the reference's product pixels (alpha
   ≥ 128: the packshot minus its soft drop shadow) and on the creative outside its overlay text regions
   (glyph corners otherwise take most of the keypoint budget: on the example campaign 9 of 128 creatives
   scored below 0.70 without this exclusion, 1 with it); Hamming 2-NN matches filtered by Lowe's ratio test
   (0.75; Lowe, IJCV 2004); a RANSAC similarity transform (rotation + uniform scale + translation,
   ``cv2.estimateAffinePartial2D``, 5 px). A full homography was tried first: keypoints that
   cluster on one logo (beanie, mug) gave degenerate homographies with 50–80 inliers; a compositor only
   scales and moves the packshot. ``geometry = clip((inliers − 8) / 12, 0, 1)``: different products give
   ≤ 7 inliers (p95 4) unless they share a packaging design; same-product composites give ≥ 13 (p1).
2. **Colour**, inside the product outline that the transform maps into the creative:
   ``colour_similarity`` — intersection of a*b* histograms (CIELAB, 17 × 17 bins centred on the neutral axis,
   lightly smoothed) of the reference's and the creative's product pixels; ``pixel_agreement`` — fraction of
   those pixels whose colour lies within distance 20 of the aligned reference pixel in OpenCV's 8-bit Lab
   (ΔE76 ≈ 8–20). Colour catches what geometry cannot: the same packaging design in another flavour.
3. ``score = geometry × (colour_similarity + pixel_agreement) / 2`` in [0, 1].

Without a plausible transform the score is 0: a colour histogram alone does not identify a product (a
best-window histogram search scored ROC AUC 0.77 in a prototype on such composites, this score ≥ 0.99).

Calibration (``python -m brandflow.qa.calibrate_identity``, 300 + 300 creatives): each Saleor packshot pasted
at 40–70 % of a 1080 × 1080 flat or gradient background, 30 % with a text bar, 30 % JPEG q80–95; negatives
score the same creative against another product (half of the same product type). ROC AUC 0.999; positives
p1 0.71, p5 0.82, median 0.97; negatives median 0.00, p95 0.50, max 0.68 — every negative at or above 0.5 is
one of the four juice bottles (one label design), the three book covers reach 0.47–0.50. The same on the
2160 px originals (200 + 200): AUC 0.999, negatives max 0.67. On the example campaign rendered by the
compositor and compose (``--campaign examples/saleor/campaign.yaml``: 128 creatives, 251 negatives): AUC
0.9999, positives p1 0.75, median 0.99, one below 0.70 (0.66, small sunglasses); negatives max 0.67.
Hence ``pass ≥ 0.70`` (no negative passed; 1 % of positives did not) and ``warn ≥ 0.50`` (0.7 % of
positives fail; look-alike products go to a human).
Valid for composited packshots; a generative backend that redraws the product lowers ``pixel_agreement``:
calibrate again, or use an embedding check (DINOv2 / CLIP-I).

Learned option: ``qa.identity.method`` ``"dino"`` or ``"clip"`` with ``qa.identity.model_path`` (a local
folder; default ``"keypoints"``, the method above) scores
the cosine similarity of DINOv2 CLS / CLIP image embeddings of the creative (overlay text boxes filled with
their median colour) and of each packshot (cut out on white) — DreamBooth's DINO and CLIP-I scores
(:mod:`brandflow.qa.embeddings`). ``score = max(0, cosine)``; ``pass_score`` / ``warn_score`` must then be
calibrated for that model (``python bench/qa.py --parts c --identity-method dino --identity-model PATH`` prints the
held-out ROC and error rates): the keypoint defaults 0.70 / 0.50 do not carry over.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

import cv2
import numpy as np

from brandflow.imageio import load_rgba
from brandflow.qa.base import CheckContext
from brandflow.records import CheckResult, sha256_file

#: Longest side of a reference packshot when its features are computed, px.
REF_SIDE = 512
#: ORB keypoints kept on the reference / on the creative (the product is only part of a creative).
REF_FEATURES, CREATIVE_FEATURES = 500, 1500
#: Longest side of the creative for keypoints, px: a product at 40–70 % of it (290–500 px) is within ORB's
#: 8-level ×1.2 pyramid of the 512 px reference, and detection costs half of full 1080 px.
CREATIVE_SIDE = 720
#: Lowe's ratio test threshold (Lowe 2004 uses 0.8; 0.75 is OpenCV's tutorial value, a little stricter).
RATIO = 0.75
#: RANSAC reprojection threshold, px (full-resolution creative pixels).
RANSAC_PX = 5.0
#: Inliers at which geometry starts to count / is certain (see the module notes).
MIN_INLIERS, FULL_INLIERS = 8, 20
#: Alpha at or above which a reference pixel is product (below: soft shadow, anti-aliased rim).
ALPHA_PRODUCT = 128
#: Colour agreement of aligned pixels: Euclidean distance in OpenCV 8-bit Lab (L scaled ×2.55, a/b +128).
AGREE_DIST = 20.0
#: Colour comparisons run on the creative scaled to this longest side (speed; colour is low-frequency).
COLOUR_SIDE = 540
#: a*b* histogram: 17 bins of 16 over [-8, 264) so the neutral axis (128) is a bin centre, not a bin edge.
_HIST_BINS, _HIST_RANGE = [17, 17], [-8, 264, -8, 264]
#: Reference features kept in memory (the same packshots serve many creatives).
CACHE_SIZE = 64
#: ``qa.identity.method`` values: the weight-free default and the two learned embeddings.
METHODS = ("keypoints", "dino", "clip")


@dataclass(frozen=True)
class RefFeatures:
    """A reference packshot prepared for matching, at :data:`REF_SIDE`.

    Attributes:
        path: the file; ``sha256``: its content hash (the cache key with the path).
        points: ``(N, 2) float32`` keypoint positions (x, y), reference pixels.
        descriptors: ``(N, 32) uint8`` ORB descriptors, or ``None`` (no keypoints).
        mask: ``(h, w) uint8`` product mask (255 where alpha ≥ :data:`ALPHA_PRODUCT`).
        lab: ``(h, w, 3) uint8`` OpenCV 8-bit Lab of the reference.
        hist: ``(17, 17) float32`` a*b* histogram of the product pixels, sums to 1.
    """

    path: Path
    sha256: str
    points: np.ndarray
    descriptors: np.ndarray | None
    mask: np.ndarray
    lab: np.ndarray
    hist: np.ndarray


def ab_histogram(lab: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``(17, 17) float32`` a*b* histogram (sums to 1; all zeros for an empty mask) of ``(H, W, 3) uint8``
    OpenCV Lab pixels where ``mask`` (``(H, W) uint8``, non-zero = in) is set; smoothed by a 3 × 3 Gaussian
    (σ = 0.6 bin) so a colour on a bin edge is not split arbitrarily."""
    h = cv2.calcHist([lab], [1, 2], mask, _HIST_BINS, _HIST_RANGE)
    h = cv2.GaussianBlur(h, (3, 3), 0.6)
    s = float(h.sum())
    return h / s if s > 0 else h


def _ref_features_uncached(path: Path, sha: str) -> RefFeatures:
    rgba = load_rgba(path)
    h, w = rgba.shape[:2]
    f = REF_SIDE / max(h, w)
    if f < 1:
        rgba = cv2.resize(rgba, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    mask = np.where(rgba[..., 3] >= ALPHA_PRODUCT, 255, 0).astype(np.uint8)
    if not mask.any():
        raise ValueError(f"{path}: no product pixels (alpha ≥ {ALPHA_PRODUCT}); is it an RGBA cut-out?")
    rgb = np.ascontiguousarray(rgba[..., :3])
    kps, des = cv2.ORB_create(nfeatures=REF_FEATURES).detectAndCompute(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), mask)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    points = np.float32([k.pt for k in kps]).reshape(-1, 2)
    return RefFeatures(path, sha, points, des, mask, lab, ab_histogram(lab, mask))


_cache: OrderedDict[tuple[str, str], RefFeatures] = OrderedDict()
_cache_lock = Lock()


def reference_features(path: str | Path) -> RefFeatures:
    """Features of a reference packshot, from a process-wide LRU cache keyed by (path, sha256 of the bytes).

    Args:
        path: an RGBA PNG packshot (opaque files work; their whole frame is then the "product").

    Raises:
        ImageError: the file cannot be decoded (see :func:`brandflow.imageio.load_rgba`).
        ValueError: the packshot has no pixel with alpha ≥ :data:`ALPHA_PRODUCT`.
    """
    path = Path(path)
    key = (str(path.resolve()), sha256_file(path))
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    feats = _ref_features_uncached(path, key[1])
    with _cache_lock:
        _cache[key] = feats
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return feats


@dataclass(frozen=True)
class CreativeFeatures:
    """A creative prepared for matching (computed once per check, shared by all references).

    Attributes:
        points: ``(M, 2) float32`` keypoint positions (x, y) in full-resolution creative pixels.
        descriptors: ``(M, 32) uint8`` ORB descriptors, or ``None``.
        lab_small: ``(h, w, 3) uint8`` OpenCV 8-bit Lab of the creative scaled to :data:`COLOUR_SIDE`.
        small_scale: ``lab_small`` size / full size.
    """

    points: np.ndarray
    descriptors: np.ndarray | None
    lab_small: np.ndarray
    small_scale: float


def _resized(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    s = min(1.0, side / max(image.shape[:2]))
    return (image if s == 1.0 else cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)), s


def creative_features(image: np.ndarray, exclude: tuple[tuple[int, int, int, int], ...] = ()) -> CreativeFeatures:
    """ORB keypoints of an ``(H, W, 3) uint8`` sRGB creative (detected at :data:`CREATIVE_SIDE`) and its Lab
    at :data:`COLOUR_SIDE`.

    ``exclude``: pixel boxes ``(x0, y0, x1, y1)`` where no keypoint is taken — the overlay text, whose
    high-contrast glyph corners would otherwise take most of the keypoint budget from the product.
    """
    work, ws = _resized(image, CREATIVE_SIDE)
    mask = None
    if exclude:
        mask = np.full(work.shape[:2], 255, np.uint8)
        for x0, y0, x1, y1 in exclude:
            mask[max(0, int(y0 * ws)) : int(np.ceil(y1 * ws)), max(0, int(x0 * ws)) : int(np.ceil(x1 * ws))] = 0
    kps, des = cv2.ORB_create(nfeatures=CREATIVE_FEATURES).detectAndCompute(cv2.cvtColor(work, cv2.COLOR_RGB2GRAY), mask)
    small, cs = _resized(image, COLOUR_SIDE)
    points = np.float32([k.pt for k in kps]).reshape(-1, 2) / ws  # full-resolution creative pixels
    return CreativeFeatures(points, des, cv2.cvtColor(small, cv2.COLOR_RGB2LAB), cs)


def _plausible(A: np.ndarray) -> bool:
    """A similarity a pasted or redrawn product can have: scale 1/20 … 20 of the 512 px reference."""
    scale = float(np.sqrt(abs(np.linalg.det(A[:, :2]))))
    return 0.05 <= scale <= 20.0


def match_reference(ref: RefFeatures, cre: CreativeFeatures) -> dict[str, float | int]:
    """Compare one reference with a creative's features.

    Returns:
        ``{"matches": ratio-test matches, "inliers": RANSAC inliers, "inlier_ratio": inliers / matches,
        "geometry", "colour_similarity", "pixel_agreement", "score"`` (all in [0, 1], see the module notes),
        ``"product_area"``: fraction of the creative inside the mapped product outline``}``; zeros when no
        plausible transform is found.
    """
    out: dict[str, float | int] = {"matches": 0, "inliers": 0, "inlier_ratio": 0.0, "geometry": 0.0,
                                   "colour_similarity": 0.0, "pixel_agreement": 0.0, "product_area": 0.0, "score": 0.0}
    if ref.descriptors is None or cre.descriptors is None or len(cre.descriptors) < 2:
        return out
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(ref.descriptors, cre.descriptors, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < RATIO * m[1].distance]
    out["matches"] = len(good)
    if len(good) < 4:
        return out
    src = ref.points[[m.queryIdx for m in good]]
    dst = cre.points[[m.trainIdx for m in good]]
    A, inl = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PX,
                                         maxIters=2000, confidence=0.995, refineIters=10)
    if A is None or not _plausible(A):
        return out
    inliers = int(inl.sum())
    out["inliers"], out["inlier_ratio"] = inliers, round(inliers / len(good), 4)
    geometry = float(np.clip((inliers - MIN_INLIERS) / (FULL_INLIERS - MIN_INLIERS), 0.0, 1.0))
    out["geometry"] = round(geometry, 4)
    # colour, on the small creative: As maps reference pixels → small-creative pixels
    As = A * cre.small_scale
    size = (cre.lab_small.shape[1], cre.lab_small.shape[0])
    wmask = cv2.warpAffine(ref.mask, As, size, flags=cv2.INTER_NEAREST)
    sel = wmask > 0
    if not sel.any():
        return out
    wlab = cv2.warpAffine(ref.lab, As, size, flags=cv2.INTER_LINEAR)
    colour = float(np.minimum(ref.hist, ab_histogram(cre.lab_small, wmask)).sum())
    dist = np.linalg.norm(wlab[sel].astype(np.float32) - cre.lab_small[sel].astype(np.float32), axis=1)
    agree = float(np.mean(dist < AGREE_DIST))
    out |= {"colour_similarity": round(colour, 4), "pixel_agreement": round(agree, 4),
            "product_area": round(float(sel.mean()), 4), "score": round(geometry * (colour + agree) / 2, 4)}
    return out


class IdentityCheck:
    """The creative shows the product of ``ctx.references`` (weight-free: ORB + RANSAC + aligned colour).

    Keypoints inside ``ctx.regions`` (overlay text, padded by 0.3 × ``font_px``) are not used.

    Metrics: ``score`` (best over references, [0, 1]), ``best_reference`` (file name), and for the best one
    ``matches``, ``inliers``, ``inlier_ratio``, ``geometry``, ``colour_similarity``, ``pixel_agreement``,
    ``product_area``; ``per_reference`` lists the numbers of each reference compared — in the given order
    (primary packshot first), stopping at the first that passes (``references_checked`` of
    ``references_total``). Verdict: pass if
    ``score ≥ qa.identity.pass_score``, warn if ``≥ warn_score``, else fail (calibration: module notes).
    With no references the check passes with a note (nothing to compare with).

    Learned option (module notes): with ``qa.identity.method`` ``"dino"`` / ``"clip"`` the metrics are
    ``method``, ``model`` (folder), ``score`` = max(0, ``cosine``) in [0, 1], ``cosine`` in [-1, 1] (best
    reference), ``best_reference``, ``per_reference`` (``reference``, ``cosine``, ``score``), ``references_checked``
    / ``references_total`` — same verdict rule and early stop. The keypoint method adds ``method: "keypoints"``.

    ``run(image, ctx)``: ``image`` is ``(H, W, 3) uint8`` sRGB.

    Raises:
        ValueError: ``image`` has another shape/dtype, a reference has no opaque pixel, ``qa.identity.method`` is
            unknown, or a learned method has no ``model_path``.
        ImageError: a reference cannot be decoded.
        ModelWeightsMissingError: the learned method's model folder is missing or incomplete (message: the
            download command); MissingDependencyError: torch/transformers missing.
    """

    name = "identity"

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be an (H, W, 3) uint8 sRGB array; got {getattr(image, 'shape', type(image))}")
        th = ctx.thresholds.identity
        thresholds = {"pass_score": th.pass_score, "warn_score": th.warn_score}
        if not ctx.references:
            return CheckResult(check=self.name, verdict="pass", thresholds=thresholds,
                               metrics={"notes": ["no reference packshots; identity not checked"]})
        pad = lambda r: round(0.3 * r.font_px)  # noqa: E731 — glyph edges, anti-aliasing, the CTA button rim
        boxes = tuple((r.box.x0 - pad(r), r.box.y0 - pad(r), r.box.x1 + pad(r), r.box.y1 + pad(r)) for r in ctx.regions)
        method = th.method
        if method not in METHODS:
            raise ValueError(f"qa.identity.method must be one of {', '.join(METHODS)}; got {method!r}")
        if method != "keypoints":
            return self._run_learned(image, ctx, method, boxes, thresholds)
        cre = creative_features(image, boxes)
        per = []
        for path in ctx.references:  # in order (primary packshot first); stop at the first that passes
            m = match_reference(reference_features(path), cre)
            per.append({"reference": Path(path).name, **m})
            if m["score"] >= th.pass_score:
                break
        best = max(per, key=lambda m: m["score"])
        score = float(best["score"])
        verdict = "pass" if score >= th.pass_score else "warn" if score >= th.warn_score else "fail"
        reasons = []
        if verdict != "pass":
            why = (f"only {best['inliers']} RANSAC inliers" if best["geometry"] < 1
                   else f"colours differ (histogram {best['colour_similarity']:.2f}, aligned pixels {best['pixel_agreement']:.2f})")
            reasons.append(f"product match score {score:.2f} < {th.pass_score:g} (best reference {best['reference']}: {why})")
        return CheckResult(
            check=self.name, verdict=verdict, thresholds=thresholds, reasons=reasons,
            metrics={"method": "keypoints", **{k: best[k] for k in best if k != "reference"}, "score": score,
                     "best_reference": best["reference"], "per_reference": per,
                     "references_checked": len(per), "references_total": len(ctx.references)},
        )

    def _run_learned(self, image: np.ndarray, ctx: CheckContext, method: str,
                     boxes: tuple[tuple[int, int, int, int], ...], thresholds: dict[str, float]) -> CheckResult:
        """The DINOv2 / CLIP-I variant (see the class notes); ``boxes`` are the padded overlay text boxes."""
        from brandflow.qa import embeddings  # torch / transformers only when asked for

        th = ctx.thresholds.identity
        folder = th.model_path
        if not folder:
            raise ValueError(f"qa.identity.method {method!r} needs qa.identity.model_path, a local model folder "
                             f"(fetch one: {embeddings.download_hint(method, '/models/' + method)})")
        model = embeddings.get_model(method, folder)
        creative = model.embed([embeddings.mask_boxes(image, boxes)])[0]
        per = []
        for path in ctx.references:  # in order; stop at the first that passes
            cos = float(np.clip(float(creative @ embeddings.reference_embedding(model, path)), -1.0, 1.0))
            per.append({"reference": Path(path).name, "cosine": round(cos, 4), "score": round(max(0.0, cos), 4)})
            if per[-1]["score"] >= th.pass_score:
                break
        best = max(per, key=lambda m: m["cosine"])
        score = float(best["score"])
        verdict = "pass" if score >= th.pass_score else "warn" if score >= th.warn_score else "fail"
        reasons = [] if verdict == "pass" else [
            f"{method} embedding similarity {score:.2f} < {th.pass_score:g} (best reference {best['reference']})"]
        return CheckResult(
            check=self.name, verdict=verdict, thresholds=thresholds, reasons=reasons,
            metrics={"method": method, "model": str(model.path), "score": score, "cosine": best["cosine"],
                     "best_reference": best["reference"], "per_reference": per,
                     "references_checked": len(per), "references_total": len(ctx.references)},
        )
