"""Markets: a campaign's BCP 47 locale (``de-DE``, ``ar-SA``, ``ja-JP``) → prices in CLDR style, the language
text is shaped and hyphenated for, and the Tesseract languages OCR QA reads it with.

Prices come from Babel (the Unicode CLDR data): ``format_price(Decimal('35'), 'EUR', 'de-DE') == '35,00 €'``,
``'ar-SA'`` uses Arabic-Indic digits and the right-to-left currency pattern, ``'ja-JP'`` has no decimals for JPY.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from functools import lru_cache

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
        from babel.localedata import locale_identifiers

        from brandflow.errors import did_you_mean

        near = did_you_mean(str(tag), [i.replace("_", "-") for i in locale_identifiers() if i.count("_") == 1], cutoff=70)
        raise ValueError(f"unknown locale {tag!r}{near}: use a BCP 47 language-COUNTRY tag CLDR knows, such as 'de-DE', "
                         "'ar-SA' or 'ja-JP'") from None
    return f"{loc.language}-{loc.territory}" if loc.territory else loc.language


def language(tag: str | None) -> str | None:
    """The primary language subtag (``'ar-SA'`` → ``'ar'``), or ``None``."""
    return tag.split("-")[0].lower() if tag else None


def currencies(tag: str | None) -> list[str]:
    """The ISO 4217 currencies in use today in the locale's country (CLDR territory data via Babel), e.g.
    ``['EUR']`` for de-DE; ``[]`` without a locale or a country."""
    if not tag or "-" not in tag:
        return []
    from babel.numbers import get_territory_currencies

    return list(get_territory_currencies(tag.split("-")[-1].upper()))


def format_price(amount: Decimal, currency: str, tag: str) -> str:
    """``amount`` of ``currency`` (ISO 4217) written as the locale writes prices (CLDR currency pattern, digits,
    separators and the currency's decimals), e.g. ``'35,00 €'`` for de-DE."""
    from babel.numbers import format_currency

    return format_currency(amount, currency, locale=tag.replace("-", "_"))


@lru_cache(maxsize=1)
def installed_tesseract_langs() -> frozenset[str] | None:
    """The traineddata names ``tesseract --list-langs`` reports (``{'eng', 'ara', …}``), or ``None`` when the CLI
    cannot be run (then nothing is assumed missing). Asked once per process."""
    cmd = shutil.which("tesseract")
    if cmd is None:
        return None
    try:
        out = subprocess.run([cmd, "--list-langs"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    names = [ln.strip() for ln in out.stdout.splitlines()[1:] if re.fullmatch(r"[A-Za-z0-9_]+", ln.strip())]
    return frozenset(names) or None


def tesseract_lang(tag: str | None) -> str:
    """Tesseract's ``-l`` value for a locale: its language's traineddata plus English (``'ara+eng'``);
    ``'eng'`` without a locale, for a language without a known pack, or when that pack is not installed (see
    :func:`ocr_note`: text QA then says the script is not verifiable instead of failing on a misread)."""
    code = TESSERACT.get(language(tag) or "en", "eng")
    installed = installed_tesseract_langs()
    if code == "eng" or (installed is not None and code not in installed):
        return "eng"
    return f"{code}+eng"


def ocr_note(tag: str | None) -> str | None:
    """What a reviewer should know about how OCR QA reads ``tag``'s text, or ``None`` when its own language pack
    reads it: no Tesseract pack known for the language, or the pack is not installed (with the package to install)."""
    lang = language(tag)
    if tag is None or lang == "en":
        return None
    code = TESSERACT.get(lang or "")
    if code is None:
        return f"OCR reads {tag} text with English only: brandflow knows no Tesseract pack for {lang!r}"
    installed = installed_tesseract_langs()
    if installed is not None and code not in installed:
        package = "tesseract-ocr-" + code.replace("_", "-").lower()
        return (f"OCR reads {tag} text with English only: Tesseract's {code!r} pack is not installed "
                f"(apt-get install -y {package}); its words in other scripts are left to the reviewer")
    return None
