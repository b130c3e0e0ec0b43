"""CIELAB and CIEDE2000 (scikit-image), shared by the colour check, the compositor's backdrop choice and the
design bench.

All CIELAB is D65 / 2° observer (the sRGB white point). sRGB → CIELAB: :func:`skimage.color.rgb2lab`
(IEC 61966-2-1 decoding, CIE 1976 L*a*b*). ΔE00: CIEDE2000 (CIE 142-2001) via
:func:`skimage.color.deltaE_ciede2000`, verified against the 34 test pairs of Sharma, Wu & Dalal, *Color Res.
Appl.* 30(1), 2005 (tests/qa/test_colour.py). Hex parsing and WCAG contrast live in :mod:`brandflow.colour`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from brandflow.colour import hex_to_rgb

#: Pixels sampled per image (regular grid) for k-means and per-pixel ΔE: ~0.1 % coverage resolution
#: on any image size, ~10 ms per brand colour.
MAX_SAMPLES = 40_000


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


def srgb_to_linear(srgb: np.ndarray) -> np.ndarray:
    """``(..., 3) uint8`` sRGB → ``float32`` linear RGB in [0, 1] (IEC 61966-2-1 decoding)."""
    c = np.asarray(srgb).astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """``(..., 3)`` linear RGB (clipped to [0, 1]) → ``uint8`` sRGB (IEC 61966-2-1 encoding), rounded."""
    lin = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    enc = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(enc * 255.0), 0, 255).astype(np.uint8)


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
    return _kmeans_lab(srgb_to_lab(px), len(unique_rgb(px)[0]), k, seed)


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


def unique_rgb(px: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, 3) uint8`` → (unique ``(U, 3) uint8`` colours, ``(U,)`` counts); fast via 24-bit packing."""
    packed = (px[:, 0].astype(np.uint32) << 16) | (px[:, 1].astype(np.uint32) << 8) | px[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], axis=1).astype(np.uint8)
    return rgb, counts


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be an (H, W, 3) uint8 sRGB array; got {got}")
