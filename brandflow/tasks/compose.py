"""Compose: deliver the exact format size and draw the exact overlay text (headline, price, CTA, logo).

Text is drawn by us, never left to a model, so the words on a creative are exactly the product's.
Every text keeps WCAG 2.x contrast with what is behind it (a plate is drawn when no text colour
reaches ``overlay.min_contrast``), stays inside the safe margin, and is recorded as a
:class:`~brandflow.records.TextRegion` for the OCR check.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from brandflow.imageio import encode, load_rgba, open_image, write_atomic
from brandflow.records import Box, Creative, GeneratedImage, Job, TextRegion, sha256_file
from brandflow.spec import BrandKit, OverlaySpec
from brandflow.tasks.layout import BOTTOM_BAND, TOP_BAND, contrast_ratio, hex_to_rgb, rgb_to_hex

FONTS = Path(__file__).resolve().parents[1] / "assets" / "fonts"
BOLD, REGULAR = FONTS / "DejaVuSans-Bold.ttf", FONTS / "DejaVuSans.ttf"
MIN_FONT_PX_AT_1080 = 28  # smallest headline we draw on a 1080-px-wide frame (legibility on phones)


@lru_cache(maxsize=128)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, max_w: int, max_lines: int) -> list[str] | None:
    """Greedy word wrap into at most ``max_lines`` lines no wider than ``max_w`` px, or None."""
    lines: list[str] = []
    for word in text.split():
        trial = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(trial, font=font) <= max_w:
            lines[-1] = trial
        elif draw.textlength(word, font=font) <= max_w:
            lines.append(word)
        else:
            return None
    return lines if len(lines) <= max_lines else None


RGB = tuple[int, int, int]


def background_stats(img: Image.Image, box: tuple[int, int, int, int]) -> tuple[RGB, list[RGB]]:
    """What is behind a text box: its most common colour, and the darkest and lightest colours
    (5th / 95th luminance percentile) that the text must stand out against. sRGB uint8 tuples."""
    a = np.asarray(img.crop(box), dtype=np.uint8).reshape(-1, 3)
    if not len(a):
        return (255, 255, 255), [(255, 255, 255)]
    colours, counts = np.unique(a, axis=0, return_counts=True)
    mode = tuple(int(c) for c in colours[counts.argmax()])
    lum = a.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    order = np.argsort(lum, kind="stable")
    extremes = [tuple(int(c) for c in a[order[int(q * (len(a) - 1))]]) for q in (0.05, 0.95)]
    return mode, extremes  # type: ignore[return-value]


def pick_text_colour(backgrounds: list[RGB], brand: BrandKit, min_contrast: float) -> tuple[RGB, float]:
    """The text colour whose *worst* WCAG contrast over ``backgrounds`` is best: the brand 'text'
    colour when it reaches ``min_contrast``, else white or near-black. Returns ``(rgb, ratio)``."""
    def worst(c: RGB) -> float:
        return min(contrast_ratio(c, bg) for bg in backgrounds)

    text = brand.colour("text")
    if text is not None and worst(text.rgb) >= min_contrast:
        return text.rgb, worst(text.rgb)
    best = max([(255, 255, 255), (17, 17, 17)], key=worst)
    return best, worst(best)


class _Painter:
    def __init__(self, img: Image.Image, brand: BrandKit, overlay: OverlaySpec):
        self.img, self.brand, self.overlay = img, brand, overlay
        self.draw = ImageDraw.Draw(img)
        self.w, self.h = img.size
        self.unit = self.w / 1080  # sizes are designed on a 1080-wide frame
        self.margin = round(overlay.safe_margin * min(self.w, self.h))
        self.regions: list[TextRegion] = []
        self.bold = str(brand.fonts.headline or BOLD)
        self.regular = str(brand.fonts.body or REGULAR)

    def text_block(self, slot: str, text: str, lines: list[str], font: ImageFont.FreeTypeFont, x: int, y: int,
                   fill: RGB | None = None) -> int:
        """Draw ``lines`` at ``(x, y)`` in a colour that reaches min contrast against everything behind
        them (a plate is drawn when none does); ``fill`` is a known solid background (the CTA button).
        Records the tight text box as a TextRegion; returns its bottom y, pixels."""
        line_h = round(font.size * 1.18)
        bbox = [self.draw.textbbox((x, y + i * line_h), ln, font=font) for i, ln in enumerate(lines)]
        box = (min(b[0] for b in bbox), min(b[1] for b in bbox), max(b[2] for b in bbox), max(b[3] for b in bbox))
        if fill is not None:
            bg, extremes = fill, [fill]
        else:
            bg, extremes = background_stats(self.img, box)
        colour, ratio = pick_text_colour(extremes, self.brand, self.overlay.min_contrast)
        if fill is None and ratio < self.overlay.min_contrast:
            # busy or mid-tone background: a plate in the brand background colour (or white) under the text
            plate = self.brand.colour("background")
            plate_rgb = plate.rgb if plate else (255, 255, 255)
            pad = round(12 * self.unit)
            self.draw.rounded_rectangle([box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad], radius=pad, fill=plate_rgb)
            bg = plate_rgb
            colour, ratio = pick_text_colour([bg], self.brand, self.overlay.min_contrast)
        for i, ln in enumerate(lines):
            self.draw.text((x, y + i * line_h), ln, font=font, fill=colour)
        self.regions.append(
            TextRegion(slot=slot, text=text, box=Box(x0=box[0], y0=box[1], x1=box[2], y1=box[3]),
                       fg=rgb_to_hex(colour), bg=rgb_to_hex(bg), contrast=round(ratio, 2), font_px=font.size)
        )
        return box[3]

    def headline(self, text: str) -> None:
        max_w = self.w - 2 * self.margin
        band_h = round(self.h * TOP_BAND) - self.margin
        size = round(76 * self.unit)
        smallest = round(MIN_FONT_PX_AT_1080 * self.unit)
        while size >= smallest:
            font = _font(self.bold, size)
            lines = _wrap(self.draw, text, font, max_w, 2 if size > smallest else 3)
            if lines and len(lines) * size * 1.18 <= max(band_h, size * 1.2):
                break
            size -= 2
        else:
            raise ValueError(
                f"overlay.headline: {len(text)} characters do not fit the top band at {smallest} px or more "
                f"on a {self.w}×{self.h} frame; shorten the headline template"
            )
        self.text_block("headline", text, lines, font, self.margin, self.margin)

    def bottom(self, price: str, cta: str) -> None:
        band_top = round(self.h * (1 - BOTTOM_BAND))
        y_mid = band_top + (self.h - self.margin - band_top) // 2
        if price:
            font = _font(self.bold, round(64 * self.unit))
            y = y_mid - round(font.size * 0.6)
            self.text_block("price", price, [price], font, self.margin, y)
        if cta:
            font = _font(self.bold, round(40 * self.unit))
            pad_x, pad_y = round(34 * self.unit), round(20 * self.unit)
            tw = self.draw.textlength(cta, font=font)
            bw, bh = round(tw + 2 * pad_x), round(font.size * 1.2 + 2 * pad_y)
            x1 = self.w - self.margin
            x0 = x1 - bw
            y0 = y_mid - bh // 2
            button = self.brand.colour("accent") or self.brand.colour("primary")
            button_rgb = button.rgb if button else (0, 0, 0)
            under, _ = background_stats(self.img, (x0, y0, x1, y0 + bh))
            if contrast_ratio(button_rgb, under) < 1.5:  # button would vanish into the background
                text_c = self.brand.colour("text")
                button_rgb = text_c.rgb if text_c else (17, 17, 17)
            self.draw.rounded_rectangle([x0, y0, x1, y0 + bh], radius=bh // 2, fill=button_rgb)
            ty = y0 + pad_y - self.draw.textbbox((0, 0), cta, font=font)[1] + round(font.size * 0.1)
            self.text_block("cta", cta, [cta], font, x0 + pad_x, ty, fill=button_rgb)

    def logo(self, path: Path) -> None:
        logo = Image.fromarray(load_rgba(path), "RGBA")
        target_h = round(72 * self.unit)
        logo = logo.resize((max(1, round(logo.width * target_h / logo.height)), target_h), Image.LANCZOS)
        self.img.paste(logo, (self.w - self.margin - logo.width, self.margin), logo)


def compose(generated: GeneratedImage, job: Job, brand: BrandKit, overlay: OverlaySpec, out_path: Path) -> Creative:
    """Resize the generated image to the exact format size (cover, centred) and draw the overlay.

    Args:
        generated: the generator's RGB image at its native size.
        job: supplies ``format`` (exact ``width × height`` pixels, file type) and ``overlay`` texts.
        brand: colours for text, plates and the CTA button; fonts; logo.
        overlay: safe margin (fraction of the short side) and minimum WCAG contrast.
        out_path: where the encoded creative is written (atomically).

    Returns:
        The :class:`Creative` with one :class:`TextRegion` per drawn text, boxes in final pixels.

    Raises:
        ValueError: the headline cannot fit at a legible size (names the slot and the length).
        ImageError: the generated image or the logo cannot be read.
    """
    fmt = job.format
    img = open_image(generated.path).convert("RGB")
    if img.size != (fmt.width, fmt.height):
        img = ImageOps.fit(img, (fmt.width, fmt.height), Image.LANCZOS, centering=(0.5, 0.5))
    painter = _Painter(img, brand, overlay)
    if job.overlay.get("headline"):
        painter.headline(job.overlay["headline"])
    painter.bottom(job.overlay.get("price", ""), job.overlay.get("cta", ""))
    if overlay.logo and brand.logo is not None:
        painter.logo(brand.logo)
    data = encode(img, fmt.file_type)
    write_atomic(out_path, data)
    return Creative(path=out_path, sha256=sha256_file(out_path), width=fmt.width, height=fmt.height,
                    file_type=fmt.file_type, bytes=len(data), regions=painter.regions)
