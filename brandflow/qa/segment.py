"""Where is the product? A foreground mask for a packshot or a creative, offline and weight-free.

Three methods, tried in order (:func:`product_mask`):

1. **alpha** — an RGBA packshot with transparent pixels: product = alpha ≥ 128 (the soft drop shadow and
   anti-aliased rim fall below).
2. **background flood** — an opaque packshot on a uniform backdrop (the usual Merchant Center JPEG on white):
   pixels within :data:`FLOOD_DIST` of the median border colour (OpenCV 8-bit Lab, Euclidean ≈ ΔE76) that are
   connected to the image border are background; everything else is product. Used when ≥ 90 % of the
   border pixels have that colour and the product covers 2–95 % of the frame.
3. **GrabCut** (Rother, Kolmogorov, Blake, SIGGRAPH 2004; ``cv2.grabCut``) initialised with a rectangle
   :data:`GRABCUT_MARGIN` inside the frame, on the image scaled to :data:`GRABCUT_SIDE` — a photo or a
   creative whose backdrop is a scene. Boxes known not to be product (overlay text) start as background.
   On DreamBench photos (subject roughly centred) it keeps the animal or object and most of its outline.

The mask is ``(H, W) uint8``: 255 = product, 0 = background.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Alpha at or above which a pixel is product.
ALPHA_PRODUCT = 128
#: Share of transparent pixels (alpha < :data:`ALPHA_PRODUCT`) that makes the alpha channel the mask.
ALPHA_MIN_TRANSPARENT = 0.01
#: Background flood: distance to the border colour in OpenCV 8-bit Lab (L ×2.55, a/b +128), ≈ ΔE76 14.
FLOOD_DIST = 18.0
#: Background flood: share of border pixels that must have the border colour (a uniform backdrop).
FLOOD_UNIFORM = 0.90
#: A mask is plausible when the product covers this share of the frame.
MIN_AREA, MAX_AREA = 0.02, 0.95
#: GrabCut runs on the image scaled to this longest side, px (speed; the outline only needs to be coarse).
GRABCUT_SIDE = 200
#: GrabCut's initial rectangle leaves this share of each side as background.
GRABCUT_MARGIN = 0.08
#: GrabCut iterations (OpenCV's sample uses 5; 3 settle on these sizes).
GRABCUT_ITERS = 3


def _alpha_mask(rgba: np.ndarray) -> np.ndarray | None:
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        return None
    alpha = rgba[..., 3]
    if float(np.mean(alpha < ALPHA_PRODUCT)) < ALPHA_MIN_TRANSPARENT:
        return None
    return np.where(alpha >= ALPHA_PRODUCT, 255, 0).astype(np.uint8)


def flood_mask(rgb: np.ndarray) -> np.ndarray | None:
    """Border-connected uniform-backdrop removal (module notes, method 2) on an ``(H, W, 3) uint8`` sRGB
    image; ``None`` when the border is not uniform or the remaining product is implausibly small or large."""
    h, w = rgb.shape[:2]
    if h < 8 or w < 8:
        return None
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    ref = np.median(border, axis=0)
    if float(np.mean(np.linalg.norm(border - ref, axis=1) < FLOOD_DIST)) < FLOOD_UNIFORM:
        return None
    near = (np.linalg.norm(lab - ref, axis=2) < FLOOD_DIST).astype(np.uint8)
    _, labels = cv2.connectedComponents(near, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, edge) & (near > 0)  # label 0 is the non-background pixels: masked by `near`
    mask = np.where(background, 0, 255).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    share = float(mask.mean()) / 255
    return mask if MIN_AREA <= share <= MAX_AREA else None


def grabcut_mask(rgb: np.ndarray, exclude: tuple[tuple[int, int, int, int], ...] = ()) -> np.ndarray:
    """GrabCut foreground (module notes, method 3) of an ``(H, W, 3) uint8`` sRGB image at full size;
    ``exclude`` pixel boxes ``(x0, y0, x1, y1)`` start as certain background. Falls back to the initial
    rectangle when GrabCut keeps less than :data:`MIN_AREA` of the frame (or the image is tiny)."""
    h, w = rgb.shape[:2]
    mx, my = max(1, round(w * GRABCUT_MARGIN)), max(1, round(h * GRABCUT_MARGIN))
    rect = np.zeros((h, w), np.uint8)
    rect[my : h - my, mx : w - mx] = 255
    if h < 16 or w < 16:
        return rect if rect.any() else np.full((h, w), 255, np.uint8)
    f = min(1.0, GRABCUT_SIDE / max(h, w))
    small = rgb if f == 1.0 else cv2.resize(rgb, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    init = np.full((sh, sw), cv2.GC_BGD, np.uint8)  # the margin is background, as cv2.GC_INIT_WITH_RECT sets it
    smx, smy = max(1, round(sw * GRABCUT_MARGIN)), max(1, round(sh * GRABCUT_MARGIN))
    init[smy : sh - smy, smx : sw - smx] = cv2.GC_PR_FGD
    for x0, y0, x1, y1 in exclude:
        init[max(0, int(y0 * f)) : int(np.ceil(y1 * f)), max(0, int(x0 * f)) : int(np.ceil(x1 * f))] = cv2.GC_BGD
    if not (init == cv2.GC_PR_FGD).any():
        return rect
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut seeds its colour models with k-means on OpenCV's RNG: same image, same mask
    try:
        cv2.grabCut(cv2.cvtColor(small, cv2.COLOR_RGB2BGR), init, None, bgd, fgd, GRABCUT_ITERS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a flat image: GrabCut cannot fit its colour models
        return rect
    fg = np.where((init == cv2.GC_FGD) | (init == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    if float(fg.mean()) / 255 < MIN_AREA:
        return rect
    return fg if f == 1.0 else cv2.resize(fg, (w, h), interpolation=cv2.INTER_NEAREST)


def product_mask(image: np.ndarray, exclude: tuple[tuple[int, int, int, int], ...] = ()) -> tuple[np.ndarray, str]:
    """The product's pixels in a packshot, photo or creative.

    Args:
        image: ``(H, W, 4) uint8`` straight-alpha RGBA or ``(H, W, 3) uint8`` sRGB.
        exclude: pixel boxes ``(x0, y0, x1, y1)`` that are not product (overlay text); GrabCut only.

    Returns:
        ``(mask, method)``: ``(H, W) uint8`` (255 = product) and ``"alpha"``, ``"background flood"`` or
        ``"grabcut"`` (module notes; the first that applies).

    Raises:
        ValueError: ``image`` is not ``(H, W, 3|4) uint8``.
    """
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3|4) uint8; got {getattr(image, 'shape', type(image))}")
    alpha = _alpha_mask(image)
    if alpha is not None:
        return alpha, "alpha"
    rgb = np.ascontiguousarray(image[..., :3])
    flood = flood_mask(rgb)
    if flood is not None:
        return flood, "background flood"
    return grabcut_mask(rgb, exclude), "grabcut"
