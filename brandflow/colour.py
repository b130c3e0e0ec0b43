"""Colour arithmetic every room shares: ``'#RRGGBB'`` parsing and WCAG 2.x luminance and contrast.

One place for each formula (the brand kit, compose, the compositor and text QA all use them). CIELAB and
CIEDE2000 are in :mod:`brandflow.cielab` (scikit-image).
"""

from __future__ import annotations

import re

#: A brand hex colour: ``#`` and six hex digits (sRGB).
HEX_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


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
