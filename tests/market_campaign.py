"""A small campaign in three markets, shared by the markets tests (planning in tests/feed, a run in tests/flows)."""

from __future__ import annotations

from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "saleor"


def write_markets(folder: Path, **overrides) -> Path:
    """A three-market campaign (en-US and de-DE on the campaign feed, ja-JP on its own) of two products, one 64-px
    square format and one variant; ``overrides`` replace top-level keys."""
    images = EXAMPLE / "images"
    (folder / "products.csv").write_text(
        "id,title,price,image_link\n"
        f"hoodie,Blue Hoodie,12.50 EUR,{images / 'saleor-blue-hoodie.png'}\n"
        f"mug,Mighty Mug,8.00 EUR,{images / 'saleor-mighty-mug.png'}\n", encoding="utf-8")
    (folder / "products.ja-JP.csv").write_text(  # no mug: that market skips it
        f"id,title,price,image_link\nhoodie,青いパーカー,1250 JPY,{images / 'saleor-blue-hoodie.png'}\n", encoding="utf-8")
    spec = {
        "name": "markets", "brand_kit": str(EXAMPLE / "brand.yaml"), "feed": {"path": "products.csv", "images_dir": str(images)},
        "locales": ["en-US", {"code": "de-DE", "strings": {"cta": "Jetzt kaufen"}},
                    {"code": "ja-JP", "feed": {"path": "products.ja-JP.csv", "images_dir": str(images)}, "strings": {"cta": "今すぐ購入"}}],
        "strings": {"cta": "Shop now"},
        "overlay": {"cta": "{{ strings.cta }}"},
        "formats": [{"name": "sq", "width": 64, "height": 64}],
        "publish": {"key_template": "{campaign}/{locale}/{product_id}/{format}/{variant}.{ext}"},
        **overrides,
    }
    path = folder / "campaign.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
