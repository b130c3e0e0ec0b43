"""Font coverage: which characters of a string no font of a chain can draw (they would render as tofu boxes).

Compose calls :func:`require_glyphs` before drawing (a job error naming the string and the missing characters,
instead of a published creative with ``□`` in it); text QA calls :func:`missing_glyphs` on the text regions compose
recorded with their font. Coverage is read from each font's Unicode ``cmap`` table with fontTools (the table a
shaping engine consults; a character absent from every cmap of the chain is drawn as ``.notdef``). Characters that
draw nothing by design — whitespace, format and control characters (ZWJ, variation selectors, bidi marks) — never
count as missing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from brandflow.errors import BrandflowError, MissingDependencyError


class MissingGlyphsError(BrandflowError, ValueError):
    """A text contains characters none of its fonts can draw. ``text``, ``missing`` (the characters, in order)
    and ``fonts`` (the font files tried) are attributes; the message names all three and the fix."""

    def __init__(self, what: str, text: str, missing: list[str], fonts: list[str]):
        self.text, self.missing, self.fonts = text, missing, fonts
        names = ", ".join(Path(f).name for f in fonts)
        super().__init__(
            f"{what} {text!r} has characters no font can draw (they would show as tofu boxes): "
            f"{describe_chars(missing)}; fonts tried: {names}. Remove them from the text or add a font that covers "
            f"them to brand.fonts"
        )


@lru_cache(maxsize=64)
def font_codepoints(path: str) -> frozenset[int]:
    """The Unicode code points a font file maps to glyphs (union of its cmap subtables; first font of a
    collection). Cached per path.

    Raises:
        MissingDependencyError: fontTools is not installed.
        ValueError: the file is not a font fontTools can read (names the file).
    """
    try:
        from fontTools.ttLib import TTFont
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("font coverage needs fontTools: pip install fonttools") from e
    try:
        font = TTFont(path, fontNumber=0, lazy=True)
        cmap = font.getBestCmap() or {}
        font.close()
    except Exception as e:  # noqa: BLE001 - fontTools raises many types for a bad file
        raise ValueError(f"font {path}: cannot read its character map ({type(e).__name__}: {e})") from None
    return frozenset(cmap)


def _draws_nothing(c: str) -> bool:
    return c.isspace() or unicodedata.category(c) in ("Cc", "Cf") or 0xFE00 <= ord(c) <= 0xFE0F or 0xE0100 <= ord(c) <= 0xE01EF


def describe_chars(chars: list[str] | str) -> str:
    """``'🔥' (U+1F525 FIRE), 'П' (U+041F CYRILLIC CAPITAL LETTER PE)`` (at most four, then "and N more"): how
    reasons a reviewer reads name characters."""
    chars = list(chars)
    shown = ", ".join(f"{c!r} (U+{ord(c):04X} {unicodedata.name(c, 'unnamed')})" for c in chars[:4])
    return shown + (f" and {len(chars) - 4} more" if len(chars) > 4 else "")


def missing_glyphs(text: str, fonts: Iterable[str | Path]) -> list[str]:
    """The characters of ``text`` (NFC) that none of ``fonts`` (a fallback chain, tried in order) can draw, in
    order of first appearance, without repeats. Empty list = fully covered.

    Raises:
        ValueError: a font file cannot be read; or ``fonts`` is empty.
    """
    paths = [str(f) for f in fonts]
    if not paths:
        raise ValueError("missing_glyphs needs at least one font file")
    covered = [font_codepoints(p) for p in paths]
    out: list[str] = []
    for c in unicodedata.normalize("NFC", text):
        if c in out or _draws_nothing(c):
            continue
        if not any(ord(c) in cps for cps in covered):
            out.append(c)
    return out


def require_glyphs(what: str, text: str, fonts: Iterable[str | Path]) -> None:
    """Raise :class:`MissingGlyphsError` when ``text`` has characters none of ``fonts`` draws; ``what`` names the
    text in the message (``"overlay headline of product 'tee-1'"``)."""
    paths = [str(f) for f in fonts]
    missing = missing_glyphs(text, paths)
    if missing:
        raise MissingGlyphsError(what, text, missing, paths)


__all__ = ["MissingGlyphsError", "describe_chars", "font_codepoints", "missing_glyphs", "require_glyphs"]
