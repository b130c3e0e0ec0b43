"""Frame layout shared by generators and compose, and the WCAG 2.x colour arithmetic both use.

A creative is three horizontal bands (fractions of the frame height, origin top-left)::

    0 ────────────── y = 0
      top band        headline (compose)            TOP_BAND    = 0.18 of the height
    ─────────────── y = TOP_BAND · H
      product zone    the product (generator)
    ─────────────── y = (1 − BOTTOM_BAND) · H
      bottom band     price + CTA button (compose)  BOTTOM_BAND = 0.28 of the height
    ─────────────── y = H

A generator keeps the *product* out of both text bands (background colour and shapes may run
through them); compose keeps all text inside them and inside the safe margin
(``overlay.safe_margin`` × the short side). Both read the numbers from here so they never disagree.
"""

from __future__ import annotations

#: Fraction of the frame height, from the top, reserved for the headline.
TOP_BAND = 0.18
#: Fraction of the frame height, from the bottom, reserved for price and call to action.
BOTTOM_BAND = 0.28
#: Side margin a generator keeps between the product and the frame edge, fraction of the short side.
PRODUCT_SIDE_MARGIN = 0.04

Box4 = tuple[int, int, int, int]


def product_zone(width: int, height: int) -> Box4:
    """The ``(x0, y0, x1, y1)`` pixel box (``x1``/``y1`` exclusive) a generator may fill with the product:
    between the text bands, :data:`PRODUCT_SIDE_MARGIN` × the short side in from the left and right edges."""
    side = round(PRODUCT_SIDE_MARGIN * min(width, height))
    return side, round(height * TOP_BAND), width - side, round(height * (1 - BOTTOM_BAND))


def safe_margin_px(width: int, height: int, safe_margin: float) -> int:
    """The safe margin in pixels: ``round(safe_margin × min(width, height))`` (``overlay.safe_margin``)."""
    return round(safe_margin * min(width, height))


def top_band(width: int, height: int, safe_margin: float) -> Box4:
    """The ``(x0, y0, x1, y1)`` box compose may draw the headline (and logo) in: the top band minus the safe margin."""
    m = safe_margin_px(width, height, safe_margin)
    return m, m, width - m, max(m + 1, round(height * TOP_BAND))


def bottom_band(width: int, height: int, safe_margin: float) -> Box4:
    """The ``(x0, y0, x1, y1)`` box compose draws price and CTA in: the bottom band minus the safe margin."""
    m = safe_margin_px(width, height, safe_margin)
    return m, round(height * (1 - BOTTOM_BAND)), width - m, height - m


# --------------------------------------------------------------------------- colour
def wcag_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour given as 0–255 values; result in [0, 1].

    ``L = 0.2126 R + 0.7152 G + 0.0722 B`` on linearised channels, ``c/12.92`` if ``c ≤ 0.04045``
    else ``((c + 0.055)/1.055)^2.4`` with ``c`` = value/255.
    Source: W3C WCAG 2.2 (and 2.0/2.1), definition "relative luminance"
    (https://www.w3.org/TR/WCAG22/#dfn-relative-luminance). WCAG 2.0 printed the threshold as 0.03928;
    2.1+ use the sRGB standard's 0.04045 — no 8-bit value lies between the two, so results are identical.
    """

    def lin(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG 2.x contrast ratio ``(L1 + 0.05) / (L2 + 0.05)`` of two sRGB 0–255 colours, in [1, 21].

    ``L1`` is the lighter colour's relative luminance (:func:`wcag_luminance`). Source: W3C WCAG 2.2,
    definition "contrast ratio" (https://www.w3.org/TR/WCAG22/#dfn-contrast-ratio); success criterion
    1.4.3 asks 4.5:1 for normal text and 3:1 for large text (level AA), 1.4.6 asks 7:1 (AAA).
    """
    la, lb = wcag_luminance(a), wcag_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def hex_to_rgb(hex_colour: str) -> tuple[int, int, int]:
    """``'#RRGGBB'`` → ``(R, G, B)`` sRGB uint8 values.

    Raises:
        ValueError: not six hex digits.
    """
    h = hex_colour.lstrip("#")
    if len(h) != 6:
        raise ValueError(f"{hex_colour!r} is not a '#RRGGBB' colour")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def rgb_to_hex(rgb: tuple[float, float, float]) -> str:
    """``(R, G, B)`` 0–255 (rounded, clipped) → ``'#RRGGBB'`` upper case."""
    return "#" + "".join(f"{max(0, min(255, round(c))):02X}" for c in rgb)
