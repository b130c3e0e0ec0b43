"""Markets: a campaign's BCP 47 locale (``de-DE``, ``ar-SA``, ``ja-JP``) → prices in CLDR style, the language
text is shaped and hyphenated for, and the Tesseract languages OCR QA reads it with.

Prices come from Babel (the Unicode CLDR data): ``format_price(Decimal('35'), 'EUR', 'de-DE') == '35,00 €'``,
``'ar-SA'`` uses Arabic-Indic digits and the right-to-left currency pattern, ``'ja-JP'`` has no decimals for JPY.
"""

from __future__ import annotations

from decimal import Decimal

#: Tesseract traineddata per language (Debian ``tesseract-ocr-<code>``); English is always added for
#: Latin-script brand names and prices inside other scripts.
TESSERACT = {"en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "ar": "ara", "he": "heb",
             "ja": "jpn", "zh": "chi_sim", "ko": "kor", "hi": "hin", "th": "tha"}


def check_locale(tag: str) -> str:
    """``tag`` normalised to ``ll-CC`` form when Babel (CLDR) knows it.

    Raises:
        ValueError: not a locale CLDR knows (names the tag and an example).
    """
    from babel import Locale, UnknownLocaleError

    try:
        loc = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"unknown locale {tag!r}: use a BCP 47 tag such as 'de-DE', 'ar-SA' or 'ja-JP'") from None
    return f"{loc.language}-{loc.territory}" if loc.territory else loc.language


def language(tag: str | None) -> str | None:
    """The primary language subtag (``'ar-SA'`` → ``'ar'``), or ``None``."""
    return tag.split("-")[0].lower() if tag else None


def format_price(amount: Decimal, currency: str, tag: str) -> str:
    """``amount`` of ``currency`` (ISO 4217) written as the locale writes prices (CLDR currency pattern, digits,
    separators and the currency's decimals), e.g. ``'35,00 €'`` for de-DE."""
    from babel.numbers import format_currency

    return format_currency(amount, currency, locale=tag.replace("-", "_"))


def tesseract_lang(tag: str | None) -> str:
    """Tesseract's ``-l`` value for a locale: its language's traineddata plus English (``'ara+eng'``);
    ``'eng'`` without a locale or for a language without a known pack."""
    code = TESSERACT.get(language(tag) or "en", "eng")
    return code if code == "eng" else f"{code}+eng"
