"""Font coverage: which characters of a string no font of a chain can draw (they would render as tofu boxes).

Compose calls :func:`require_glyphs` before drawing (a job error naming the string and the missing characters,
instead of a published creative with ``□`` in it); text QA calls :func:`missing_glyphs` on the text regions compose
recorded with their font. Coverage is read from each font's Unicode ``cmap`` table with fontTools (the table a
shaping engine consults; a character absent from every cmap of the chain is drawn as ``.notdef``). Characters that
draw nothing by design — whitespace, format and control characters (ZWJ, variation selectors, bidi marks) — never
count as missing.

Emoji: a grapheme cluster (UAX #29 extended grapheme cluster, ``\\X`` in the ``regex`` module) is an emoji when it is
an emoji presentation sequence of UTS #51 (ED-9a): a character with ``Emoji_Presentation`` not followed by the text
selector U+FE0E, any ``Emoji`` character followed by U+FE0F, or a keycap ``[0-9#*] U+FE0F? U+20E3`` — ZWJ sequences,
skin-tone modifiers and flags stay one cluster. Compose draws them with a colour emoji font
(:func:`is_emoji`); text QA cannot read them by OCR and says so (:func:`emoji_clusters`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import regex

from brandflow.errors import BrandflowError, MissingDependencyError

_GRAPHEME = regex.compile(r"\X")
_EMOJI = regex.compile(r"\p{Emoji_Presentation}(?!\uFE0E)|\p{Emoji}\uFE0F|[0-9#*]\uFE0F?\u20E3")
#: Debian's colour emoji font package (Noto Color Emoji, a CBDT bitmap font), named in error messages.
EMOJI_PACKAGE = "fonts-noto-color-emoji"


class MissingGlyphsError(BrandflowError, ValueError):
    """A text contains characters none of its fonts can draw. ``text``, ``missing`` (the characters, in order)
    and ``fonts`` (the font files tried) are attributes; the message names all three and the fix."""

    def __init__(self, what: str, text: str, missing: list[str], fonts: list[str]):
        self.text, self.missing, self.fonts = text, missing, fonts
        names = ", ".join(Path(f).name for f in fonts)
        super().__init__(
            f"{what} {text!r} has characters no font can draw (they would show as tofu boxes): "
            f"{describe_chars(missing)}; fonts tried: {names}. Remove them from the text or add a font that covers "
            f"them to brand.fonts" + (f" (emoji: apt-get install -y {EMOJI_PACKAGE})"
                                       if any(is_emoji(c) for c in missing) else "")
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


@lru_cache(maxsize=64)
def bitmap_strike(path: str) -> int | None:
    """The pixel size (ppem) of a colour bitmap font's largest strike — a font with ``CBDT``/``CBLC`` tables and no
    outlines, such as Noto Color Emoji (109) — or ``None`` for an outline font. FreeType can load such a font only
    at a strike's size, so it is drawn there and scaled (:class:`brandflow.compose.typeset.Face`).

    Raises:
        ValueError: the file is not a font fontTools can read.
    """
    try:
        from fontTools.ttLib import TTFont

        font = TTFont(path, fontNumber=0, lazy=True)
        try:
            if "CBLC" not in font or "glyf" in font or "CFF " in font:
                return None
            return max(s.bitmapSizeTable.ppemY for s in font["CBLC"].strikes)
        finally:
            font.close()
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise MissingDependencyError("font coverage needs fontTools: pip install fonttools") from e
    except Exception as e:  # noqa: BLE001 - fontTools raises many types for a bad file
        raise ValueError(f"font {path}: cannot read its tables ({type(e).__name__}: {e})") from None


def graphemes(text: str) -> list[str]:
    """``text`` cut into extended grapheme clusters (UAX #29): what a reader sees as one character."""
    return _GRAPHEME.findall(text)


def is_emoji(cluster: str) -> bool:
    """Whether a grapheme cluster (or a string starting with one) is an emoji presentation sequence (UTS #51 ED-9a):
    ``'🔥'``, ``'❤️'``, ``'👩\u200d💻'``, ``'🇸🇦'``, ``'1️⃣'`` are; ``'❤'``, ``'©'``, ``'1'`` (text presentation) are not."""
    return bool(_EMOJI.match(cluster))


def emoji_clusters(text: str) -> list[str]:
    """The emoji of ``text`` (grapheme clusters for which :func:`is_emoji` holds), in order, without repeats."""
    return list(dict.fromkeys(c for c in graphemes(text) if is_emoji(c)))


def draws_nothing(c: str) -> bool:
    """Whether a character draws no ink by design (whitespace, control/format characters such as ZWJ and bidi marks,
    variation selectors): such characters are never missing glyphs."""
    return _draws_nothing(c)


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


__all__ = ["EMOJI_PACKAGE", "MissingGlyphsError", "bitmap_strike", "describe_chars", "draws_nothing", "emoji_clusters", "font_codepoints",
           "graphemes", "is_emoji", "missing_glyphs", "require_glyphs"]
