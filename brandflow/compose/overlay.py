"""Compose: deliver the exact format size and draw the exact overlay text (headline, price, CTA, logo).

Text is drawn by us, never left to a model, so the words on a creative are exactly the product's.

Layout (bands from :mod:`brandflow.compose.layout`, all inside the safe margin
``m = overlay.safe_margin × min(W, H)`` pixels):

* ``headline`` — top band ``[m, TOP_BAND·H)``, left-aligned, bold, as large as fits (110 px on a 1080-px short
  side, scaled with the short side), word-wrapped to at most **2 lines**; when 2 lines do not fit even at the
  minimum size (28 px per 1080 px of short side), **3 lines** are tried; when that fails too, a
  :class:`ValueError` names the slot and the text length. Text is never truncated or ellipsised.
* ``price`` (left) and ``cta`` (right, a pill button) — bottom band ``[(1 − BOTTOM_BAND)·H, H − m)``, on one row
  and vertically centred; when they do not fit side by side the price shrinks (to 28 px per 1080), then the two
  are stacked (price above the button).
* logo — top-right corner of the safe area when ``overlay.logo`` is true; the headline wraps short of it.
* ``legal`` (when ``overlay.legal`` renders to text) — a strip at the bottom of the live area below price and CTA
  (``layout.LEGAL_BAND``), at most 2 balanced lines from 30 px per 1080 down to the minimum size.
* An empty string draws nothing for its slot.

Contrast (WCAG 2.x, :func:`brandflow.compose.layout.contrast_ratio`): the text colour is held to
``overlay.min_contrast`` against the *darkest and lightest* colours behind the text (5th / 95th luminance
percentile of the pixels in the text box), not their mean — a mean hides a dark stripe under white text.
Candidates in order: the brand's ``text`` colour, white, near-black ``#111111``, black. When none reaches the
threshold over a busy background, a rounded plate (the brand ``background`` colour, else white, else
``#111111``) is drawn behind the text. Each drawn text is recorded as a
:class:`~brandflow.records.TextRegion`: the tight ink box in final pixels, the text colour, the colour behind
it (the box's most common pixel colour — the plate or the CTA button when there is one) and the worst-case
contrast ratio.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageOps

from brandflow.imageio import INPUT_MAX_SIDE, encode_within, hand_on, load_rgb_of, load_rgba, write_atomic, write_thumbnail
from brandflow.glyphs import require_glyphs
from brandflow.records import Box, Creative, GeneratedImage, Job, PlacedImage, TextPart, TextRegion, sha256_file
from brandflow.spec import BrandKit, OverlaySpec
from brandflow.compose.typeset import Face, FontChain, balanced_lines, phrase_passes, script_of
from brandflow.colour import contrast_ratio, rgb_to_hex
from brandflow.compose.layout import FrameLayout, bottom_rows, frame_layout, safe_margin_px

FONTS = Path(__file__).resolve().parents[1] / "assets" / "fonts"
#: Bundled fonts (DejaVu Sans; licence: assets/fonts/LICENSE-DejaVu.txt).
BOLD, REGULAR = FONTS / "DejaVuSans-Bold.ttf", FONTS / "DejaVuSans.ttf"
#: Font sizes in pixels on a frame whose short side is 1080 px (scaled with the short side).
HEADLINE_PX, PRICE_PX, CTA_PX, LEGAL_PX = 110, 84, 50, 30
#: Smallest text drawn, pixels per 1080 px of short side (legible on a phone; 28 px ≈ 9 pt at 1080 × 1920).
MIN_FONT_PX_AT_1080 = 28
LINE_SPACING = 1.12  # line pitch as a multiple of the font size
WHITE, NEAR_BLACK, BLACK = (255, 255, 255), (17, 17, 17), (0, 0, 0)
RGB = tuple[int, int, int]


def _font(path: str, size: int, lang: str | None = None, brand: bool = True) -> Face:
    """The fallback chain of ``path`` (brand font, else the bundled one) at ``size`` pixels, shaped for ``lang``."""
    return Face(FontChain(path, lang, brand), size)


# --------------------------------------------------------------------------- colour
def background_stats(img: Image.Image, box: tuple[int, int, int, int]) -> tuple[RGB, list[RGB]]:
    """What is behind a box of an RGB image: ``(mode, [darkest, lightest])``.

    Args:
        img: ``RGB`` PIL image (sRGB).
        box: ``(x0, y0, x1, y1)`` pixels, clipped to the image.

    Returns:
        ``mode``: the most common pixel colour; ``darkest`` / ``lightest``: the pixels at the 5th / 95th
        percentile of (gamma-encoded, Rec. 709-weighted) luminance. All ``(R, G, B)`` sRGB uint8 tuples.
        An empty box gives white.
    """
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(img.width, box[2]), min(img.height, box[3])
    if x1 <= x0 or y1 <= y0:
        return WHITE, [WHITE]
    a = np.asarray(img.crop((x0, y0, x1, y1)), dtype=np.uint8).reshape(-1, 3)
    packed = (a[:, 0].astype(np.uint32) << 16) | (a[:, 1].astype(np.uint32) << 8) | a[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    m = int(values[counts.argmax()])
    mode = ((m >> 16) & 255, (m >> 8) & 255, m & 255)
    lum = a.astype(np.float32) @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    order = np.argsort(lum, kind="stable")
    extremes = [tuple(int(c) for c in a[order[int(q * (len(a) - 1))]]) for q in (0.05, 0.95)]
    return mode, extremes  # type: ignore[return-value]


def pick_text_colour(backgrounds: list[RGB], brand: BrandKit, min_contrast: float) -> tuple[RGB, float]:
    """The text colour for ``backgrounds`` (sRGB uint8 tuples) and its worst WCAG 2.x contrast ratio over them.

    The first of: the brand's ``text`` colour, white, near-black ``#111111``, black, whose worst contrast
    reaches ``min_contrast``; when none does, the candidate with the best worst contrast (the caller then
    draws a plate). Returns ``((R, G, B), ratio)``, ratio in [1, 21].
    """
    def worst(c: RGB) -> float:
        return min(contrast_ratio(c, bg) for bg in backgrounds)

    text = brand.colour("text")
    candidates = ([text.rgb] if text is not None else []) + [WHITE, NEAR_BLACK, BLACK]
    for c in candidates:
        if worst(c) >= min_contrast:
            return c, worst(c)
    best = max(candidates, key=worst)
    return best, worst(best)


# --------------------------------------------------------------------------- text blocks
@dataclass
class _Block:
    """A measured text block: lines at one font; ``bbox`` is the ink box relative to the origin (0, 0)."""

    lines: list[str]
    font: Face
    pitch: int
    bbox: tuple[int, int, int, int]
    xs: tuple[float, ...] = ()  # each line's x offset (right-aligned right-to-left text); empty = all 0
    rtl: bool = False  # the paragraph direction every line is reordered with (UAX #9: one direction per paragraph)

    @property
    def width(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> int:
        return self.bbox[3] - self.bbox[1]


def _measure(draw: ImageDraw.ImageDraw, lines: list[str], font: Face) -> _Block:
    """Measure ``lines`` set at ``font``; right-to-left text (UAX #9 paragraph direction) is right-aligned."""
    pitch = round(font.size * LINE_SPACING)
    xs: tuple[float, ...] = ()
    rtl = Face.rtl(" ".join(lines))
    if len(lines) > 1 and rtl:
        lengths = [font.length(ln, rtl) for ln in lines]
        xs = tuple(round(max(lengths) - n) for n in lengths)
    boxes = [font.bbox(ln, (xs[i] if xs else 0, i * pitch), rtl) for i, ln in enumerate(lines)]
    bbox = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    return _Block(lines, font, pitch, bbox, xs, rtl)


class _Painter:
    """Draws onto one RGB image and records the text regions."""

    def __init__(self, img: Image.Image, brand: BrandKit, overlay: OverlaySpec, layout: FrameLayout, lang: str | None = None):
        self.img, self.brand, self.overlay, self.layout = img, brand, overlay, layout
        self.draw = ImageDraw.Draw(img)
        self.w, self.h = img.size
        self.unit = min(self.w, self.h) / 1080  # sizes are designed for a 1080-px short side
        if layout.kind == "banner":  # 728×90, 320×50: text sits side by side, so it may be as tall as a 360-px frame's
            self.unit = self.h / 360
        self.margin = safe_margin_px(self.w, self.h, overlay.safe_margin)
        self.min_px = max(8, round(MIN_FONT_PX_AT_1080 * self.unit))
        self.regions: list[TextRegion] = []
        self.headline_font = str(brand.fonts.headline or BOLD)
        self.body_font = str(brand.fonts.body or BOLD)  # the CTA label: bold reads better on a button
        self.lang = lang
        self.rtl = False  # set from the headline by compose: right-to-left copy mirrors the layout
        self.brand_fonts = (brand.fonts.headline is not None, brand.fonts.body is not None)

    def face(self, which: str, size: int) -> Face:
        """The headline (``'headline'``, also the price) or body (``'body'``, the CTA) chain at ``size`` px."""
        if which == "headline":
            return _font(self.headline_font, size, self.lang, self.brand_fonts[0])
        return _font(self.body_font, size, self.lang, self.brand_fonts[1])

    def px(self, size_at_1080: float) -> int:
        return max(self.min_px, round(size_at_1080 * self.unit))

    # ------------------------------------------------------------------ drawing with contrast
    def put(self, slot: str, text: str, block: _Block, x0: int, y0: int, button: RGB | None = None) -> TextRegion:
        """Draw ``block`` with its ink box's top-left at ``(x0, y0)`` in a colour that reaches the minimum
        contrast (plate when needed; ``button`` = a known solid colour behind it). Records and returns the region."""
        ox, oy = x0 - block.bbox[0], y0 - block.bbox[1]
        box = (x0, y0, x0 + block.width, y0 + block.height)
        need = self.overlay.min_contrast
        if button is not None:
            bg, behind = button, [button]
        else:
            bg, behind = background_stats(self.img, box)
        colour, ratio = pick_text_colour(behind, self.brand, need)
        if ratio < need:
            bg = self._plate_colour(need)
            pad = round(0.28 * block.font.size)
            self.draw.rounded_rectangle([box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad], radius=pad, fill=bg)
            colour, ratio = pick_text_colour([bg], self.brand, need)
        if ratio < need:
            raise ValueError(
                f"overlay.min_contrast: {need:g} cannot be reached for {slot!r} on {rgb_to_hex(bg)} with the brand's text "
                f"colour, white or black (best {ratio:.2f}); lower overlay.min_contrast"
            )
        parts = []
        for i, ln in enumerate(block.lines):
            at = (ox + (block.xs[i] if block.xs else 0), oy + i * block.pitch)
            block.font.draw(self.img, at, ln, colour, block.rtl)
            parts += [TextPart(text=t, box=Box(x0=b[0], y0=b[1], x1=b[2], y1=b[3]))
                      for t, b in block.font.parts(ln, at, block.rtl)]
        region = TextRegion(
            slot=slot, text=text, box=Box(x0=box[0], y0=box[1], x1=box[2], y1=box[3]), fg=rgb_to_hex(colour),
            bg=rgb_to_hex(bg), contrast=round(ratio, 2), font_px=block.font.size, fonts=block.font.files_for(text),
            parts=parts if len(parts) > len(block.lines) else [],  # only when a line mixes directions
        )
        self.regions.append(region)
        return region

    def _plate_colour(self, need: float) -> RGB:
        plate = self.brand.colour("background")
        for c in ([plate.rgb] if plate else []) + [WHITE, NEAR_BLACK]:
            if pick_text_colour([c], self.brand, need)[1] >= need:
                return c
        return NEAR_BLACK

    # ------------------------------------------------------------------ slots
    def logo(self, path: Path) -> int:
        """Paste the logo at the top right of its slot (``layout.logo``), its clear space (half its height) left
        and below inside the slot; returns the slot's width (pixels) — the headline wraps short of it."""
        assert self.layout.logo is not None
        x0, y0, x1, y1 = self.layout.logo
        if self.rtl:  # right-to-left copy starts at the right: the logo's slot mirrors to the left
            hx0 = self.layout.headline[0]
            x0, x1 = hx0, hx0 + (x1 - x0)
        logo = Image.fromarray(load_rgba(path, max_side=INPUT_MAX_SIDE), "RGBA")
        bbox = logo.getchannel("A").getbbox()
        if bbox:
            logo = logo.crop(bbox)
        target_h = max(1, round((y1 - y0) / 1.5))  # the slot is the logo's height plus half of it clear
        k = min(target_h / logo.height, (x1 - x0 - 0.5 * target_h) / logo.width)
        logo = logo.resize((max(1, round(logo.width * k)), max(1, round(logo.height * k))), Image.Resampling.LANCZOS)
        lx, ly = (x0 if self.rtl else x1 - logo.width), y0
        # a logo that would vanish into the background gets a plate in the brand background colour, white or
        # near-black — the best. "Vanish": more than a quarter of its opaque pixels have a WCAG contrast below
        # 3 with the background (SC 1.4.11's 3:1 for graphical objects), e.g. a navy wordmark on a dark wall
        a = np.asarray(logo, dtype=np.uint8)
        solid = a[a[..., 3] > 200][:, :3]
        if len(solid):
            under, _ = background_stats(self.img, (lx, ly, lx + logo.width, ly + logo.height))
            # each distinct colour once (a wordmark has few; the per-pixel loop cost ~35 ms per creative)
            colours, counts = np.unique(solid[:: max(1, len(solid) // 2000)], axis=0, return_counts=True)
            low = sum(int(n) for c, n in zip(colours, counts) if contrast_ratio(tuple(c), under) < 3.0) / int(counts.sum())
            mean = tuple(float(v) for v in solid.mean(axis=0))
            if low > 0.25:
                plate_c = self.brand.colour("background")
                options = ([plate_c.rgb] if plate_c else []) + [WHITE, NEAR_BLACK]
                best = max(options, key=lambda c: contrast_ratio(mean, c))
                pad = round(10 * self.unit)
                self.draw.rounded_rectangle([lx - pad, ly, lx + logo.width, ly + logo.height + pad], radius=pad, fill=best)
                lx, ly = lx - pad // 2, ly + pad // 2
        self.img.paste(logo, (lx, ly), logo)
        self.logo_box = (lx, ly, lx + logo.width, ly + logo.height)
        if self.rtl:
            return max(x1, lx + logo.width + round(0.5 * logo.height)) - x0
        return x1 - min(x0, lx - round(0.5 * logo.height))

    def headline(self, text: str, reserve_right: int = 0) -> None:
        """Auto-fit: the largest size (from 110 px per 1080 down to the minimum, step 2) at which ``text`` breaks
        into at most 2 balanced lines (3 when 2 fit at no size) inside the headline box, short of the logo's
        slot (its bounding box never meets the logo's, nor does a plate behind it). Raises ValueError naming the
        string and the box when nothing fits."""
        x0, y0, x1, y1 = self.layout.headline
        max_w, max_h = x1 - x0 - reserve_right, y1 - y0
        if self.rtl:
            x0 += reserve_right
        for phrases, max_lines in product(phrase_passes(text), (2, 3)):  # whole phrases in 3 lines before split ones in 2
            for size in range(self.px(HEADLINE_PX), self.min_px - 1, -2):
                font = self.face("headline", size)
                lines = balanced_lines(font, text, max_w, max_lines, phrases=phrases)
                if lines is None:
                    continue
                block = _measure(self.draw, lines, font)
                if block.width <= max_w and block.height <= max_h:
                    y = y0 + (max_h - block.height) // 2 if self.layout.kind == "banner" else y0  # banners: centred
                    self.put("headline", text, block, x1 - block.width if self.rtl else x0, y)
                    return
        raise ValueError(
            f"overlay.headline: {len(text)} characters ({text[:40]!r}{'…' if len(text) > 40 else ''}) do not fit "
            f"the headline box {max_w}×{max_h} px at ({x0}, {y0}) in 3 lines at {self.min_px} px or more on a "
            f"{self.w}×{self.h} frame; shorten the headline template"
        )

    def _button(self, cta: str, max_w: int) -> tuple[_Block, int, int]:
        """The CTA label block at the largest size whose button fits ``max_w``; ``(block, button w, button h)``."""
        for size in range(self.px(CTA_PX), self.min_px - 1, -2):
            font = self.face("body", size)
            block = _measure(self.draw, [cta], font)
            cap = _measure(self.draw, ["H"], font).height
            pad_x, pad_y = round(0.9 * size), round(0.62 * size)
            bw, bh = block.width + 2 * pad_x, cap + 2 * pad_y
            bh = max(bh, block.height + round(0.5 * size))
            if bw <= max_w:
                return block, bw, bh
        raise ValueError(
            f"overlay.cta: {len(cta)} characters ({cta[:40]!r}) do not fit a {max_w}-px wide button at {self.min_px} px "
            "or more; shorten the call to action"
        )

    def _button_colour(self, rect: tuple[int, int, int, int]) -> RGB:
        """Accent, else primary, else secondary / text / near-black / white: the first that stands out from the
        background under the button (WCAG contrast ≥ 1.8) and can carry text at ``min_contrast``."""
        under, _ = background_stats(self.img, rect)
        need = self.overlay.min_contrast
        options: list[RGB] = []
        for role in ("accent", "primary", "secondary", "text"):
            c = self.brand.colour(role)  # type: ignore[arg-type]
            if c is not None and c.rgb not in options:
                options.append(c.rgb)
        options += [NEAR_BLACK, WHITE]
        for c in options:
            if contrast_ratio(c, under) >= 1.8 and pick_text_colour([c], self.brand, need)[1] >= need:
                return c
        return max(options, key=lambda c: contrast_ratio(c, under))

    def bottom(self, price: str, cta: str) -> None:
        x0, y0, x1, y1 = self.layout.bottom
        band_w, band_h = x1 - x0, y1 - y0
        gap = round(32 * self.unit)
        button = self._button(cta, band_w) if cta else None
        bw, bh = (button[1], button[2]) if button else (0, 0)
        price_block = None
        stacked = False
        if price:
            room = band_w - (bw + gap if button else 0)
            for size in range(self.px(PRICE_PX), self.min_px - 1, -2):
                blk = _measure(self.draw, [price], self.face("headline", size))
                if blk.width <= room and blk.height <= band_h:
                    price_block = blk
                    break
            if price_block is None:  # stack: the price gets the full width above the button
                stacked = True
                for size in range(self.px(PRICE_PX), self.min_px - 1, -2):
                    blk = _measure(self.draw, [price], self.face("headline", size))
                    if blk.width <= band_w and blk.height + gap + bh <= band_h:
                        price_block = blk
                        break
            if price_block is None:
                raise ValueError(
                    f"overlay.price: {len(price)} characters ({price[:40]!r}) do not fit the bottom band "
                    f"({band_w}×{band_h} px) at {self.min_px} px or more; shorten the price template"
                )
        if stacked:
            assert price_block is not None
            total = price_block.height + gap + bh
            top = y0 + (band_h - total) // 2
            self.put("price", price, price_block, x0, top)
            self._draw_button(cta, button, x0, top + price_block.height + gap)  # type: ignore[arg-type]
            return
        mid = y0 + band_h // 2
        if price_block is not None:  # right-to-left: price on the right, the button on the left
            px = x1 - price_block.width if self.rtl else x0
            self.put("price", price, price_block, px, mid - price_block.height // 2)
        if button is not None:
            self._draw_button(cta, button, x0 if self.rtl else x1 - bw, mid - bh // 2)

    def legal(self, text: str) -> None:
        """The legal line in ``layout.legal``: the largest size from 30 px per 1080 down to the minimum at which it
        breaks into at most 2 balanced lines, vertically centred, aligned with the copy (right for right-to-left).
        Raises ValueError naming the string and the box when it does not fit."""
        assert self.layout.legal is not None
        x0, y0, x1, y1 = self.layout.legal
        for phrases, size in product(phrase_passes(text), range(self.px(LEGAL_PX), self.min_px - 1, -2)):
            font = self.face("body", size)
            lines = balanced_lines(font, text, x1 - x0, 2, phrases=phrases)
            if lines is None:
                continue
            block = _measure(self.draw, lines, font)
            if block.width <= x1 - x0 and block.height <= y1 - y0:
                self.put("legal", text, block, x1 - block.width if self.rtl else x0, y0 + (y1 - y0 - block.height) // 2)
                return
        raise ValueError(
            f"overlay.legal: {len(text)} characters ({text[:40]!r}{'…' if len(text) > 40 else ''}) do not fit the legal "
            f"strip {x1 - x0}×{y1 - y0} px at ({x0}, {y0}) in 2 lines at {self.min_px} px or more on a {self.w}×{self.h} "
            "frame; shorten the legal line"
        )

    def _draw_button(self, cta: str, button: tuple[_Block, int, int], bx: int, by: int) -> None:
        block, bw, bh = button
        rect = (bx, by, bx + bw, by + bh)
        colour = self._button_colour(rect)
        self.draw.rounded_rectangle([rect[0], rect[1], rect[2] - 1, rect[3] - 1], radius=bh // 2, fill=colour)
        # centre the ink box in the button
        tx = bx + (bw - block.width) // 2
        ty = by + (bh - block.height) // 2
        self.put("cta", cta, block, tx, ty, button=colour)


def text_language(job: Job) -> str | None:
    """The language the overlay texts are shaped and hyphenated for: the job's locale (``'de-DE'`` → ``'de'``)
    when it has one, else guessed from the headline's script (Arabic → ``ar``, Hebrew → ``he``, kana → ``ja``,
    Hangul → ``ko``, other CJK → ``zh``, Devanagari → ``hi``); ``None`` for Latin text without a locale (no hyphenation)."""
    locale = getattr(job, "locale", None)
    if locale:
        return locale.split("-")[0].lower()
    text = " ".join(job.overlay.values())
    if any(0x3040 <= ord(c) <= 0x30FF for c in text):
        return "ja"
    if any(0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF for c in text):  # Hangul
        return "ko"
    scripts = {script_of(c) for c in text}
    for script, lang in (("arabic", "ar"), ("hebrew", "he"), ("cjk", "zh"), ("devanagari", "hi"), ("thai", "th")):
        if script in scripts:
            return lang
    return None


def compose(
    generated: GeneratedImage, job: Job, brand: BrandKit, overlay: OverlaySpec, out_path: Path, byte_reserve: int = 0
) -> Creative:
    """Fit the generated image to the exact format size and draw the overlay texts and logo.

    Args:
        generated: the generator's image at its native size (any mode; transparency is flattened onto white).
        job: ``job.format`` gives the exact output ``width × height`` (pixels) and ``file_type``;
            ``job.overlay`` maps slot → exact text (``headline``, ``price``, ``cta``, ``legal``; empty or absent = not drawn).
        brand: colours (``text`` for text, ``accent``/``primary`` for the CTA button, ``background`` for plates),
            fonts (``headline`` for headline and price, ``body`` for the CTA; default DejaVu Sans Bold), logo.
        overlay: ``safe_margin`` (fraction of the short side), ``min_contrast`` (WCAG 2.x ratio), ``logo``.
        out_path: where the encoded creative is written (atomically).
        byte_reserve: bytes kept free under ``job.format.max_bytes`` for provenance marking added at publication
            (JPEG / WebP quality is searched so that the marked file still fits; see ``imageio.encode_within``).

    When the generated size differs from the format, the image is scaled to *cover* the format and
    centre-cropped (Lanczos), never stretched.

    Returns:
        :class:`Creative` (``width × height`` = the format, ``bytes`` = file size) with one
        :class:`TextRegion` per drawn text, boxes in final-image pixels, in drawing order, and ``placed``: the
        generator's pasted inputs mapped to the format plus the logo (``None`` when the generator recorded none).

    Raises:
        ValueError: a text cannot fit at the minimum size (names the slot and the text length), the minimum
            contrast is unreachable, ``overlay.logo`` is true but the brand kit has no logo, or a font cannot be loaded.
        MissingGlyphsError: a text has characters its font cannot draw (checked before drawing; names the slot,
            the product, the characters and the font).
        ImageError: the generated image or the logo cannot be read.
    """
    fmt = job.format
    if overlay.logo and brand.logo is None:
        raise ValueError("overlay.logo is true but the brand kit has no logo: add `logo:` to the brand kit or set overlay.logo: false")
    img = Image.fromarray(load_rgb_of(generated.path, generated.sha256), "RGB")
    placed = None if generated.placed is None else [_fitted(p, img.size, (fmt.width, fmt.height)) for p in generated.placed]
    if img.size != (fmt.width, fmt.height):
        img = ImageOps.fit(img, (fmt.width, fmt.height), Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    legal = job.overlay.get("legal", "")
    layout = frame_layout(fmt.width, fmt.height, overlay.safe_margin, fmt.text_free_top, fmt.text_free_bottom,
                          rows=bottom_rows(job.overlay, fmt.width, fmt.height, overlay.safe_margin), legal=bool(legal))
    if legal and layout.legal is None:
        raise ValueError(f"overlay.legal: a {fmt.width}×{fmt.height} banner has no room for a legal line; "
                         "leave banners out of campaigns with a legal line")
    painter = _Painter(img, brand, overlay, layout, text_language(job))
    painter.rtl = Face.rtl(job.overlay.get("headline", ""))
    for slot, which in (("headline", "headline"), ("price", "headline"), ("cta", "body"), ("legal", "body")):
        if job.overlay.get(slot):  # before drawing: a character no font of the chain has would be a tofu box
            require_glyphs(f"overlay {slot} of product {job.product_id!r}", job.overlay[slot], painter.face(which, 12).chain.files())
    reserve = painter.logo(brand.logo) if overlay.logo and brand.logo is not None and layout.logo is not None else 0
    if placed is not None and brand.logo is not None and getattr(painter, "logo_box", None) is not None:
        x0, y0, x1, y1 = painter.logo_box  # the logo's letters are a source too (read once per run, like a packshot)
        placed.append(PlacedImage(path=brand.logo, sha256=sha256_file(brand.logo), role="logo", box=Box(x0=x0, y0=y0, x1=x1, y1=y1)))
    if job.overlay.get("headline"):
        painter.headline(job.overlay["headline"], reserve_right=reserve)
    price, cta = job.overlay.get("price", ""), job.overlay.get("cta", "")
    if price or cta:
        painter.bottom(price, cta)
    if legal:
        painter.legal(legal)
    data, _ = encode_within(img, fmt.file_type, fmt.max_bytes, byte_reserve)
    write_atomic(Path(out_path), data)
    sha = hashlib.sha256(data).hexdigest()
    hand_on(out_path, sha, img, fmt.file_type)  # QA reads these pixels (PNG only) without decoding the file
    write_thumbnail(out_path, sha, img, data, fmt.file_type)  # the report's, made while the pixels are in memory
    return Creative(
        path=Path(out_path), sha256=sha, width=fmt.width, height=fmt.height,
        file_type=fmt.file_type, bytes=len(data), regions=painter.regions, placed=placed,
    )


def _fitted(p: PlacedImage, size: tuple[int, int], target: tuple[int, int]) -> PlacedImage:
    """``p`` with its box mapped from the generated image (``size``, pixels) to the creative (``target``) as
    ``ImageOps.fit`` maps it: scaled to cover, centre-cropped (the box may then run past the frame)."""
    if size == target:
        return p
    k = max(target[0] / size[0], target[1] / size[1])
    dx, dy = (size[0] * k - target[0]) / 2, (size[1] * k - target[1]) / 2
    b = p.box
    box = Box(x0=int(np.floor(b.x0 * k - dx)), y0=int(np.floor(b.y0 * k - dy)), x1=int(np.ceil(b.x1 * k - dx)), y1=int(np.ceil(b.y1 * k - dy)))
    return p.model_copy(update={"box": box})
