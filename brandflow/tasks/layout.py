"""Frame layout shared by generators and compose: where the product may go and where text goes.

All values are fractions of the frame height; compose draws the headline inside the top band and
price + call to action inside the bottom band, so a generator keeps the product out of both.
"""

from __future__ import annotations

TOP_BAND = 0.18  # headline
BOTTOM_BAND = 0.22  # price and CTA button


def product_zone(width: int, height: int) -> tuple[int, int, int, int]:
    """The ``(x0, y0, x1, y1)`` pixel box a generator may fill with the product, between the text bands."""
    return 0, round(height * TOP_BAND), width, round(height * (1 - BOTTOM_BAND))


def wcag_luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour given as 0–255 values; result in [0, 1].

    Source: WCAG 2.2, definition "relative luminance" (sRGB linearisation, Rec. 709 weights).
    """
    def lin(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG 2.x contrast ratio ``(L1 + 0.05) / (L2 + 0.05)`` of two sRGB 0–255 colours, in [1, 21].

    Source: WCAG 2.2, definition "contrast ratio"; 4.5 is level AA for body text, 3 for large text.
    """
    la, lb = wcag_luminance(a), wcag_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def hex_to_rgb(hex_colour: str) -> tuple[int, int, int]:
    """``'#RRGGBB'`` → ``(R, G, B)`` sRGB uint8 values."""
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def rgb_to_hex(rgb: tuple[float, float, float]) -> str:
    """``(R, G, B)`` 0–255 → ``'#RRGGBB'``."""
    return "#" + "".join(f"{max(0, min(255, round(c))):02X}" for c in rgb)
