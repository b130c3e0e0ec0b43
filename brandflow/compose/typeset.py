"""Typesetting in any script: font fallback chains, HarfBuzz shaping (Pillow's raqm layout), bidi, auto-fit.

* **Fallback** — each character is drawn with the first font of its chain that has a glyph for it
  (:func:`brandflow.glyphs.font_codepoints`, the font's Unicode cmap): the brand font when the kit gives one,
  then the Noto font for the character's script (Debian ``fonts-noto-core`` / ``fonts-noto-cjk``, found under
  ``/usr/share/fonts``), then the bundled DejaVu Sans Bold, then every other Noto font found. A character no
  font covers is a job error before anything is drawn (:func:`brandflow.glyphs.require_glyphs`), never tofu.
* **Shaping** — every run is laid out by Pillow's raqm engine (HarfBuzz + FriBiDi; ``PIL.features.check('raqm')``),
  which joins Arabic letters, reorders Devanagari matras and applies the font's ligatures. Without raqm
  (a Pillow built without it) Pillow's basic layout is used and Arabic/Indic text is wrong: we raise instead.
* **Bidi** — a line drawn in several fonts (an Arabic title with a Latin brand name, a price in digits) is cut into
  runs of one font and one embedding level and drawn in the Unicode bidi algorithm's visual order (UAX #9, levels
  and L1–L2 reordering from FriBiDi, :mod:`brandflow.compose.bidi`); each run is shaped by raqm with its direction
  given (``rtl`` for odd levels). Lines are broken on the logical text first; each line is then reordered with the
  **paragraph's** direction (a second line starting with a Latin word stays right-to-left). All runs share one
  baseline (the primary font's ascender below the line's top).
* **Emoji** — an emoji grapheme cluster (UTS #51 presentation sequence, ZWJ sequences and flags included:
  :func:`brandflow.glyphs.is_emoji`) is drawn with Noto Color Emoji (Debian ``fonts-noto-color-emoji``), a CBDT
  colour bitmap font FreeType loads only at its 109-px strike: drawn there with ``embedded_color`` and scaled by
  ``size / 109`` (Lanczos), advance and bitmap box scaled alike, on the line's baseline.
* **Line breaks** — between words (spaces; Korean only there). Chinese, Japanese and Thai, written without spaces
  between words, break between the phrases BudouX finds (Google's phrase segmenter, the models behind CSS
  ``word-break: auto-phrase`` in Chrome; ``青い|パーカー``, ``เสื้อ|ฮู้ด``): never inside a word, as in spaced scripts.
  Only where no size fits whole phrases do Chinese and Japanese break between any two ideographs or kana (the
  caller's second pass, :func:`phrase_passes`), or inside one phrase wider than the box. Always with *kinsoku*: no line
  starts with closing punctuation or small kana, none ends with an opening bracket (JIS X 4051, the common subset).
  A word wider than the box is hyphenated at a pyphen (Hunspell patterns) point only when the locale's language
  has patterns; otherwise the size shrinks, and if the minimum size does not fit, the caller raises a job error
  naming the string and the box.
* **Balance** — for a given size and line count, the break positions that minimise the widest line (exhaustive
  over break points for ≤ 4 lines; headlines are short), so two lines come out near equal, not one long and
  one orphan.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont, features

from brandflow.compose.bidi import visual_runs
from brandflow.glyphs import bitmap_strike, draws_nothing, font_codepoints, graphemes, is_emoji

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "fonts"
BUNDLED_BOLD = ASSETS / "DejaVuSans-Bold.ttf"
#: Where Debian installs the Noto fonts (fonts-noto-core: truetype/noto; fonts-noto-cjk: opentype/noto).
NOTO_DIRS = (Path("/usr/share/fonts/truetype/noto"), Path("/usr/share/fonts/opentype/noto"))
#: The Noto font per script, bold weight, file names as Debian ships them.
SCRIPT_FONTS = {
    "latin": "NotoSans-Bold.ttf",
    "arabic": "NotoSansArabic-Bold.ttf",
    "hebrew": "NotoSansHebrew-Bold.ttf",
    "devanagari": "NotoSansDevanagari-Bold.ttf",
    "thai": "NotoSansThai-Bold.ttf",
    "cjk": "NotoSansCJK-Bold.ttc",
}
#: The colour emoji font (Debian ``fonts-noto-color-emoji``: Noto Color Emoji, CBDT bitmaps at 109 ppem).
EMOJI_FONT = "NotoColorEmoji.ttf"
#: Face index inside NotoSansCJK-*.ttc per language (the collection's order: JP, KR, SC, TC, HK).
CJK_INDEX = {"ja": 0, "ko": 1, "zh": 2, "zh-tw": 3, "zh-hk": 4}
_RTL = {"R", "AL"}
_NO_LINE_START = set("、。，．・：；？！ー)]）］｝〕〉》」』】〙〗ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々」,.!?:;%")
_NO_LINE_END = set("([（［｛〔〈《「『【〘〖")


def has_raqm() -> bool:
    """Whether Pillow has the raqm layout engine (HarfBuzz shaping + FriBiDi bidi)."""
    return bool(features.check("raqm"))


def script_of(c: str) -> str:
    """``'arabic' | 'hebrew' | 'devanagari' | 'thai' | 'cjk' | 'latin' | 'common'`` for one character (by code point block)."""
    o = ord(c)
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0x08A0 <= o <= 0x08FF or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
        return "arabic"
    if 0x0590 <= o <= 0x05FF or 0xFB1D <= o <= 0xFB4F:
        return "hebrew"
    if 0x0900 <= o <= 0x097F:
        return "devanagari"
    if 0x0E00 <= o <= 0x0E7F:
        return "thai"
    if (0x3000 <= o <= 0x30FF or 0x3400 <= o <= 0x4DBF or 0x4E00 <= o <= 0x9FFF or 0xAC00 <= o <= 0xD7AF
            or 0xF900 <= o <= 0xFAFF or 0xFF00 <= o <= 0xFFEF or 0x1100 <= o <= 0x11FF):
        return "cjk"
    if c.isalpha():
        return "latin"
    return "common"


def _is_cjk_breakable(c: str) -> bool:
    """Ideographs and kana break anywhere (with kinsoku); Hangul does not: Korean puts spaces between words and a
    headline breaks only there (CSS ``word-break: keep-all``, the usual setting for Korean display type)."""
    o = ord(c)
    return script_of(c) == "cjk" and not (0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F)


@lru_cache(maxsize=None)
def system_font(name: str) -> str | None:
    """The path of a Noto font file by name under :data:`NOTO_DIRS`, or ``None`` when it is not installed."""
    for d in NOTO_DIRS:
        p = d / name
        if p.is_file():
            return str(p)
    return None


@dataclass(frozen=True)
class FontChain:
    """A fallback chain: ``primary`` (brand font or the bundled DejaVu Sans Bold), then per-script Noto fonts,
    then the bundled font. ``lang`` (BCP 47 primary subtag, e.g. ``'ja'``) picks the CJK face and hyphenation.
    Emoji (:func:`brandflow.glyphs.is_emoji`) try the colour emoji font (:data:`EMOJI_FONT`) first."""

    primary: str
    lang: str | None = None
    brand: bool = False

    def candidates(self, script: str) -> list[str]:
        """Font files to try, in order, for a character (or grapheme cluster) of ``script`` (:func:`script_of`, or
        ``'emoji'``)."""
        out = [self.primary] if self.brand and script != "emoji" else []
        own = system_font(EMOJI_FONT if script == "emoji" else SCRIPT_FONTS[script]) \
            if script == "emoji" or (script in SCRIPT_FONTS and script != "latin") else None
        if own:
            out.append(own)
        out.append(str(BUNDLED_BOLD) if not self.brand else self.primary)
        out += [p for p in (system_font(n) for n in (*SCRIPT_FONTS.values(), EMOJI_FONT)) if p]
        return list(dict.fromkeys(out))

    def files(self) -> list[str]:
        """Every font file of the chain (for a coverage check)."""
        return list(dict.fromkeys(self.candidates("common") + [p for s in (*SCRIPT_FONTS, "emoji") for p in self.candidates(s)]))

    def font_for(self, c: str) -> str:
        """The first font of the chain whose cmap has ``c`` — a character, or a grapheme cluster whose every drawn
        character it has (else the first that has its base character); the primary when none has it: coverage is
        checked before drawing (:func:`brandflow.glyphs.require_glyphs`)."""
        cands = self.candidates("emoji" if is_emoji(c) else script_of(c[0]))
        need = [ord(x) for x in c if not draws_nothing(x)] or [ord(c[0])]
        for path in cands:
            cps = font_codepoints(path)
            if all(n in cps for n in need):
                return path
        for path in cands:
            if ord(c[0]) in font_codepoints(path):
                return path
        return self.candidates("common")[0]


@lru_cache(maxsize=256)
def _load(path: str, size: int, index: int) -> ImageFont.FreeTypeFont:
    try:
        engine = ImageFont.Layout.RAQM if has_raqm() else ImageFont.Layout.BASIC
        return ImageFont.truetype(path, size, index=index, layout_engine=engine)
    except OSError as e:
        raise ValueError(f"font {path}: cannot be loaded ({e}); check brand.fonts") from None


@lru_cache(maxsize=4096)
def _char_fonts(chain: FontChain, line: str) -> tuple[str, ...]:
    """The font file of each character of ``line`` (logical order), chosen per grapheme cluster: an emoji cluster
    takes the colour emoji font; spaces and neutral characters stay in the font before them when it has them (never
    in a bitmap emoji font: a space there would be drawn at the emoji's scale)."""
    out: list[str] = []
    for cl in graphemes(line):
        prev = out[-1] if out else None
        neutral = all(script_of(c) == "common" or draws_nothing(c) for c in cl) and not is_emoji(cl)
        if prev and neutral and bitmap_strike(prev) is None and all(
                ord(c) in font_codepoints(prev) or draws_nothing(c) for c in cl):
            path = prev
        else:
            path = chain.font_for(cl)
        out += [path] * len(cl)
    return tuple(out)


@dataclass(frozen=True)
class Run:
    """A piece of a line drawn with one font in one direction: ``text`` (logical order, shaped whole by raqm),
    ``font`` (loaded at ``scale`` × the line's size: a bitmap emoji font is loaded at its strike and scaled),
    ``rtl``."""

    text: str
    font: ImageFont.FreeTypeFont
    scale: float
    rtl: bool


class Face:
    """A :class:`FontChain` at one pixel ``size``: measures and draws a line as runs of one font each, in the Unicode
    bidi algorithm's visual order (:func:`brandflow.compose.bidi.visual_runs`), all on one baseline (the primary
    font's ascender below the line's top). Emoji are drawn from a colour bitmap font at its strike size (Noto Color
    Emoji: 109 px, the only size FreeType loads it at) and scaled to ``size / strike`` with Lanczos — the scaling a
    browser applies to the same font.

    Quacks like the ``font`` Pillow's ``ImageDraw`` wants where overlay code needs only ``size``.
    """

    def __init__(self, chain: FontChain, size: int):
        self.chain, self.size = chain, size

    def _font(self, path: str) -> ImageFont.FreeTypeFont:
        index = CJK_INDEX.get((self.chain.lang or "ja").lower(), 0) if path.endswith(".ttc") else 0
        return _load(path, bitmap_strike(path) or self.size, index)

    def _scale(self, path: str) -> float:
        strike = bitmap_strike(path)
        return self.size / strike if strike else 1.0

    def runs(self, line: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        """The line split into ``(text, font)`` runs of one font each, in logical order."""
        fonts = _char_fonts(self.chain, line)
        out: list[tuple[str, str]] = []
        for c, path in zip(line, fonts):
            if out and out[-1][1] == path:
                out[-1] = (out[-1][0] + c, path)
            else:
                out.append((c, path))
        return [(t, self._font(p)) for t, p in out]

    def visual(self, line: str, rtl: bool | None = None) -> list[Run]:
        """The runs of ``line`` in visual order (left to right); ``rtl`` is the paragraph direction (``None``: the
        line's own, UAX #9 P2–P3)."""
        fonts = _char_fonts(self.chain, line)
        return [Run(line[a:b], self._font(fonts[a]), self._scale(fonts[a]), run_rtl)
                for a, b, run_rtl in visual_runs(line, list(fonts), rtl)]

    def files_for(self, text: str) -> list[str]:
        """The font files the runs of ``text`` are drawn with, in order of first use."""
        return list(dict.fromkeys(_char_fonts(self.chain, text)))

    @staticmethod
    def rtl(line: str) -> bool:
        """Whether the paragraph direction is right-to-left: its first strong character is R or AL (UAX #9 P2)."""
        for c in line:
            d = unicodedata.bidirectional(c)
            if d in _RTL:
                return True
            if d == "L":
                return False
        return False

    def _kw(self, run: Run) -> dict:
        if not has_raqm():
            return {}
        return {"direction": "rtl" if run.rtl else "ltr", **({"language": self.chain.lang} if self.chain.lang else {})}

    def _ascent(self) -> int:
        return self._font(self.chain.candidates("common")[0]).getmetrics()[0]

    def length(self, line: str, rtl: bool | None = None) -> float:
        """Advance width of ``line`` in pixels (shaped)."""
        return sum(r.font.getlength(r.text, **self._kw(r)) * r.scale for r in self.visual(line, rtl))

    def bbox(self, line: str, xy: tuple[float, float] = (0, 0), rtl: bool | None = None) -> tuple[int, int, int, int]:
        """Ink box ``(x0, y0, x1, y1)`` pixels of ``line`` drawn with its left end at ``xy`` (the line's top: the
        baseline is the primary font's ascender below it). ``rtl``: the paragraph direction (``None``: the line's)."""
        x, y = xy
        base = y + self._ascent()
        boxes = []
        for r in self.visual(line, rtl):
            b = r.font.getbbox(r.text, anchor="ls", **self._kw(r))
            boxes.append((x + b[0] * r.scale, base + b[1] * r.scale, x + b[2] * r.scale, base + b[3] * r.scale))
            x += r.font.getlength(r.text, **self._kw(r)) * r.scale
        return (math.floor(min(b[0] for b in boxes)), math.floor(min(b[1] for b in boxes)),
                math.ceil(max(b[2] for b in boxes)), math.ceil(max(b[3] for b in boxes)))

    def parts(self, line: str, xy: tuple[float, float] = (0, 0), rtl: bool | None = None
              ) -> list[tuple[str, tuple[int, int, int, int]]]:
        """The line cut into pieces of one direction — maximal neighbouring runs, left to right, all right to left or
        all left to right (runs of only spaces join neither) — each ``(text in logical order, ink box in pixels)``,
        placed as :meth:`bbox` places the line. One piece for a line in one direction."""
        x, y = xy
        base = y + self._ascent()
        pieces: list[tuple[bool, list[str], list[tuple[float, float, float, float]]]] = []
        for r in self.visual(line, rtl):
            b = r.font.getbbox(r.text, anchor="ls", **self._kw(r))
            box = (x + b[0] * r.scale, base + b[1] * r.scale, x + b[2] * r.scale, base + b[3] * r.scale)
            x += r.font.getlength(r.text, **self._kw(r)) * r.scale
            if all(c.isspace() or draws_nothing(c) for c in r.text):
                continue
            if pieces and pieces[-1][0] == r.rtl:
                pieces[-1][1].append(r.text)
                pieces[-1][2].append(box)
            else:
                pieces.append((r.rtl, [r.text], [box]))
        return [("".join(texts[::-1] if is_rtl else texts).strip(),
                 (math.floor(min(b[0] for b in bs)), math.floor(min(b[1] for b in bs)),
                  math.ceil(max(b[2] for b in bs)), math.ceil(max(b[3] for b in bs))))
                for is_rtl, texts, bs in pieces]

    def draw(self, image: Image.Image | ImageDraw.ImageDraw, xy: tuple[float, float], line: str, fill,
             rtl: bool | None = None) -> None:
        """Draw ``line`` onto ``image`` (a PIL image, sRGB, or an ``ImageDraw`` on one) with its left end at ``xy``
        (the line's top, as :meth:`bbox`), run by run in visual order; ``fill`` colours outline fonts, emoji keep
        their colours. ``rtl``: the paragraph direction (``None``: the line's)."""
        if isinstance(image, ImageDraw.ImageDraw):
            draw, image = image, image._image  # emoji are pasted onto the image the ImageDraw draws on
        else:
            draw = ImageDraw.Draw(image)
        x, y = xy
        base = y + self._ascent()
        for r in self.visual(line, rtl):
            if r.scale == 1.0:
                draw.text((x, base), r.text, font=r.font, fill=fill, anchor="ls", **self._kw(r))
            else:
                _paste_bitmap_run(image, r, (x, base), self._kw(r))
            x += r.font.getlength(r.text, **self._kw(r)) * r.scale


def _paste_bitmap_run(image: Image.Image, run: Run, origin: tuple[float, float], kw: dict) -> None:
    """Draw a colour bitmap run (emoji) at its strike size, scale it by ``run.scale`` (Lanczos on premultiplied
    alpha) and composite it with its left end and baseline at ``origin``."""
    b = run.font.getbbox(run.text, anchor="ls", **kw)
    tile = Image.new("RGBA", (max(1, b[2] - b[0]), max(1, b[3] - b[1])), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((-b[0], -b[1]), run.text, font=run.font, anchor="ls", embedded_color=True, **kw)
    size = (max(1, round(tile.width * run.scale)), max(1, round(tile.height * run.scale)))
    tile = tile.resize(size, Image.Resampling.LANCZOS)
    image.paste(tile, (round(origin[0] + b[0] * run.scale), round(origin[1] + b[1] * run.scale)), tile)


# --------------------------------------------------------------------------- line breaking
def tokens(text: str, lang: str | None = None, phrases: bool = True) -> list[tuple[str, bool]]:
    """``[(piece, space_before)]``: the units a line may break between, with kinsoku (no closing punctuation or
    small kana at a line start, no opening bracket at a line end). Words in spaced scripts; in Chinese, Japanese and
    Thai the phrases of :func:`phrases_of` (``phrases=False``: single ideographs/kana, and a Thai word whole).

    Args:
        text: one string of overlay copy.
        lang: the job's language (``"ja"``, ``"zh-TW"``; ``None``: told by the characters), choosing the BudouX model.
        phrases: break Chinese and Japanese only between phrases (True) or between any two characters (False).
    """
    out: list[tuple[str, bool]] = []
    for wi, word in enumerate(text.split()):
        model = _phrase_model(word, lang) if phrases else None
        pieces = _kinsoku(phrases_of(word, model)) if model else _char_pieces(word)
        for pi, p in enumerate(pieces):
            out.append((p, wi > 0 and pi == 0))
    return out


def _char_pieces(word: str) -> list[str]:
    """``word`` cut between any two ideographs or kana (kinsoku kept); other letters stay together."""
    pieces: list[str] = []
    for c in word:
        if pieces and (not _is_cjk_breakable(c) and not _is_cjk_breakable(pieces[-1][-1]) or c in _NO_LINE_START
                       or pieces[-1][-1] in _NO_LINE_END):
            pieces[-1] += c
        else:
            pieces.append(c)
    return pieces


def _kinsoku(pieces: list[str]) -> list[str]:
    """Join a piece that would start a line with closing punctuation or small kana to the one before, and a piece
    ending with an opening bracket to the one after."""
    out: list[str] = []
    for p in pieces:
        if out and (p[0] in _NO_LINE_START or out[-1][-1] in _NO_LINE_END):
            out[-1] += p
        else:
            out.append(p)
    return out


def _phrase_model(word: str, lang: str | None) -> str | None:
    """The BudouX model for ``word``: ``"th"`` for Thai letters; ``"ja"`` with kana or a Japanese ``lang``;
    ``"zh-hant"`` for a Traditional-Chinese ``lang`` (``zh-TW``, ``zh-HK``, ``zh-Hant``), ``"zh-hans"`` for other
    ideographs; ``None`` for a word of a spaced script (Korean included)."""
    if any(script_of(c) == "thai" for c in word):
        return "th"
    if not any(_is_cjk_breakable(c) for c in word):
        return None
    code = (lang or "").lower().replace("_", "-")
    if code.startswith("ja") or any(0x3040 <= ord(c) <= 0x30FF for c in word):
        return "ja"
    if code.startswith("zh") and any(tag in code.split("-") for tag in ("tw", "hk", "mo", "hant")):
        return "zh-hant"
    return "zh-hans"


@lru_cache(maxsize=None)
def _phrase_parser(model: str) -> Any:
    import budoux

    return {"ja": budoux.load_default_japanese_parser, "zh-hans": budoux.load_default_simplified_chinese_parser,
            "zh-hant": budoux.load_default_traditional_chinese_parser, "th": budoux.load_default_thai_parser}[model]()


def phrases_of(word: str, model: str) -> list[str]:
    """``word`` (no spaces) cut into phrases by BudouX's ``model`` (``"ja"``, ``"zh-hans"``, ``"zh-hant"``, ``"th"``;
    :func:`_phrase_model`); the pieces join back to ``word``. Source: Google's BudouX (Apache-2.0), the segmenter of
    Chrome's ``word-break: auto-phrase``."""
    return [p for p in _phrase_parser(model).parse(word) if p] or [word]


def phrase_passes(text: str) -> tuple[bool, ...]:
    """The ``phrases`` settings a caller tries in turn for ``text``: ``(True, False)`` when it has Chinese or Japanese
    (whole phrases at every size first; between any two characters only if no size fits them), else ``(True,)``."""
    return (True, False) if any(_is_cjk_breakable(c) for c in text) else (True,)


def join(toks: list[tuple]) -> str:
    """The line text of consecutive tokens ``(text, space_before[, soft_hyphen_after])``: a space where one was,
    and a hyphen after the last token when it ends at a hyphenation point."""
    text = "".join((" " if t[1] and i else "") + t[0] for i, t in enumerate(toks))
    return text + "-" if toks and len(toks[-1]) > 2 and toks[-1][2] else text


@lru_cache(maxsize=32)
def _hyphenator(lang: str):
    try:
        import pyphen
    except ImportError:  # pragma: no cover - a declared dependency
        return None
    for code in (lang, lang.split("_")[0].split("-")[0]):
        if code and pyphen.language_fallback(code.replace("-", "_")):
            return pyphen.Pyphen(lang=pyphen.language_fallback(code.replace("-", "_")))
    return None


def hyphenate(word: str, lang: str | None) -> list[str]:
    """Break points of ``word`` for ``lang`` (pyphen's Hunspell patterns): the pieces, each but the last to be
    drawn with a trailing hyphen; ``[word]`` when the language has no patterns (e.g. ``ja``, ``ar``) or none apply."""
    h = _hyphenator(lang) if lang else None
    if h is None:
        return [word]
    positions = h.positions(word)
    if not positions:
        return [word]
    cuts = [0, *positions, len(word)]
    return [word[a:b] for a, b in zip(cuts, cuts[1:])]


def balanced_lines(face: Face, text: str, max_w: float, max_lines: int, line_w=None, phrases: bool = True) -> list[str] | None:
    """The fewest lines (≤ ``max_lines``) whose every line fits its width — ``line_w(i)`` pixels for line ``i``
    (e.g. short of a logo), else ``max_w`` — breaking where the widest line is narrowest; ``None`` when no
    break fits. Breaks fall between the units of :func:`tokens` (``phrases`` as there); a word wider than a line
    is hyphenated when :func:`hyphenate` allows it."""
    toks = tokens(text, face.chain.lang, phrases)
    widths = line_w or (lambda i: max_w)
    # a word wider than a full line: split it at hyphenation points (never mid-word otherwise)
    fixed: list[tuple] = []
    for t, sp in toks:
        if face.length(t) > max_w:
            pieces = _char_pieces(t)  # a Chinese or Japanese phrase wider than a line: between its characters
            if len(pieces) > 1:
                fixed += [(p, sp if k == 0 else False) for k, p in enumerate(pieces)]
                continue
            parts = hyphenate(t, face.chain.lang)
            if len(parts) == 1:
                return None
            fixed += [(p, sp if k == 0 else False, k < len(parts) - 1) for k, p in enumerate(parts)]
        else:
            fixed.append((t, sp))
    toks = fixed
    n = len(toks)
    for lines in range(1, max_lines + 1):
        best, best_w = None, None
        if lines > n:
            break
        cut_sets = combinations(range(1, n), lines - 1) if n <= 24 or lines <= 2 else [()]
        for cuts in cut_sets:
            bounds = [0, *cuts, n]
            segs = [toks[a:b] for a, b in zip(bounds, bounds[1:])]
            # a hyphenated piece keeps no leading space on its new line
            texts = [join([(t[0], t[1] if k else False, *t[2:]) for k, t in enumerate(seg)]) for seg in segs]
            ws = [face.length(t) for t in texts]
            if any(w > widths(i) for i, w in enumerate(ws)):
                continue
            worst = max(ws)
            if best_w is None or worst < best_w:
                best, best_w = texts, worst
        if best is not None:
            return best
    return None


__all__ = ["EMOJI_FONT", "Face", "FontChain", "Run", "balanced_lines", "has_raqm", "hyphenate", "phrase_passes", "phrases_of",
           "script_of", "tokens"]
