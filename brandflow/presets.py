"""Named channel formats: ``formats: [meta-feed-square, meta-story, google-300x250, …]`` in a campaign.

Each preset is the size, file type, byte limit and text-free zones a channel publishes (sources in
``docs/formats.md``). A campaign may name a preset alone or override its fields
(``{preset: meta-story, name: story, file_type: jpeg}``).
"""

from __future__ import annotations

from typing import Any

#: Google Display image ads: at most 150 KB per file (Google Ads Help, "Image ads: requirements").
GOOGLE_MAX_BYTES = 150 * 1024

PRESETS: dict[str, dict[str, Any]] = {
    # Meta (Facebook / Instagram) — Meta Ads Guide, image specs: feed 1:1 and 4:5 at 1080 px wide,
    # Stories/Reels 9:16 1080×1920 with ~14 % of the top and ~20 % (Stories) / ~35 % (Reels) of the bottom
    # kept free of text and logos, link ads 1.91:1 at 1200×628.
    "meta-feed-square": {"width": 1080, "height": 1080},
    "meta-feed-portrait": {"width": 1080, "height": 1350},
    "meta-story": {"width": 1080, "height": 1920, "text_free_top": 0.14, "text_free_bottom": 0.20},
    "meta-reels": {"width": 1080, "height": 1920, "text_free_top": 0.14, "text_free_bottom": 0.35},
    "meta-link": {"width": 1200, "height": 628},
    # Google Display Network uploaded image ads — common sizes, JPEG, ≤ 150 KB each.
    **{
        f"google-{w}x{h}": {"width": w, "height": h, "file_type": "jpeg", "max_bytes": GOOGLE_MAX_BYTES}
        for w, h in ((300, 250), (336, 280), (728, 90), (300, 600), (320, 50), (1200, 628), (1200, 1200))
    },
}


def expand_preset(value: Any) -> Any:
    """A format entry as the campaign gives it → the dict :class:`~brandflow.spec.FormatSpec` validates.

    ``"meta-story"`` → the preset's fields with ``name`` = the preset name (dots/underscores kept);
    ``{"preset": "meta-story", **overrides}`` → the preset's fields updated by the overrides; anything else
    is returned unchanged.

    Raises:
        ValueError: an unknown preset name (lists the known ones).
    """
    if isinstance(value, str):
        value = {"preset": value}
    if not isinstance(value, dict) or "preset" not in value:
        return value
    value = dict(value)
    name = value.pop("preset")
    if name not in PRESETS:
        raise ValueError(f"unknown format preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    out = {"name": name, **PRESETS[name]}
    out.update(value)
    return out
