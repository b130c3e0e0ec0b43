"""Regenerate docs/contact-sheet.png: the example's creatives (Meta feed square + story, variant 0) beside the
markets example's de-DE, ar-SA (right-to-left) and ja-JP (CJK) creatives — one campaign file with ``locales:``
(examples/saleor/markets/campaign.yaml) — rendered by the real compositor + compose.

    python bench/contact_sheet.py             # every product of the example (≈ 2 min on 2 cores)
    python bench/contact_sheet.py --limit 8   # fewer products

The PNG is palette-quantised (256 colours, Floyd–Steinberg) to stay under 500 KB for the README.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from design import render_campaign  # noqa: E402

THUMB_H = 240  # story thumbnails; squares are as wide as a story thumbnail is tall ÷ 16 × 9 … kept at the same height
GAP = 6


def strip(title: str, rows, per_row: int) -> Image.Image:
    """One titled block of thumbnails (square, story pairs per product), ``per_row`` thumbnails a row."""
    thumbs = []
    for job, scene, creative, rgb in rows:
        im = Image.fromarray(rgb)
        im.thumbnail((10_000, THUMB_H), Image.Resampling.LANCZOS)
        thumbs.append(im)
    font = ImageFont.truetype(str(ROOT / "brandflow" / "assets" / "fonts" / "DejaVuSans-Bold.ttf"), 22)
    lines = [thumbs[i:i + per_row] for i in range(0, len(thumbs), per_row)]
    width = max(sum(t.width + GAP for t in ln) for ln in lines)
    height = 36 + len(lines) * (THUMB_H + GAP)
    block = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(block).text((4, 6), title, font=font, fill=(30, 30, 40))
    y = 36
    for ln in lines:
        x = 0
        for t in ln:
            block.paste(t, (x, y))
            x += t.width + GAP
        y += THUMB_H + GAP
    return block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=12)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "contact-sheet.png")
    args = ap.parse_args()
    blocks = []
    _, rows = render_campaign(ROOT / "examples" / "saleor" / "campaign.yaml", 1, args.limit)
    blocks.append(strip("saleor-autumn (en-US): Meta feed square + story, variant 0", rows, 12))
    spec, rows = render_campaign(ROOT / "examples" / "saleor" / "markets" / "campaign.yaml", 1, 6)
    for market in spec.locales:
        blocks.append(strip(f"{spec.slug}, {market.code}", [r for r in rows if r[0].locale == market.code], 12))
    width = max(b.width for b in blocks)
    sheet = Image.new("RGB", (width, sum(b.height + GAP for b in blocks)), "white")
    y = 0
    for b in blocks:
        sheet.paste(b, (0, y))
        y += b.height + GAP
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(args.out, optimize=True)
    print(f"{args.out}: {sheet.width}×{sheet.height}, {args.out.stat().st_size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
