"""Frame layout shared by generators and compose, and the WCAG 2.x colour arithmetic both use.

:func:`frame_layout` cuts a frame into boxes (pixels, origin top-left, ``x1``/``y1`` exclusive) by its
aspect ratio ``a = W / H``, inside the safe margin ``m = safe_margin × min(W, H)`` and outside the channel's
text-free zones (Stories/Reels: the top and bottom bands the app covers with its own UI)::

    tall  (a < 0.75: 9:16 story, 300×600)     square (0.75 ≤ a < 1.4: 1:1, 4:5, 300×250)
    ┌──────────────┐ ← text-free top             ┌──────────────┐
    │ headline     │  0.11 H                      │ headline logo│  top 0.20 H (4:5: 0.18 H)
    │   product    │  the rest                    │   product    │
    │ price   CTA  │  0.075 H                     │ price   CTA  │  bottom 0.15 H (4:5: 0.13 H)
    └──────────────┘ ← text-free bottom           └──────────────┘

    landscape (1.4 ≤ a < 2.5: 1.91:1)        banner (a ≥ 2.5: 728×90, 320×50)
    ┌─────────┬──────────┐                    ┌───────┬───────────────┬───────┐
    │ product │ headline │                    │product│ headline      │ price │
    │         │ price CTA│                    │       │               │  CTA  │
    └─────────┴──────────┘                    └───────┴───────────────┴───────┘

The bands are sized for their text (a two-line headline at the largest size, one row of price and
button), so the product box takes the rest and no band is left empty. A generator keeps the *product*
inside ``product`` (backgrounds and surfaces run under everything); compose keeps every text inside
``headline`` / ``bottom`` and the logo inside ``logo``. The boxes never overlap (tested), and both sides read
them from here so they never disagree.

``product_zone``, ``top_band`` and ``bottom_band`` are the same boxes under their former names.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Fraction of the frame height, from the top, reserved for the headline (square frames; see frame_layout).
TOP_BAND = 0.20
#: Fraction of the frame height, from the bottom, reserved for price and call to action (square frames).
BOTTOM_BAND = 0.15
#: Side margin a generator keeps between the product and the frame edge, fraction of the short side.
PRODUCT_SIDE_MARGIN = 0.04
#: Gap between two boxes, fraction of the short side.
GAP = 0.02
#: Height of the legal line's strip at the bottom of the live area (two lines at the minimum text size, 28 px per
#: 1080), fraction of the short side; only when the campaign draws one (``overlay.legal``).
LEGAL_BAND = 0.065

Box4 = tuple[int, int, int, int]


@dataclass(frozen=True)
class FrameLayout:
    """Where everything goes in a ``width × height`` frame (all boxes ``(x0, y0, x1, y1)`` pixels, exclusive ends).

    Attributes:
        kind: ``'tall' | 'square' | 'landscape' | 'banner'`` (by aspect ratio, see the module doc).
        headline: the headline's box (the logo's corner is inside it; the headline wraps short of the logo).
        product: the box the product (all its views) must stay inside.
        bottom: price and call-to-action button.
        logo: the logo's slot, its clear space included, or ``None`` (banners have no room for one).
        live: the frame minus the safe margin and the channel's text-free zones.
        text_free: the channel's text-free zones (full-width boxes), possibly empty.
        legal: the legal line's strip at the bottom of the live area (below price and CTA; landscape: of the text
            column), or ``None`` when there is no legal line.
    """

    width: int
    height: int
    kind: str
    headline: Box4
    product: Box4
    bottom: Box4
    logo: Box4 | None
    live: Box4
    text_free: tuple[Box4, ...] = ()
    legal: Box4 | None = None

    def boxes(self) -> dict[str, Box4]:
        """The element boxes by name (``headline``, ``product``, ``bottom``; ``logo`` and ``legal`` when there are)."""
        out = {"headline": self.headline, "product": self.product, "bottom": self.bottom}
        if self.logo is not None:
            out["logo"] = self.logo
        if self.legal is not None:
            out["legal"] = self.legal
        return out


def aspect_kind(width: int, height: int) -> str:
    """``'tall'`` (W/H < 0.75), ``'square'`` (< 1.4), ``'landscape'`` (< 2.5) or ``'banner'``."""
    a = width / height
    return "tall" if a < 0.75 else "square" if a < 1.4 else "landscape" if a < 2.5 else "banner"


def bottom_rows(texts: dict[str, str], width: int, height: int, safe_margin: float = 0.06) -> int:
    """1 or 2: whether price and CTA need two rows (stacked) in a ``width × height`` frame.

    An estimate both the generator and compose make from the same texts (so their boxes agree), before any
    font is loaded: price at 84 px and the CTA label at 50 px per 1080 of short side, 0.62 em per character
    (DejaVu Sans Bold's mean advance over Latin letters and digits), button padding 0.9 em each side, gap 32 px.
    """
    unit = min(width, height) / 1080
    price, cta = texts.get("price", ""), texts.get("cta", "")
    need = 0.62 * unit * (84 * len(price) + 50 * len(cta)) + (1.8 * 50 * unit if cta else 0) + 32 * unit
    lay = frame_layout(width, height, safe_margin)
    return 2 if price and cta and lay.kind in ("tall", "square") and need > lay.bottom[2] - lay.bottom[0] else 1


def frame_layout(width: int, height: int, safe_margin: float = 0.06, text_free_top: float = 0.0,
                 text_free_bottom: float = 0.0, rows: int = 1, legal: bool = False) -> FrameLayout:
    """Cut a ``width × height`` frame (pixels) into headline / product / bottom / logo boxes (module doc).

    Args:
        safe_margin: fraction of the short side kept free at every edge (``overlay.safe_margin``).
        text_free_top, text_free_bottom: fractions of the height where no text may go (the channel's UI
            covers them, e.g. Meta Stories 0.14 / 0.20; see ``docs/formats.md``); 0 = none.
        rows: 2 gives the price/CTA box twice the height (stacked; :func:`bottom_rows`), tall and square only.
        legal: reserve a strip of :data:`LEGAL_BAND` at the bottom of the live area for a legal line (the boxes above
            move up and the product box shrinks; banners have no room: ``legal`` stays ``None``).

    Returns:
        :class:`FrameLayout`; deterministic, integer pixel boxes that never overlap.
    """
    w, h = width, height
    short = min(w, h)
    m = round(safe_margin * short)
    gap = max(1, round(GAP * short))
    top = max(m, round(text_free_top * h))
    bot = h - max(m, round(text_free_bottom * h))
    live = (m, top, w - m, bot)
    free = tuple(b for b in ((0, 0, w, round(text_free_top * h)), (0, h - round(text_free_bottom * h), w, h)) if b[3] > b[1])
    kind = aspect_kind(w, h)
    side = max(m, round(PRODUCT_SIDE_MARGIN * short))
    legal_h = round(LEGAL_BAND * short) if legal and kind != "banner" else 0
    tbot = bot - legal_h - gap if legal_h else bot  # where price and CTA end: above the legal strip
    legal_box = None
    if kind == "tall":
        hy1 = top + round(0.11 * h)
        by0 = tbot - round(0.075 * h * (1.8 if rows == 2 else 1))
        headline, bottom = (m, top, w - m, hy1), (m, by0, w - m, tbot)
        product = (side, hy1 + gap, w - side, by0 - gap)
        legal_box = (m, bot - legal_h, w - m, bot)
    elif kind == "square":
        a = w / h
        top_f, bot_f = (0.18, 0.13) if a < 0.9 else (TOP_BAND, BOTTOM_BAND)
        hy1 = max(top + 1, round(top_f * h))
        by0 = min(tbot - 1, round((1 - bot_f * (1.8 if rows == 2 else 1)) * h) - (bot - tbot))
        headline, bottom = (m, top, w - m, hy1), (m, by0, w - m, tbot)
        product = (side, hy1 + gap, w - side, by0 - gap)
        legal_box = (m, bot - legal_h, w - m, bot)
    elif kind == "landscape":
        split = m + round(0.5 * (w - 2 * m))
        product = (m, top, split - gap, bot)
        col = (split + gap, top, w - m, tbot)
        by0 = tbot - round(0.3 * (tbot - top))
        headline, bottom = (col[0], top, col[2], by0 - gap), (col[0], by0, col[2], tbot)
        legal_box = (col[0], bot - legal_h, col[2], bot)
    else:  # banner: product | headline | price + CTA
        pw = min(round(1.4 * (bot - top)), round(0.22 * w))
        product = (m, top, m + pw, bot)
        bw = round(0.26 * w)
        bottom = (w - m - bw, top, w - m, bot)
        headline = (m + pw + gap, top, w - m - bw - gap, bot)
    logo = None
    if kind != "banner":
        # the logo's slot: top-right of the headline box, its height a third of the box (at most 64 px per
        # 1080 of short side), at most 5 heights and 40 % of the box wide, plus clear space of half its height
        # on the left and below (a common brand-guide rule; a kit's own rule may ask more)
        lh = min(round(0.34 * (headline[3] - headline[1])), round(64 * short / 1080))
        clear = round(0.5 * lh)
        lw = min(5 * lh, round(0.4 * (headline[2] - headline[0])))
        logo = (headline[2] - lw - clear, headline[1], headline[2], headline[1] + lh + clear)
    return FrameLayout(w, h, kind, headline, product, bottom, logo, live, free, legal_box if legal_h else None)


def product_zone(width: int, height: int) -> Box4:
    """The ``(x0, y0, x1, y1)`` pixel box a generator may fill with the product (:func:`frame_layout`'s ``product``)."""
    return frame_layout(width, height).product


def safe_margin_px(width: int, height: int, safe_margin: float) -> int:
    """The safe margin in pixels: ``round(safe_margin × min(width, height))`` (``overlay.safe_margin``)."""
    return round(safe_margin * min(width, height))


def top_band(width: int, height: int, safe_margin: float) -> Box4:
    """The headline's box (:func:`frame_layout`'s ``headline``)."""
    return frame_layout(width, height, safe_margin).headline


def bottom_band(width: int, height: int, safe_margin: float) -> Box4:
    """The price and CTA box (:func:`frame_layout`'s ``bottom``)."""
    return frame_layout(width, height, safe_margin).bottom


def boxes_overlap(a: Box4, b: Box4) -> bool:
    """Whether two ``(x0, y0, x1, y1)`` boxes (exclusive ends) share a pixel."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


# --------------------------------------------------------------------------- colour: one module for the whole package
