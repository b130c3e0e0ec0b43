"""Token-level text decisions: does the image say *exactly* this?

Text QA used to pass a string when its normalised edit distance (NED, AnyText) to the OCR reading was ≥ 0.9. That
forgives one wrong character in ten — exactly the near-misses a reviewer must not miss: a price one digit off
(``$34.00`` for ``$39.00``), a quantity off, a word with one letter swapped into another real word (``Sole`` for
``Sale``). Here the expected text and each OCR reading are cut into tokens and aligned (Levenshtein opcodes over
token lists, rapidfuzz), and every expected token gets one status:

* ``exact`` — read as written (after case-folding, NFKC, typographic quotes/dashes → ASCII, surrounding
  punctuation dropped; split/merged tokens such as ``2for1`` / ``2 for 1`` compare joined).
* ``noise`` — a plausible engine error, worth a human look (**warn**): classic OCR confusions inside a word
  (``0``/``O``, ``1``/``l``/``I``/``|``, ``5``/``S``, ``8``/``B``, ``2``/``Z``, ``rn``/``m``, ``vv``/``w``) that do not
  make another real word; one low-confidence glyph (:data:`LOW_CONF`), or one letter off in a word of
  :data:`MIN_SLIP_LEN`+ letters, making a word that is not a real word (an OCR slip — or a typo: a human looks); in a
  number, a decimal separator read as the other one (``39,00``), a ``$`` read as ``S`` or not read, a lost sign; a
  price's currency sign read as no currency but one glyph off (Tesseract reads the riyal ``ر.س.`` as ``رر.س``).
* ``mismatch`` — the image says something else (**fail**): any other difference; in numbers, prices,
  percentages and currency **every digit, the digit grouping, the currency sign and the percent sign must match**
  (a digit is never "noise"); a price's currency sign read as another currency's sign or code (CLDR via Babel:
  ``$``, ``د.إ``, ``ر.ق`` for ``ر.س``; :func:`compare_currency`), whatever the confidence; a word read as a different
  real word (:func:`is_real_word`).
* ``missing`` — not in the reading (**fail**); ``extra`` — a word or number inside the matched text that the
  expected text does not have (**fail**; stray single glyphs are dropped).
* ``tofu`` — a missing-glyph box (``□``, ``口``, ``�`` …) read where the expected text has a character (**fail**).
* ``unverifiable`` — the expected token is in a script or symbol set the engine's languages do not read (emoji,
  Cyrillic for Tesseract ``eng`` …): **warn** with a reason that says so, never a silent pass or fail.

Several engines (Tesseract, RapidOCR) reading the same text are combined per token by :func:`combine`:
agreement raises confidence (one ``exact`` and the others ``exact``/``noise`` → pass), disagreement on a token is
a warn for a human (one engine ``exact``, another ``mismatch``), and a fail needs every engine to see a mismatch.

Metrics NED and word precision/recall stay in the result for comparison with the literature. Pure functions: no
OCR here.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from rapidfuzz.distance import Levenshtein

from brandflow.glyphs import describe_chars
from brandflow.qa.words import Word

Status = Literal["exact", "noise", "mismatch", "missing", "extra", "tofu", "unverifiable"]
Verdict = Literal["pass", "warn", "fail"]

#: Word confidence (0–100) under which one wrong glyph in a non-word is treated as engine noise (warn). Tesseract
#: marks doubtful LSTM words below ~60 (tessdoc "confidence"); RapidOCR's 0–1 scores are scaled to the same range.
LOW_CONF = 60.0
#: A word of at least this many letters read with one letter inserted, dropped or changed into a *non-word* is taken
#: for an OCR slip (warn, for a human: it may also be a typo in the image), not a different text; deliberate
#: near-misses make another real word or another number, which still fail. Calibrated on half A of bench/qa_text.py
#: (swept 3, 4, 5, 6, 8, off): 4 gave the most right decisions with no near-miss accepted (97.5 % vs 96.5 % off);
#: on a first run with two fonts fewer every value tied. ``math.inf`` switches it off.
MIN_SLIP_LEN: float = 4
#: A token is a *real word* when pyspellchecker's English frequency list counts it at least this often (its
#: counts come from OpenSubtitles; below ~100 the list holds OCR-like junk such as ``rn`` and ``cl``).
REAL_WORD_MIN_COUNT = 100
#: Below this NED (AnyText) the closest reading is not the expected text misread but other text: the decision says
#: "not found" instead of listing unrelated token differences.
NOT_FOUND_NED = 0.5
#: Glyphs that stand for a missing-glyph box (".notdef" / tofu) when an OCR engine reads one: white/black squares,
#: the CJK ``口`` (PP-OCR's Chinese alphabet reads a box as "mouth"), the replacement character.
TOFU_CHARS = frozenset("□■▢▣▯▮☐⬚⬜⬛〼口囗�")
_QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": "-", "−": "-",
                         "‐": "-", "‑": "-", "\u00a0": " ",
                         # bidi marks and isolates (a locale's price wraps its text in RLM): invisible, never drawn
                         "\u200e": None, "\u200f": None, "\u061c": None, "\u2066": None, "\u2067": None,
                         "\u2068": None, "\u2069": None})
#: Punctuation dropped at either end of a token (not ``$ € £ ¥ % + - #``: they carry meaning in prices and offers).
_STRIP = ".,;:!?\"'()[]{}<>«»¡¿…*·•_/\\|~^`"
_CURRENCY = "$€£¥₹₩₽¢"
#: Letter → digit for a number token read by OCR (only applied between/next to digits).
_TO_DIGIT = str.maketrans({"o": "0", "d": "0", "q": "0", "l": "1", "i": "1", "|": "1", "!": "1", "s": "5",
                           "b": "8", "z": "2", "g": "9"})
#: Character classes OCR engines confuse inside words; each maps to one representative (applied to both sides).
_CANON_MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"))
_CANON = str.maketrans({"0": "o", "1": "l", "i": "l", "|": "l", "!": "l", "5": "s", "8": "b", "2": "z"})
#: Unicode script names (first word of ``unicodedata.name``) each engine's languages read: Tesseract ``eng``;
#: PP-OCR's recognition alphabet (Chinese + English: Latin, CJK ideographs, kana, full-width forms).
ENGINE_SCRIPTS: dict[str, frozenset[str]] = {
    "tesseract": frozenset({"LATIN", "DIGIT"}),
    "rapidocr": frozenset({"LATIN", "DIGIT", "CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "IDEOGRAPHIC", "FULLWIDTH"}),
}
#: Scripts each Tesseract traineddata adds to ``eng`` (``lang`` is ``'ara+eng'`` style, from the job's locale:
#: :func:`brandflow.locales.tesseract_lang`). A script missing here stays "unverifiable" for Tesseract.
TESSERACT_LANG_SCRIPTS: dict[str, frozenset[str]] = {
    "eng": frozenset({"LATIN", "DIGIT"}), "deu": frozenset({"LATIN"}), "fra": frozenset({"LATIN"}),
    "spa": frozenset({"LATIN"}), "ita": frozenset({"LATIN"}), "nld": frozenset({"LATIN"}), "por": frozenset({"LATIN"}),
    "ara": frozenset({"ARABIC"}), "heb": frozenset({"HEBREW"}), "hin": frozenset({"DEVANAGARI"}),
    "jpn": frozenset({"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA", "IDEOGRAPHIC", "FULLWIDTH"}), "chi_sim": frozenset({"CJK", "FULLWIDTH"}),
    "chi_tra": frozenset({"CJK", "FULLWIDTH"}), "kor": frozenset({"HANGUL", "CJK"}),
}


def engine_scripts(engine: str, lang: str = "eng") -> frozenset[str]:
    """The Unicode script names ``engine`` reads: RapidOCR's fixed alphabet, or for Tesseract the union over the
    ``+``-joined traineddata names of ``lang`` (:data:`TESSERACT_LANG_SCRIPTS`)."""
    if engine != "tesseract":
        return ENGINE_SCRIPTS.get(engine, ENGINE_SCRIPTS["tesseract"])
    return frozenset().union(ENGINE_SCRIPTS["tesseract"], *(TESSERACT_LANG_SCRIPTS.get(code, frozenset())
                                                             for code in lang.split("+")))


#: Symbols both engines read (besides ASCII).
_READABLE_SYMBOLS = frozenset("€£¥₹©®™°")


# --------------------------------------------------------------------------- normalisation and tokens
def normalise_text(s: str) -> str:
    """Normalise for comparison: NFKC, typographic quotes/dashes → ASCII, case-fold, whitespace collapsed."""
    s = unicodedata.normalize("NFKC", s).translate(_QUOTES).casefold()
    return " ".join(s.split())


@dataclass(frozen=True)
class Token:
    """One token: ``raw`` as written (NFKC, quotes/dashes → ASCII, surrounding punctuation dropped), ``key`` its
    case-folded form, ``conf`` the OCR confidence of the word it came from (0–100; ``None`` for expected text)."""

    raw: str
    key: str
    conf: float | None = None
    piece: str = ""  # the whitespace-separated piece it came from, punctuation kept (for NED and reports)

    @property
    def is_number(self) -> bool:
        """True when the token holds a digit (numbers, prices, percentages, quantities, ``2for1``)."""
        return any(c.isdigit() for c in self.key)


def tokenise(text: str, conf: float | None = None) -> list[Token]:
    """Cut ``text`` into tokens: whitespace-separated pieces with surrounding punctuation (:data:`_STRIP`) removed;
    pieces that are punctuation only are dropped. ``conf`` (0–100) is attached to each token."""
    out = []
    for piece in unicodedata.normalize("NFKC", text).translate(_QUOTES).split():
        raw = piece.strip(_STRIP)
        if raw and any(c.isalnum() or c in _CURRENCY or c == "%" or c in TOFU_CHARS or _is_symbol(c) for c in raw):
            out.append(Token(raw, raw.casefold(), conf, piece))
    return out


def tokens_of_words(words: list[Word]) -> list[Token]:
    """The tokens of OCR words, in order, each with its word's confidence."""
    return [t for w in words for t in tokenise(w.text, w.conf)]


def _is_symbol(c: str) -> bool:
    return unicodedata.category(c).startswith("S") and c not in "+-=<>^`|~"


def unreadable_chars(text: str, engine: str, lang: str = "eng") -> list[str]:
    """The characters of ``text`` that ``engine`` reading ``lang`` (:func:`engine_scripts`) cannot read, in order,
    without repeats: letters of other scripts, emoji and other symbols outside ASCII and :data:`_READABLE_SYMBOLS`."""
    scripts = engine_scripts(engine, lang)
    out: list[str] = []
    for c in text:
        if c.isspace() or c.isascii() or c in _READABLE_SYMBOLS or c in out:
            continue
        if c.isalnum():
            script = unicodedata.name(c, "UNKNOWN").split()[0]
            if script in scripts:
                continue
        elif unicodedata.category(c).startswith(("P", "Z")):  # punctuation is dropped anyway
            continue
        out.append(c)
    return out


def _canon_word(s: str) -> str:
    for a, b in _CANON_MULTI:
        s = s.replace(a, b)
    return s.translate(_CANON)


@lru_cache(maxsize=1)
def _dictionary() -> object | None:
    try:
        from spellchecker import SpellChecker
    except ImportError:  # pragma: no cover - a declared dependency; without it no word counts as "real"
        return None
    return SpellChecker(language="en", distance=1).word_frequency


def is_real_word(word: str) -> bool:
    """True when the case-folded ``word`` is a common English word (pyspellchecker frequency ≥
    :data:`REAL_WORD_MIN_COUNT`). Non-alphabetic tokens are never real words."""
    key = word.casefold()
    if not key.isalpha():
        return False
    freq = _dictionary()
    return bool(freq is not None and freq[key] >= REAL_WORD_MIN_COUNT)  # type: ignore[index]


# --------------------------------------------------------------------------- numbers
_NUMBER = re.compile(r"^(?P<sign>[+\-]?)(?P<pre>[^\d+\-]*?)(?P<core>\d(?:[\d.,]*\d)?)(?P<post>\D*)$")


@dataclass(frozen=True)
class _Num:
    sign: str
    currency: str
    digits: str
    groups: tuple[int, ...]  # digit counts between separators, e.g. 1,299.00 → (1, 3, 2)
    seps: str
    percent: bool
    rest: str  # letters around the number (units such as "ml", words glued to it)


def _parse_number(key: str) -> _Num | None:
    m = _NUMBER.match(key)
    if not m:
        return None
    pre, post, core = m["pre"], m["post"], m["core"]
    currency = "".join(c for c in pre + post if c in _CURRENCY)
    rest = "".join(c for c in pre + post if c not in _CURRENCY and c != "%")
    groups = tuple(len(g) for g in re.split(r"[.,]", core))
    return _Num(m["sign"], currency, re.sub(r"\D", "", core), groups, re.sub(r"\d", "", core), "%" in post, rest)


def _digitise(key: str) -> tuple[str, bool]:
    """Map confusable letters next to digits to digits (``3o.oo`` → ``30.00``); returns ``(text, changed)``."""
    chars, changed = list(key), False
    for _ in range(2):  # twice: "o" next to a mapped "o"
        for i, c in enumerate(chars):
            if c.isalpha() or c in "|!":
                near = [chars[j] for j in (i - 1, i + 1) if 0 <= j < len(chars)]
                if any(n.isdigit() for n in near) and c.translate(_TO_DIGIT) != c:
                    chars[i], changed = c.translate(_TO_DIGIT), True
    return "".join(chars), changed


def _kind(n: _Num) -> str:
    return "price" if n.currency else "percentage" if n.percent else "number"


def compare_numbers(expected: Token, read: Token) -> tuple[Status, str]:
    """Compare a number token (price, percentage, quantity) with its reading.

    Digits, digit grouping, currency sign and percent sign must match exactly (``mismatch`` otherwise, with a
    reason such as "the price reads $34.00; the expected text says $39.00"); a separator read as the other one,
    a ``$`` read as ``S`` or not read, a lost ``+``/``-`` sign, and confusable letters in place of digits are
    ``noise``. Returns ``(status, reason)``; reason is ``""`` for ``exact``.
    """
    e = _parse_number(expected.key)
    key = read.key
    dollar_as_s = False
    if e is not None and e.currency == "$" and re.match(r"^[+\-]?s(?=[\d.,])", key):
        key, dollar_as_s = key.replace("s", "$", 1), True
    if e is not None and not e.rest:  # a pure number is expected: any look-alike letter in the reading is a digit
        fixed = "".join(c.translate(_TO_DIGIT) if c.isalpha() or c in "|!" else c for c in key)
        changed = fixed != key
    else:
        fixed, changed = _digitise(key)
    r = _parse_number(fixed)
    if e is None or r is None:
        if Levenshtein.distance(expected.key, read.key) == 0:
            return "exact", ""
        return "mismatch", f"{read.raw!r} is read where the expected text says {expected.raw!r}"
    what = _kind(e)
    says = f"the {what} reads {read.raw}; the expected text says {expected.raw}"
    if e.digits != r.digits or e.groups != r.groups:
        return "mismatch", says
    if e.percent != r.percent:
        return "mismatch", says + " (percent sign)"
    if e.currency and r.currency and e.currency != r.currency:
        return "mismatch", says + " (currency)"
    if r.currency and not e.currency:
        return "mismatch", says + " (a currency sign the expected text does not have)"
    if e.rest != r.rest:
        status, why = compare_words(Token(e.rest, e.rest), Token(r.rest, r.rest, read.conf)) if e.rest and r.rest else (
            "mismatch", "")
        if status != "noise":
            return "mismatch", says
    notes = []
    if e.currency and not r.currency:
        notes.append("the currency sign was not read")
    if dollar_as_s:
        notes.append("'$' read as 'S'")
    if e.seps != r.seps:
        notes.append("a decimal/thousands separator read as the other")
    if e.sign != r.sign:
        notes.append("the +/- sign was not read")
    if changed:
        notes.append("letters read in place of digits")
    if e.rest != r.rest:
        notes.append(f"{r.rest!r} read for {e.rest!r}")
    if notes or expected.key != read.key:
        return "noise", f"{read.raw!r} is probably {expected.raw!r} misread by the OCR ({'; '.join(notes) or 'engine noise'})"
    return "exact", ""


# --------------------------------------------------------------------------- words
def _scripts_of(text: str) -> set[str]:
    """The Unicode script names (first word of the character name) of the letters in ``text``."""
    return {unicodedata.name(c, "UNKNOWN").split()[0] for c in text if c.isalpha()}


def compare_words(expected: Token, read: Token) -> tuple[Status, str]:
    """Compare a word token with its reading: ``exact``; ``noise`` for OCR confusions (:data:`_CANON`) or one
    low-confidence glyph that do not make another real word, or letters of another script than the expected word's
    (the engine's model for one script guessing at another: it verified nothing); ``mismatch`` otherwise.
    Returns ``(status, reason)``."""
    if expected.key == read.key:
        return "exact", ""
    if any(c in TOFU_CHARS for c in read.key):
        return "tofu", f"a missing-glyph box (tofu) {read.raw!r} is drawn where the expected text says {expected.raw!r}"
    if is_real_word(read.key):
        return "mismatch", f"{read.raw!r} reads as another word; the expected text says {expected.raw!r}"
    if _canon_word(read.key) == _canon_word(expected.key):
        return "noise", f"{read.raw!r} is probably {expected.raw!r} misread by the OCR (look-alike glyphs)"
    written, seen = _scripts_of(expected.key), _scripts_of(read.key)
    if written and seen and not written & seen:
        return "noise", (f"the OCR read {expected.raw!r} as glyphs of another script ({read.raw!r}, not a word): "
                         f"it could not verify this word; check it")
    if Levenshtein.distance(expected.key, read.key) == 1:
        if read.conf is not None and read.conf < LOW_CONF:
            return "noise", (f"{read.raw!r} is probably {expected.raw!r} misread by the OCR (one low-confidence glyph, "
                             f"confidence {read.conf:.0f})")
        if len(expected.key) >= MIN_SLIP_LEN:
            return "noise", (f"{read.raw!r} is probably {expected.raw!r} misread by the OCR (one letter off, not a word); "
                             f"it may also be a typo in the image")
    return "mismatch", f"{read.raw!r} is read where the expected text says {expected.raw!r}"


def compare_token(expected: Token, read: Token) -> tuple[Status, str]:
    """:func:`compare_numbers` when the expected token holds a digit, else :func:`compare_words`; a tofu box in
    the reading is ``tofu`` either way."""
    if any(c in TOFU_CHARS for c in read.key) and expected.key != read.key:
        return "tofu", f"a missing-glyph box (tofu) {read.raw!r} is drawn where the expected text says {expected.raw!r}"
    if expected.is_number or read.is_number and not any(c.isalpha() for c in expected.key):
        return compare_numbers(expected, read)
    return compare_words(expected, read)


# --------------------------------------------------------------------------- currency signs
@lru_cache(maxsize=1)
def _currency_symbols() -> dict[str, frozenset[str]]:
    """Every currency symbol CLDR knows (Babel's locale data, each locale's symbols) and every
    ISO 4217 code, as a case-folded token key (:func:`tokenise`'s normalisation: bidi marks dropped, surrounding
    dots stripped: ``ر.س.\u200f`` → ``ر.س``) → the ISO codes it stands for. Built once per process (~0.8 s: it
    reads all ~1,150 locale files), and only when a currency sign is not read exactly."""
    from babel import localedata
    from babel.numbers import list_currencies

    out: dict[str, set[str]] = {}
    for code in list_currencies():
        out.setdefault(code.casefold(), set()).add(code)
    for ident in ["root", *localedata.locale_identifiers()]:
        # merged data: Babel caches what load() returns per locale, so an unmerged load (merge_inherited=False)
        # would leave that locale without its inherited currency formats for every later format_currency()
        for code, symbol in localedata.load(ident).get("currency_symbols", {}).items():
            tokens = tokenise(symbol)
            if len(tokens) == 1:  # a sign with a space inside ('$ AU') never reads as one token
                out.setdefault(tokens[0].key, set()).add(code)
    return {k: frozenset(v) for k, v in out.items()}


def currency_codes(token: str) -> frozenset[str]:
    """The ISO 4217 codes a token is the sign or code of, per CLDR (``'ر.س'`` → ``{'SAR'}``, ``'$'`` → USD, CAD, AUD…;
    case-folded, so ``'sar'`` → ``{'SAR'}``); empty when it is no currency."""
    return _currency_symbols().get(normalise_text(token).strip(_STRIP), frozenset())


def _is_price_currency(tokens: list[Token], i: int) -> bool:
    """True when ``tokens[i]`` sits next to a number (``129.00 ر.س``, ``CHF 49.90``) and could be a currency sign:
    not a plain ASCII word (``up`` in ``save up 30%``) unless upper-case (an ISO code such as ``CHF``). Cheap: the
    CLDR lookup is left to :func:`compare_currency`."""
    t = tokens[i]
    if t.is_number or (t.raw.isascii() and t.raw.isalpha() and not t.raw.isupper()):
        return False
    return any(0 <= j < len(tokens) and tokens[j].is_number for j in (i - 1, i + 1))


def _one_glyph_off(expected: str, read: str) -> str:
    """How ``read`` differs from ``expected`` by one glyph (``"one glyph doubled"``, ``"one glyph dropped"``,
    ``"one glyph added"``, ``"one glyph confused"``), or ``""`` when it differs by more. A sign of one glyph can
    only be doubled: any other one-glyph change replaces the whole sign."""
    if Levenshtein.distance(expected, read) != 1:
        return ""
    if len(read) == len(expected) + 1 and any(read == expected[:k] + expected[k] + expected[k:] for k in range(len(expected))):
        return "one glyph doubled"
    if len(expected) < 2:
        return ""
    return "one glyph dropped" if len(read) < len(expected) else "one glyph added" if len(read) > len(expected) else \
        "one glyph confused"


def _codes(codes: frozenset[str]) -> str:
    """``'SAR'``; ``'AED, QAR'``; ``'27 currencies: ARS, AUD, BBD …'`` for a sign many currencies share (``$``)."""
    first = ", ".join(sorted(codes)[:3])
    return first if len(codes) <= 3 else f"{len(codes)} currencies: {first} …"


def compare_currency(expected: Token, read: Token) -> tuple[Status, str]:
    """Compare the currency sign or code of a price (a token beside a number, :func:`_is_price_currency`) with its
    reading, per issue 11's rule: currency must match exactly; another currency is a fail; engine noise may warn.

    ``exact`` when read as written; ``mismatch`` when the reading is the sign or code of a currency (any CLDR locale,
    :func:`currency_codes`: ``$``, ``€``, ``د.إ``, ``ر.ق``, ``SAR``…) other than the expected sign, whatever the OCR
    confidence; ``noise`` when it is no currency, no real word and holds no digit, but one glyph off the expected
    sign (Tesseract ``ara+eng`` reads the riyal sign ``ر.س.`` as ``رر.س``); otherwise :func:`compare_token`'s word
    rules. An expected token that is no CLDR currency is left to :func:`compare_token`. Returns ``(status, reason)``.
    """
    if expected.key == read.key or any(c in TOFU_CHARS for c in read.key):
        return compare_token(expected, read)
    want = currency_codes(expected.key)
    if not want:
        return compare_token(expected, read)
    named = f"{expected.raw!r} ({_codes(want)})"
    other = currency_codes(read.key)
    if other:
        return "mismatch", f"the currency reads {read.raw!r} ({_codes(other)}); the expected text says {named}"
    how = "" if read.is_number or is_real_word(read.key) else _one_glyph_off(expected.key, read.key)
    if how:
        return "noise", (f"{read.raw!r} is no currency sign: probably {named} misread by the OCR ({how}); "
                         f"check the price's currency")
    return compare_token(expected, read)


# --------------------------------------------------------------------------- one reading
@dataclass(frozen=True)
class Finding:
    """One token's outcome in one reading: ``index`` of the expected token (``None`` for an ``extra`` read
    token), the expected and read text (``""`` when absent), ``status`` and a plain-language ``reason``."""

    index: int | None
    expected: str
    read: str
    status: Status
    reason: str = ""


@dataclass(frozen=True)
class TokenReading:
    """How one engine's reading compares with an expected string: the matched ``read`` text, per-token
    ``findings`` (one per expected token, plus extras), NED and word precision/recall of ``read``."""

    engine: str
    read: str
    findings: tuple[Finding, ...]
    ned: float
    precision: float
    recall: float


def _best_window(read: list[Token], n: int, expected_key: str) -> tuple[float, list[Token]]:
    """The run of consecutive read tokens (n−2 … n+2 of them) whose joined text is closest to ``expected_key``, and
    its Levenshtein normalised similarity (0–1); the first on ties."""
    best: tuple[float, list[Token]] = (-1.0, [])
    for size in range(max(1, n - 2), n + 3):
        for i in range(0, max(0, len(read) - size) + 1):
            cand = read[i : i + size]
            score = Levenshtein.normalized_similarity(" ".join(t.key for t in cand), expected_key)
            if score > best[0]:
                best = (score, cand)
    return best


#: Words on one row belong to one line segment while the gap between them is at most this many word heights. No
#: single value separates words from what stands beside them: in the example's creatives RapidOCR's word gaps reach
#: 0.67 of the height ("Team Shirt") and the logo beside a headline starts 0.70–1.4 heights away, so the text-block
#: order is tried at each of these and the window closest to the expected text is kept.
SEGMENT_GAPS = (0.6, 0.9, 1.5)
#: A line segment continues a text block when its top is at most this many line heights below the block's last
#: segment and the two overlap horizontally (a headline broken over lines, left-aligned or centred).
BLOCK_LEADING = 0.8


def block_order(words: list[Word], segment_gap: float = SEGMENT_GAPS[0]) -> list[Word]:
    """``words`` (in row-major reading order) regrouped by text block: each block's words in order, blocks in
    the order of their first word. Row-major order interleaves columns — a two-line headline with the logo beside
    its first line reads "Blue ‹logo› Plimsolls" — which puts other text inside the expected one; blocks keep
    "Blue Plimsolls" together. A block is a column of line segments (words of one row at most ``segment_gap`` word
    heights apart, :data:`SEGMENT_GAPS`; each segment starting at most :data:`BLOCK_LEADING` line heights below the
    last and overlapping it horizontally), the way layout analysis groups text (Tesseract's page segmentation does
    this for its own reading).

    Args:
        words: OCR words with ``box`` ``(x0, y0, x1, y1)`` in image pixels, in row-major reading order.
        segment_gap: the largest gap between words of one segment, in word heights.

    Returns:
        The same words, reordered; unchanged when there are fewer than three.
    """
    if len(words) < 3:
        return words
    segments: list[list[Word]] = []
    for w in words:
        if segments:
            last = segments[-1][-1]
            h = max(1, last.box[3] - last.box[1], w.box[3] - w.box[1])
            centre = (w.box[1] + w.box[3]) / 2
            if last.box[1] <= centre <= last.box[3] and 0 <= w.box[0] - last.box[2] + h // 4 and \
                    w.box[0] - last.box[2] <= segment_gap * h:
                segments[-1].append(w)
                continue
        segments.append([w])
    blocks: list[list[list[Word]]] = []
    last_box: list[tuple[int, int, int, int]] = []  # per block, the box of its last segment
    for seg in segments:
        x0, y0 = min(w.box[0] for w in seg), min(w.box[1] for w in seg)
        x1, y1 = max(w.box[2] for w in seg), max(w.box[3] for w in seg)
        for i, (px0, py0, px1, py1) in enumerate(last_box):
            ph = max(1, py1 - py0)
            if min(x1, px1) > max(x0, px0) and -ph / 2 <= y0 - py1 <= BLOCK_LEADING * ph:
                blocks[i].append(seg)
                last_box[i] = (x0, y0, x1, y1)
                break
        else:
            blocks.append([seg])
            last_box.append((x0, y0, x1, y1))
    return [w for block in blocks for seg in block for w in seg]


def _is_stray(t: Token) -> bool:
    """A single non-digit glyph read from an edge or texture (``|``, ``a`` …): not evidence of extra text."""
    return len(t.key) <= 1 and not t.key.isdigit()


def is_rtl(text: str) -> bool:
    """True when most letters of ``text`` are right-to-left (Unicode bidi class ``R`` or ``AL``: Arabic, Hebrew…)."""
    classes = [unicodedata.bidirectional(c) for c in text if c.isalpha()]
    return bool(classes) and sum(c in ("R", "AL") for c in classes) * 2 > len(classes)


def reading_order(words: list[Word], rtl: bool) -> list[Word]:
    """``words`` in reading order: lines top to bottom (a word joins a line when its vertical centre lies within the
    line's first word's box), each line right to left when ``rtl``. Tesseract returns an Arabic line's words in
    visual left-to-right order; the expected text is in logical order."""
    if not rtl or len(words) < 2:
        return words
    lines: list[list[Word]] = []
    for w in sorted(words, key=lambda w: (w.box[1] + w.box[3]) / 2):
        centre = (w.box[1] + w.box[3]) / 2
        if lines and lines[-1][0].box[1] <= centre <= lines[-1][0].box[3]:
            lines[-1].append(w)
        else:
            lines.append([w])
    return [w for line in lines for w in sorted(line, key=lambda w: -w.box[2])]


def compare_reading(expected: str, words: list[Word], engine: str = "tesseract", *, window: bool = False,
                    lang: str = "eng") -> TokenReading:
    """Compare one expected string with one engine's reading, token by token.

    Args:
        expected: the exact text the image must say.
        words: the engine's words in reading order (a region's words, or the whole image's).
        engine: ``"tesseract"`` or ``"rapidocr"`` (decides which characters count as unreadable,
            :data:`ENGINE_SCRIPTS`).
        lang: the Tesseract languages the words were read with (``'ara+eng'``); decides, with ``engine``,
            which scripts can be verified.
        window: the words are a whole-image reading: compare only the best-matching run of tokens
            (:func:`_best_window`; for ``rapidocr`` also in :func:`block_order`); otherwise every read token must
            belong to the expected text.

    Returns:
        :class:`TokenReading` with one :class:`Finding` per expected token in order, then the extras.
    """
    exp_all = tokenise(expected)
    rtl = is_rtl(expected)
    read = _readable_tokens(reading_order(words, rtl), engine, lang)
    findings: list[Finding] = []
    exp: list[tuple[int, Token]] = []
    for i, t in enumerate(exp_all):
        bad = unreadable_chars(t.raw, engine, lang)
        if bad and not "".join(c for c in t.raw if c not in bad).strip(_STRIP):
            findings.append(Finding(i, t.raw, "", "unverifiable",
                                    f"{t.raw!r} cannot be verified: the {engine} OCR languages do not read "
                                    f"{describe_chars(bad)}"))
            continue
        if bad:  # check what can be read; say what cannot
            kept = "".join(c for c in t.raw if c not in bad)
            findings.append(Finding(None, t.raw, "", "unverifiable",
                                    f"in {t.raw!r} the {engine} OCR languages do not read {describe_chars(bad)}: "
                                    f"only {kept!r} is verified"))
            t = Token(kept, kept.casefold())
        exp.append((i, t))
    unreadable = len(findings) > sum(f.index is None for f in findings)  # a whole token cannot be read
    price_signs = {i for i in range(len(exp_all)) if _is_price_currency(exp_all, i)}  # currency rule: compare_currency
    if window:  # the closest run in reading order or, for RapidOCR's row-major lines, also in text-block order
        key = " ".join(t.key for _, t in exp)
        score, read = _best_window(read, len(exp), key)
        # Tesseract's words come in its own page-layout order (blocks, then lines); regrouping its noisy whole-image
        # readings only offers more runs to match by chance (on the text bench's half A a near-miss's digit was found
        # in Tesseract's noise that way, and the engines "disagreed" where RapidOCR alone failed it).
        for gap in SEGMENT_GAPS if engine == "rapidocr" and not rtl else ():
            if score >= 1.0:
                break
            score_blocks, read_blocks = _best_window(_readable_tokens(block_order(words, gap), engine, lang), len(exp), key)
            if score_blocks > score:
                score, read = score_blocks, read_blocks
    ek, rk = [_canon_word(t.key) for _, t in exp], [_canon_word(t.key) for t in read]
    ops = list(Levenshtein.opcodes(ek, rk))
    k = 0
    while k < len(ops):
        op = ops[k]
        if op.tag == "equal":
            for a, b in zip(range(op.src_start, op.src_end), range(op.dest_start, op.dest_end)):
                i, e = exp[a]
                status, why = (compare_currency if i in price_signs else compare_token)(e, read[b])
                findings.append(Finding(i, e.raw, read[b].raw, status, why))
            k += 1
            continue
        block = [op]  # consecutive edits form one block: tokens split or merged by the OCR compare joined
        while k + 1 < len(ops) and ops[k + 1].tag != "equal":
            k += 1
            block.append(ops[k])
        k += 1
        s0, s1 = block[0].src_start, block[-1].src_end
        d0, d1 = block[0].dest_start, block[-1].dest_end
        if s1 > s0 and d1 > d0 and (s1 - s0 != d1 - d0):
            e_join, r_join = "".join(exp[a][1].key for a in range(s0, s1)), "".join(read[b].key for b in range(d0, d1))
            digits_same = re.sub(r"\D", "", e_join) == re.sub(r"\D", "", r_join)
            if digits_same and _canon_word(e_join) == _canon_word(r_join):
                r_raw = " ".join(read[b].raw for b in range(d0, d1))
                status = "exact" if e_join == r_join else "noise"
                for a in range(s0, s1):
                    i, e = exp[a]
                    findings.append(Finding(i, e.raw, r_raw, status, "" if status == "exact" else
                                            f"{r_raw!r} is probably {e.raw!r} misread by the OCR (split/merged words)"))
                continue
        for sub in block:
            srcs, dsts = range(sub.src_start, sub.src_end), range(sub.dest_start, sub.dest_end)
            if sub.tag == "replace":
                for a, b in zip(srcs, dsts):
                    i, e = exp[a]
                    status, why = (compare_currency if i in price_signs else compare_token)(e, read[b])
                    findings.append(Finding(i, e.raw, read[b].raw, status, why))
            elif sub.tag == "delete":
                for a in srcs:
                    i, e = exp[a]
                    findings.append(Finding(i, e.raw, "", "missing", f"{e.raw!r} is not in the image"))
            else:  # insert
                for b in dsts:
                    t = read[b]
                    if any(c in TOFU_CHARS for c in t.key):
                        findings.append(Finding(None, "", t.raw, "tofu", f"a missing-glyph box (tofu) {t.raw!r} is in the text"))
                    elif not _is_stray(t) and not unreadable:  # an unreadable token reads as anything
                        findings.append(Finding(None, "", t.raw, "extra",
                                                f"the image also says {t.raw!r}, which the expected text does not have"))
    findings.sort(key=lambda f: (f.index if f.index is not None else 10**6))
    read_text = " ".join(t.piece or t.raw for t in read)
    p, r = word_precision_recall(read_text, expected)
    return TokenReading(engine, read_text, tuple(findings), ned(read_text, expected), p, r)


def _readable_tokens(words: list[Word], engine: str, lang: str) -> list[Token]:
    """The tokens of ``words`` with the characters ``engine`` cannot read dropped (tofu boxes kept), as the expected
    text's are; tokens left empty are dropped."""
    read = []
    for t in tokens_of_words(words):
        bad = [c for c in unreadable_chars(t.raw, engine, lang) if c not in TOFU_CHARS]
        if bad:
            raw = "".join(c for c in t.raw if c not in bad)
            if not raw:
                continue
            t = Token(raw, raw.casefold(), t.conf, t.piece)
        read.append(t)
    return read


# --------------------------------------------------------------------------- several engines → one decision
@dataclass(frozen=True)
class TextDecision:
    """The decision for one expected string over one or more engine readings.

    Attributes:
        expected: the expected string.
        verdict: ``pass`` (every token exact in some reading, no reading contradicts), ``warn`` (engine noise,
            engines disagree, or parts the OCR cannot read), ``fail`` (the image says something else).
        reasons: plain-language reasons for a warn or fail, one per token problem.
        readings: the per-engine comparisons the decision used.
    """

    expected: str
    verdict: Verdict
    reasons: tuple[str, ...]
    readings: tuple[TokenReading, ...] = field(default=())

    @property
    def read(self) -> str:
        """The best reading's matched text (highest NED)."""
        return max(self.readings, key=lambda r: r.ned).read if self.readings else ""

    @property
    def ned(self) -> float:
        """The highest NED over the readings (AnyText's metric; for comparison with the literature)."""
        return max((r.ned for r in self.readings), default=0.0)


_RANK: dict[Verdict, int] = {"pass": 0, "warn": 1, "fail": 2}


def combine(expected: str, readings: list[TokenReading]) -> TextDecision:
    """Combine per-token findings of several engines reading the same text into one :class:`TextDecision`.

    Per expected token: ``tofu`` anywhere → fail; every reading ``exact`` → fine; some ``exact``, the rest
    ``noise`` → fine (agreement); some ``exact`` and some ``mismatch``/``missing`` → warn ("engines disagree");
    only ``noise`` (or ``noise`` and ``mismatch``) → warn; only ``mismatch``/``missing`` → fail.
    ``unverifiable`` → warn. An ``extra`` token read by every engine → fail, by some → warn.
    """
    if not readings:
        return TextDecision(expected, "fail", (f"{expected!r}: nothing was read",), ())
    best = max(readings, key=lambda r: r.ned)
    if best.ned < NOT_FOUND_NED and not any(f.status in ("unverifiable", "tofu") for r in readings for f in r.findings):
        return TextDecision(expected, "fail", (f"not found in the image (closest reading {best.read!r}, NED {best.ned:.2f})",),
                            tuple(readings))
    reasons: list[str] = []
    verdict: Verdict = "pass"

    def worse(v: Verdict, why: str) -> None:
        nonlocal verdict
        reasons.append(why)
        if _RANK[v] > _RANK[verdict]:
            verdict = v

    by_index: dict[int, list[tuple[str, Finding]]] = {}
    notes: dict[str, None] = {}
    unverified: dict[int, str] = {}  # whole tokens an engine cannot read: a warn unless another engine read them
    extras: dict[str, list[tuple[str, Finding]]] = {}
    for rd in readings:
        for f in rd.findings:
            if f.status == "unverifiable" and f.index is not None:
                unverified.setdefault(f.index, f.reason)
            elif f.status == "unverifiable":
                notes.setdefault(f.reason)
            elif f.index is None:
                extras.setdefault(f.read.casefold(), []).append((rd.engine, f))
            else:
                by_index.setdefault(f.index, []).append((rd.engine, f))
    for index, why in unverified.items():
        if index not in by_index:
            notes.setdefault(why)
    for why in notes:
        worse("warn", why)
    for _index, found in sorted(by_index.items()):
        statuses = [f.status for _, f in found]
        if "tofu" in statuses:
            worse("fail", next(f.reason for _, f in found if f.status == "tofu"))
        elif all(s == "exact" for s in statuses):
            continue
        elif "exact" in statuses and all(s in ("exact", "noise") for s in statuses):
            continue
        elif "exact" in statuses:
            said = "; ".join(f"{eng} reads {f.read or 'nothing'!r}" for eng, f in found)
            worse("warn", f"the OCR engines disagree on {found[0][1].expected!r} ({said}): check it")
        elif "noise" in statuses:
            worse("warn", next(f.reason for _, f in found if f.status == "noise"))
        else:
            worse("fail", found[0][1].reason)
    for _key, found in extras.items():
        if any(f.status == "tofu" for _, f in found):
            worse("fail", found[0][1].reason)
        elif len({eng for eng, _ in found}) == len(readings):
            worse("fail", found[0][1].reason)
        else:
            worse("warn", found[0][1].reason + f" (only {found[0][0]} reads it)")
    return TextDecision(expected, verdict, tuple(reasons), tuple(readings))


def decide(expected: str, readings: dict[str, list[Word]], *, window: bool = False) -> TextDecision:
    """Does the image say exactly ``expected``? ``readings`` maps engine name (``"tesseract"``, ``"rapidocr"``)
    → its words in reading order (a region's, or the whole image's with ``window=True``). See :func:`combine`."""
    return combine(expected, [compare_reading(expected, words, engine, window=window) for engine, words in readings.items()])


# --------------------------------------------------------------------------- literature metrics
def ned(read: str, expected: str) -> float:
    """Normalised edit-distance similarity 1 − Levenshtein / max(len) of the normalised strings (AnyText's NED).

    Returns a float in [0, 1]; 1.0 when both normalise to the empty string.
    """
    return float(Levenshtein.normalized_similarity(normalise_text(read), normalise_text(expected)))


def word_precision_recall(read: str, expected: str) -> tuple[float, float]:
    """Multiset word precision and recall of ``read`` against ``expected`` (normalised, split on spaces).

    Returns ``(precision, recall)`` in [0, 1]; precision is 1.0 when nothing was read, recall 1.0 when
    nothing was expected.
    """
    r, e = Counter(normalise_text(read).split()), Counter(normalise_text(expected).split())
    hit = sum((r & e).values())
    return (hit / sum(r.values()) if r else 1.0), (hit / sum(e.values()) if e else 1.0)


__all__ = [
    "ENGINE_SCRIPTS", "LOW_CONF", "TESSERACT_LANG_SCRIPTS", "engine_scripts", "TOFU_CHARS", "Finding", "TextDecision", "Token", "TokenReading", "combine",
    "compare_currency", "compare_numbers", "compare_reading", "currency_codes", "compare_token", "compare_words", "decide", "describe_chars", "is_real_word",
    "ned", "normalise_text", "tokenise", "tokens_of_words", "unreadable_chars", "word_precision_recall", "is_rtl", "reading_order",
]
