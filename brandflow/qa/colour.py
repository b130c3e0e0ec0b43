"""Colour QA: do the required brand colours appear, how exactly (CIEDE2000), and how much of the image is off-palette.

Colour science used here (all CIELAB is D65 / 2° observer, the sRGB white point):

* sRGB → CIELAB: :func:`skimage.color.rgb2lab` (IEC 61966-2-1 sRGB decoding, CIE 1976 L*a*b*).
* ΔE00: CIEDE2000 (CIE 142-2001), via :func:`skimage.color.deltaE_ciede2000`; verified against the 34
  test pairs of Sharma, Wu & Dalal, *Color Res. Appl.* 30(1), 2005 (tests/qa/test_colour.py).
* Thresholds (``QASpec.colour``): pass ΔE00 ≤ 2.0 (common print/brand practice), warn ≤ 3.5 (ISO 12647-2
  tolerance for solids).

Why the verdict uses per-pixel ΔE and not only k-means centres: a k-means centre is the *mean* of its
members, so anti-aliased edges, text, gradients or noise pull it away from a flat brand-colour area even when
that area is pixel-exact. The check therefore measures, per brand colour, the ΔE00 within which at least
``min_coverage`` of the pixels lie (a flat brand-colour area reads ΔE ≈ 0); the k-means palette and the
nearest centre are reported next to it for the reviewer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab
from pydantic import Field, model_validator

from brandflow.colour import hex_to_rgb
from brandflow.qa.base import CheckContext
from brandflow.records import VERDICT_ORDER, CheckResult, Verdict
from brandflow.registry import PluginOptions

#: Pixels sampled per image (regular grid) for k-means and per-pixel ΔE: ~0.1 % coverage resolution
#: on any image size, ~10 ms per brand colour.
MAX_SAMPLES = 40_000
#: A pixel is "off-palette" when its ΔE00 to every brand colour exceeds this. ΔE00 ≈ 10–20 separates
#: clearly different colours of one hue family; above 20 it is another colour altogether.
OFF_PALETTE_DELTA_E = 20.0
#: Pixels with CIELAB chroma C*ab below this are neutrals (white, grey, black, soft shadows) and are
#: never off-palette: every layout may use them.
NEUTRAL_CHROMA = 10.0
#: Warn when more than this fraction of the image is off-palette. A composited packshot at 40–70 % of the
#: short side covers at most ~50 % of the pixels, so above half the *background* itself is off-brand.
#: It is a warning only: product pixels legitimately differ from the palette.
OFF_PALETTE_WARN = 0.5


# --------------------------------------------------------------------------- colour science
def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """Convert sRGB colours to CIELAB (D65, 2° observer).

    Args:
        rgb: ``(..., 3)`` sRGB; ``uint8`` in 0–255, or float in 0–1.

    Returns:
        ``(..., 3) float64`` L* (0–100), a*, b* (about −128…127).

    Raises:
        ValueError: the last axis is not 3, or a float input lies outside 0–1.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"rgb must have shape (..., 3); got {rgb.shape}")
    if rgb.dtype == np.uint8:
        rgb = rgb.astype(np.float64) / 255.0
    else:
        rgb = rgb.astype(np.float64)
        if rgb.size and (rgb.min() < 0.0 or rgb.max() > 1.0):
            raise ValueError("float rgb must lie in 0–1 (pass uint8 for 0–255 values)")
    return rgb2lab(rgb)


def hex_to_lab(hex_colour: str) -> np.ndarray:
    """``'#RRGGBB'`` sRGB → ``(3,) float64`` CIELAB (D65). Raises ValueError on a malformed hex."""
    return srgb_to_lab(np.array(hex_to_rgb(hex_colour), dtype=np.uint8))


def lab_to_hex(lab: np.ndarray) -> str:
    """``(3,)`` CIELAB (D65) → the nearest in-gamut ``'#RRGGBB'`` (clipped), for reports."""
    from skimage.color import lab2rgb

    rgb = np.clip(lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3)).reshape(3), 0, 1)
    return "#" + "".join(f"{round(c * 255):02X}" for c in rgb)


def delta_e_ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference ΔE00 (CIE 142-2001; kL = kC = kH = 1).

    Args:
        lab1, lab2: ``(..., 3)`` CIELAB (D65) arrays, broadcastable against each other.

    Returns:
        ``(...) float64`` ΔE00 (unitless; 1 ≈ a just-noticeable difference).

    Raises:
        ValueError: the last axis is not 3.
    """
    lab1, lab2 = np.asarray(lab1, dtype=np.float64), np.asarray(lab2, dtype=np.float64)
    if lab1.shape[-1:] != (3,) or lab2.shape[-1:] != (3,):
        raise ValueError(f"Lab arrays must have shape (..., 3); got {lab1.shape} and {lab2.shape}")
    lab1, lab2 = np.broadcast_arrays(lab1, lab2)
    return deltaE_ciede2000(lab1, lab2)


def sample_pixels(image: np.ndarray, mask: np.ndarray | None = None, max_samples: int = MAX_SAMPLES) -> np.ndarray:
    """Deterministic regular-grid subsample of an image's pixels.

    Args:
        image: ``(H, W, 3) uint8`` sRGB.
        mask: optional ``(H, W) bool`` — only pixels where it is true are kept.
        max_samples: upper bound on the grid size (the masked count may be lower).

    Returns:
        ``(N, 3) uint8`` sRGB pixels.

    Raises:
        ValueError: wrong shape or dtype, or a mask that does not match the image.
    """
    _check_image(image)
    h, w = image.shape[:2]
    step = max(1, math.ceil(math.sqrt(h * w / max_samples)))
    off = step // 2
    px = image[off::step, off::step]
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (h, w):
            raise ValueError(f"mask must have shape {(h, w)}; got {mask.shape}")
        return px[mask[off::step, off::step]].reshape(-1, 3)
    return px.reshape(-1, 3)


@dataclass(frozen=True)
class DominantColours:
    """The result of :func:`dominant_colours`, sorted by coverage (largest first).

    Attributes:
        lab: ``(k, 3) float64`` CIELAB (D65) cluster centres.
        coverage: ``(k,) float64`` fraction of the (masked) pixels in each cluster; sums to 1.
        hex: the centres as ``'#RRGGBB'`` sRGB strings (clipped to gamut).
    """

    lab: np.ndarray
    coverage: np.ndarray
    hex: tuple[str, ...]


def dominant_colours(
    image: np.ndarray, k: int = 6, mask: np.ndarray | None = None, max_samples: int = 10_000, seed: int = 0
) -> DominantColours:
    """Dominant colours by k-means in CIELAB (OpenCV ``cv2.kmeans``, k-means++ init, 2 attempts).

    Deterministic: a fixed regular-grid subsample and a fixed OpenCV RNG seed.

    Args:
        image: ``(H, W, 3) uint8`` sRGB.
        k: number of clusters (fewer when the sample has fewer distinct colours), ≥ 1.
        mask: optional ``(H, W) bool``; only pixels where it is true are clustered.
        max_samples: pixels sampled (regular grid) before clustering; 10 000 keeps it under ~10 ms.
        seed: OpenCV RNG seed.

    Returns:
        :class:`DominantColours` sorted by coverage, largest first.

    Raises:
        ValueError: bad image/mask, ``k < 1``, or a mask that selects no pixel.
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1; got {k}")
    px = sample_pixels(image, mask, max_samples)
    if len(px) == 0:
        raise ValueError("mask selects no pixel")
    return _kmeans_lab(srgb_to_lab(px), len(_unique_rgb(px)[0]), k, seed)


def _kmeans_lab(lab: np.ndarray, n_unique: int, k: int, seed: int) -> DominantColours:
    k = min(k, n_unique)
    lab32 = lab.astype(np.float32)
    if k == 1:
        centres, labels = lab32.mean(axis=0, keepdims=True), np.zeros(len(lab32), dtype=np.int32)
    else:
        cv2.setRNGSeed(seed)
        criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
        _, labels, centres = cv2.kmeans(lab32, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
        labels = labels.ravel()
    coverage = np.bincount(labels, minlength=k).astype(np.float64) / len(labels)
    order = np.argsort(-coverage, kind="stable")
    centres = centres[order].astype(np.float64)
    return DominantColours(lab=centres, coverage=coverage[order], hex=tuple(lab_to_hex(c) for c in centres))


def _unique_rgb(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3) uint8`` → (unique ``(U, 3) uint8`` colours, ``(U,)`` counts); fast via 24-bit packing."""
    packed = (px[:, 0].astype(np.uint32) << 16) | (px[:, 1].astype(np.uint32) << 8) | px[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1).astype(np.uint8)
    return rgb, counts


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    """Smallest value v with weight(values ≤ v) ≥ q · total (numpy's ``inverted_cdf`` with weights)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(values[order][min(i, len(values) - 1)])


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) uint8 sRGB array; got {got}")


# --------------------------------------------------------------------------- the check
class ColourThresholds(PluginOptions):
    pass_delta_e: float = Field(default=2.0, gt=0, description="ΔE00 pass ≤ (print practice)")
    warn_delta_e: float = Field(default=3.5, gt=0, description="ΔE00 warn ≤ (ISO 12647-2 solids)")
    min_coverage: float = Field(default=0.005, ge=0, le=1, description="fraction of pixels the matched colour covers")

    @model_validator(mode="after")
    def _order(self) -> ColourThresholds:
        if self.warn_delta_e < self.pass_delta_e:
            raise ValueError("warn_delta_e must be ≥ pass_delta_e")
        return self


class ColourCheck:
    """Required brand colours present within ΔE00 tolerance and coverage; off-palette share reported.

    For each brand colour with ``required=True``, with ``pass`` = ``colour.max_delta_e`` or
    ``qa.colour.pass_delta_e``, ``warn`` = ``qa.colour.warn_delta_e`` and ``min_coverage`` from
    ``qa.colour``:

    * ``delta_e`` — the ΔE00 within which at least ``min_coverage`` of the sampled pixels lie (the
      ``min_coverage`` quantile of per-pixel ΔE00 to the brand colour). A flat brand-colour area reads 0.
    * ``coverage`` — fraction of sampled pixels within ``pass`` ΔE00 of the brand colour.
    * ``nearest_centre`` / ``delta_e_centre`` / ``centre_coverage`` — the nearest k-means dominant colour
      (k = 6, CIELAB), reported for the reviewer (a centre averages its members; see the module notes).

    Verdict per colour: pass if ``delta_e ≤ pass`` (⇔ ``coverage ≥ min_coverage``), warn if
    ``delta_e ≤ warn``, fail otherwise; the check's verdict is the worst. ``off_palette`` (fraction of
    pixels with chroma ≥ :data:`NEUTRAL_CHROMA` and ΔE00 > :data:`OFF_PALETTE_DELTA_E` to every brand
    colour) warns above :data:`OFF_PALETTE_WARN`, never fails.

    ``run(image, ctx)``: ``image`` is ``(H, W, 3) uint8`` sRGB; raises ValueError on another shape/dtype.
    """

    name = "colour"
    Options = ColourThresholds  # its settings: qa.<name> in the campaign, validated when it loads
    k = 6

    def run(self, image: np.ndarray, ctx: CheckContext) -> CheckResult:
        th = ctx.thresholds.colour
        px = sample_pixels(image)
        rgb_u, counts = _unique_rgb(px)  # ΔE00 is computed once per distinct colour, weighted by its count
        lab = srgb_to_lab(rgb_u)
        weights = counts / counts.sum()
        dom = dominant_colours(image, k=self.k)
        brand_lab = np.stack([hex_to_lab(c.hex) for c in ctx.brand.colours])
        # (n_colours, U) ΔE00 of every distinct sampled colour to every brand colour
        de_px = delta_e_ciede2000(lab[None, :, :], brand_lab[:, None, :])

        verdicts: list[Verdict] = []
        reasons: list[str] = []
        per_colour = []
        for i, colour in enumerate(ctx.brand.colours):
            if not colour.required:
                continue
            pass_de = colour.max_delta_e or th.pass_delta_e
            warn_de = max(th.warn_delta_e, pass_de)
            d = de_px[i]
            de = _weighted_quantile(d, weights, th.min_coverage)
            coverage = float(weights[d <= pass_de].sum())
            de_c = delta_e_ciede2000(dom.lab, brand_lab[i][None, :])
            j = int(np.argmin(de_c))
            if de <= pass_de:
                v: Verdict = "pass"
            elif de <= warn_de:
                v = "warn"
                reasons.append(
                    f"{colour.name} {colour.hex}: ΔE00 {de:.2f} over pass {pass_de:g} (warn ≤ {warn_de:g}); "
                    f"nearest dominant colour {dom.hex[j]}"
                )
            else:
                v = "fail"
                reasons.append(
                    f"{colour.name} {colour.hex} missing: no {th.min_coverage:.1%} of the image within ΔE00 {warn_de:g} "
                    f"(closest {de:.1f}); nearest dominant colour {dom.hex[j]} at ΔE00 {float(de_c[j]):.1f}"
                )
            verdicts.append(v)
            per_colour.append(
                {
                    "name": colour.name,
                    "hex": colour.hex,
                    "role": colour.role,
                    "delta_e": round(de, 3),
                    "coverage": round(coverage, 4),
                    "pass_delta_e": pass_de,
                    "nearest_centre": dom.hex[j],
                    "delta_e_centre": round(float(de_c[j]), 3),
                    "centre_coverage": round(float(dom.coverage[j]), 4),
                    "verdict": v,
                }
            )

        chroma = np.hypot(lab[:, 1], lab[:, 2])
        off = float(weights[(chroma >= NEUTRAL_CHROMA) & (de_px.min(axis=0) > OFF_PALETTE_DELTA_E)].sum())
        if off > OFF_PALETTE_WARN:
            verdicts.append("warn")
            reasons.append(
                f"{off:.0%} of the image is off-palette (ΔE00 > {OFF_PALETTE_DELTA_E:g} from every brand colour, "
                f"not neutral); warn above {OFF_PALETTE_WARN:.0%}"
            )
        verdict = max(verdicts, key=VERDICT_ORDER.__getitem__, default="pass")
        return CheckResult(
            check=self.name,
            verdict=verdict,
            metrics={
                "colours": per_colour,
                "off_palette": round(off, 4),
                "dominant": [{"hex": h, "coverage": round(float(c), 4)} for h, c in zip(dom.hex, dom.coverage)],
                "samples": int(len(px)),
            },
            thresholds={
                "pass_delta_e": th.pass_delta_e,
                "warn_delta_e": th.warn_delta_e,
                "min_coverage": th.min_coverage,
                "off_palette_delta_e": OFF_PALETTE_DELTA_E,
                "neutral_chroma": NEUTRAL_CHROMA,
                "off_palette_warn": OFF_PALETTE_WARN,
            },
            reasons=reasons,
        )
