"""Product feed → ``Product[]`` + ``Rejection[]``: the catalogue stage.

A feed is CSV, JSON or JSONL with Google Merchant Center column names (``id, title, description,
product_type, price, image_link, additional_image_link``); :attr:`FeedSpec.columns` maps a field to
another column name. The whole feed is read; a bad *row* becomes a :class:`Rejection` (row number,
field, reason), a bad *feed* (missing file, missing column, unparseable JSON) raises
:class:`~brandflow.errors.SpecError`.

Conventions:

* **Row numbers** are 1-based *data records*, header excluded: the first product of a CSV is row 1
  (it sits on line 2 when no field spans lines); in JSON it is the first array element; in JSONL the
  first non-blank line. ``Product.row`` and ``Rejection.row`` use the same numbering.
* **Text cleaning** (title, description, product_type): HTML is parsed with the stdlib
  :class:`html.parser.HTMLParser` — tags dropped (``<script>``/``<style>`` content too, block tags
  such as ``<p>``/``<br>`` become a space), entities decoded once (``&amp;`` → ``&``, ``&nbsp;`` →
  space), control characters turned into spaces, runs of whitespace collapsed to one space, ends stripped.
  Typographic characters (curly quotes ``’ “ ”``, dashes, accents) are valid text and kept as they
  are. A double-escaped entity (``&amp;nbsp;``) is decoded once only, to ``&nbsp;`` — fix the feed.
  Text is read as HTML, as a browser would: ``5 < 6`` survives, but ``a<b c>`` is a tag and is dropped.
* **Ids** are used as written (surrounding whitespace stripped); object-store keys are sanitised at
  publish time, not here. An id with control characters is rejected.
* **Prices** must name a currency (ISO 4217 code or one of ``$ € £ ¥``); see :func:`parse_price`.
* **Images** are local files inside one folder, ``feed.images_dir`` (default: the feed's folder): relative paths
  resolve against it; ``../``, absolute paths and ``file://`` URLs that leave it are rejected (:class:`ImageRoot`:
  a feed names packshots, not places on the worker); ``http(s)://`` URLs are rejected (no network access). Each image is checked cheaply
  (header, pixel limit, and for PNG a full chunk/CRC walk that catches truncation) without decoding
  pixels. A row whose primary image is unusable is rejected; an unusable *additional* image is
  dropped from the product and logged as a warning on the ``brandflow.feed.catalog`` logger.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from brandflow.errors import ImageError, SpecError
from brandflow.imageio import verify_image
from brandflow.once import OncePerKey
from brandflow.records import Money, Product, Rejection, sha256_file
from brandflow.spec import FeedFilter, FeedSpec

log = logging.getLogger(__name__)

#: Product fields and their default (Google Merchant Center) column names.
DEFAULT_COLUMNS: dict[str, str] = {
    "id": "id",
    "title": "title",
    "description": "description",
    "product_type": "product_type",
    "price": "price",
    "image_link": "image_link",
    "additional_image_link": "additional_image_link",
}
#: Fields whose column must be in the feed's header (or keys, for JSON).
REQUIRED_FIELDS = ("id", "title", "image_link")
#: Currency symbols accepted in prices, and the ISO 4217 code each stands for (``¥`` is read as JPY).
CURRENCY_SYMBOLS: dict[str, str] = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}

_REMOTE_IMAGE = "remote image URLs are not fetched; download packshots and point image_link at files"


# --------------------------------------------------------------------------- errors
class RowError(ValueError):
    """A row-level problem: becomes a :class:`Rejection` with ``field`` and ``reason``."""

    def __init__(self, field: str | None, reason: str):
        super().__init__(reason)
        self.field, self.reason = field, reason


# --------------------------------------------------------------------------- text
class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "template"}
    _BLOCK = {"br", "p", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "section"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: Any) -> None:
        if tag in self._BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


_WS = re.compile(r"\s+")


def clean_text(value: str) -> str:
    """Turn feed text (possibly HTML) into one line of plain text.

    Args:
        value: raw text from the feed.

    Returns:
        Text with tags removed, entities decoded once (``&nbsp;`` → space), control characters turned
        into spaces, whitespace collapsed and stripped. Curly quotes and other typography are kept.
    """
    if "<" in value or "&" in value:
        parser = _TextExtractor()
        parser.feed(value)
        parser.close()
        value = "".join(parser.parts)
    # \xa0 (from &nbsp;) and other Unicode spaces are matched by \s; control characters are not.
    value = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in value)
    return _WS.sub(" ", value).strip()


# --------------------------------------------------------------------------- prices
_CODE = r"[A-Za-z]{3}"
_SYM = "[" + re.escape("".join(CURRENCY_SYMBOLS)) + "]"
_NUM = r"[0-9][0-9.,'\u00a0\u202f ]*"
_PRICE_RES = [
    # amount first: "10.00 USD", "10,50 €", "-5 EUR"
    re.compile(rf"^(?P<sign>[-−]?)\s*(?P<sym1>{_SYM})?\s*(?P<num>{_NUM}?)\s*(?P<code>{_CODE})?\s*(?P<sym2>{_SYM})?$"),
    # code or symbol first: "USD 10.00", "$10", "€ -5"
    re.compile(rf"^(?P<code>{_CODE})?\s*(?P<sym1>{_SYM})?\s*(?P<sign>[-−]?)\s*(?P<num>{_NUM}?)$"),
]
_THOUSANDS_SPACE = "'\u00a0\u202f "


#: ISO 4217 currencies without a minor unit: "1,000 JPY" can only mean one thousand.
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "PYG", "UGX", "XAF", "XOF"})


def _parse_number(num: str, currency: str) -> Decimal:
    """Parse ``1,234.56`` / ``1.234,56`` / ``1 234,56`` / ``10,50`` / ``10`` into a Decimal."""
    num = num.strip()
    space_seps = [c for c in _THOUSANDS_SPACE if c in num]  # spaces/apostrophes only ever group thousands
    dots, commas = num.count("."), num.count(",")
    dec: str | None
    thou: str | None
    if dots and commas:
        dec = "." if num.rfind(".") > num.rfind(",") else ","
        thou = "," if dec == "." else "."
        if num.count(dec) > 1:
            raise ValueError(f"'{num}' has two decimal marks")
    elif dots + commas == 1:
        sep = "." if dots else ","
        if len(num.rsplit(sep, 1)[1]) == 3:
            if currency not in ZERO_DECIMAL_CURRENCIES:
                raise ValueError(f"'{num}' is ambiguous ('{sep}' could group thousands or mark decimals)")
            dec, thou = None, sep
        else:
            dec, thou = sep, None
    elif dots + commas > 1:
        dec, thou = None, ("." if dots else ",")
    else:
        dec = thou = None
    intpart, frac = num.rsplit(dec, 1) if dec else (num, "")
    seps = ([thou] if thou else []) + space_seps
    if seps:
        groups = re.split("[" + re.escape("".join(seps)) + "]", intpart)
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            raise ValueError(f"'{num}' has misplaced thousands separators")
        intpart = "".join(groups)
    if not intpart.isdigit() or (dec and not frac.isdigit()):
        raise ValueError(f"'{num}' is not a number")
    if len(frac) > 2:
        raise ValueError(f"'{num}' has more than 2 decimals")
    return Decimal(f"{intpart}.{frac}" if frac else intpart)


def parse_price(value: Any) -> Money:
    """Parse a feed price into :class:`Money`.

    Accepted forms (whitespace optional): ``"10.00 USD"``, ``"USD 10.00"``, ``"$10"``, ``"10 €"``,
    ``"10,50 EUR"``, ``"1.234,56 EUR"``, ``"1,234.56 USD"``, ``"1 234,56 EUR"``, ``"1'234.50 CHF"``,
    and in JSON feeds an object ``{"value": "10.00", "currency": "USD"}`` (Content API form).
    The last ``.``/``,`` is the decimal mark when both appear; a single separator followed by exactly
    three digits (``"1,234 USD"``) is ambiguous and refused, except for currencies without a minor
    unit (``"¥1,000"`` is 1000 JPY). At most 2 decimals. Symbols: ``$`` USD, ``€`` EUR, ``£`` GBP,
    ``¥`` JPY; a code is upper-cased. Any three letters are taken as the code (not checked
    against the ISO list).

    Args:
        value: the raw feed value (``str``, or ``dict`` from JSON).

    Returns:
        ``Money(amount: Decimal ≥ 0, currency: 'ISO')``.

    Raises:
        RowError: (``field='price'``) no currency, negative, conflicting symbol/code, or not a number.
    """
    fix = "write it as '10.00 USD' (ISO 4217)"
    if isinstance(value, dict):
        amount = value.get("value", value.get("amount"))
        currency = value.get("currency")
        if amount is None or currency is None:
            raise RowError("price", f"price object needs 'value' and 'currency'; {fix}")
        value = f"{amount} {currency}"
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise RowError("price", f"price must be text like '10.00 USD', got {type(value).__name__}")
    text = clean_text(str(value))
    match = next((m for r in _PRICE_RES if (m := r.match(text)) and m["num"]), None)
    if match is None:
        raise RowError("price", f"price {text!r} is not a price; {fix}")
    m = {"sym2": None, **match.groupdict()}
    sym = m["sym1"] or m["sym2"]
    if m["sym1"] and m["sym2"]:
        raise RowError("price", f"price {text!r} has two currency symbols; {fix}")
    code = m["code"].upper() if m["code"] else None
    if sym and code and CURRENCY_SYMBOLS[sym] != code:
        raise RowError("price", f"price {text!r}: symbol {sym} ({CURRENCY_SYMBOLS[sym]}) disagrees with {code}; {fix}")
    currency = code or (CURRENCY_SYMBOLS[sym] if sym else None)
    if currency is None:
        raise RowError("price", f"price {text!r} has no currency; {fix}")
    try:
        amount = _parse_number(m["num"], currency)
    except (ValueError, InvalidOperation) as e:
        raise RowError("price", f"price {text!r}: {e}; {fix}") from None
    if m["sign"]:
        raise RowError("price", f"price {text!r} is negative; prices must be ≥ 0")
    return Money(amount=amount, currency=currency)


# --------------------------------------------------------------------------- images
#: A feed's images are checked without decoding their pixels where the format allows (PNG).
check_image = verify_image


@dataclass(frozen=True)
class ImageRoot:
    """The one folder a feed's image references may name files in: ``feed.images_dir`` (the campaign file's
    choice) or else the feed's own folder. A feed comes from another party (a PIM, a marketing system): it names
    packshots, it does not choose folders, so ``../``, an absolute path or a ``file://`` URL elsewhere on the worker
    is refused instead of being read and pasted into a published creative (anything the worker can read, another
    client's assets included). The check is on the reference as written (lexical, after normalising ``..``), so
    symlinks that whoever owns the folder put *inside* it still work.

    Attributes:
        path: the folder as given, made absolute (not resolved); ``real``: the same with symlinks resolved (an
            absolute reference may name either).
    """

    path: Path
    real: Path

    @classmethod
    def of(cls, folder: Path) -> ImageRoot:
        """The root for ``folder`` (``feed.images_dir``, or the feed file's folder)."""
        path = Path(os.path.abspath(folder))
        return cls(path, path.resolve())

    def holds(self, candidate: Path) -> bool:
        """Whether the absolute, normalised ``candidate`` lies inside this folder (either spelling)."""
        return any(candidate == root or root in candidate.parents for root in (self.path, self.real))


def _resolve_image(ref: str, root: ImageRoot, field: str) -> Path:
    """An image reference from the feed → an absolute local path with symlinks resolved (no existence check).

    Raises:
        RowError: a remote or unsupported URL, or a reference outside ``root`` (:class:`ImageRoot`).
    """
    scheme = urlsplit(ref).scheme.lower()
    if scheme in ("http", "https"):
        raise RowError(field, _REMOTE_IMAGE)
    if scheme == "file":
        ref = url2pathname(urlsplit(ref).path)
    elif "://" in ref:
        raise RowError(field, f"unsupported image URL {ref!r}; point {field} at a local file")
    candidate = Path(os.path.normpath(root.path / ref))  # an absolute ref replaces the root (pathlib join)
    if not root.holds(candidate):
        raise RowError(field, f"{ref!r} is outside the feed's image folder {root.path}: a feed names files in that folder, "
                              "never elsewhere on the machine. Fix: copy the image into that folder, or set feed.images_dir "
                              "in the campaign to a folder that holds the catalogue's images")
    return candidate.resolve()


# --------------------------------------------------------------------------- reading
@dataclass
class FeedRows:
    """The raw content of a feed, before validation.

    Attributes:
        path: the feed file.
        format: ``'csv' | 'json' | 'jsonl'`` (resolved from ``auto``).
        columns: column names found (CSV header; for JSON the union of object keys, in first-seen order).
        rows: ``(row number, record)`` pairs; a record is a dict, or a :class:`RowError` when the
            record itself is unreadable (a JSONL line that is not JSON, a non-object array item, a CSV
            row with more fields than the header).
    """

    path: Path
    format: str
    columns: list[str]
    rows: list[tuple[int, dict[str, Any] | RowError]] = field(default_factory=list)


def _feed_format(feed: FeedSpec) -> str:
    if feed.format != "auto":
        return feed.format
    suffix = feed.path.suffix.lower()
    fmt = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix)
    if fmt is None:
        raise SpecError(
            feed.path, "feed.format", f"cannot tell the feed format from the suffix {suffix!r}",
            "set feed.format: csv, json or jsonl",
        )
    return fmt


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SpecError(path, "feed.path", "file not found", "point feed.path at a CSV, JSON or JSONL product feed") from None
    except IsADirectoryError:
        raise SpecError(path, "feed.path", "is a folder", "point feed.path at a CSV, JSON or JSONL file") from None
    except UnicodeDecodeError as e:
        raise SpecError(path, None, f"not UTF-8 text (bad byte at offset {e.start})", "re-export the feed as UTF-8") from None


def _read_csv(path: Path, text: str) -> FeedRows:
    header_line = text.split("\n", 1)[0]
    delimiter = "\t" if ("\t" in header_line and "," not in header_line) else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise SpecError(path, None, "the feed is empty (no header row)", "add a header row with id, title, image_link …")
        header = [h.strip() for h in header]
        out = FeedRows(path, "csv", header)
        n = 0
        for values in reader:
            if not values or not any(v.strip() for v in values):
                continue  # blank line: not a record
            n += 1
            if len(values) > len(header):
                out.rows.append((n, RowError(None, (
                    f"row has {len(values)} fields but the header has {len(header)}; "
                    "quote fields that contain the delimiter"))))
                continue
            out.rows.append((n, dict(zip(header, values + [""] * (len(header) - len(values))))))
    except csv.Error as e:
        raise SpecError(path, f"line {reader.line_num}", f"not valid CSV ({e})", "fix the quoting on that line") from None
    return out


def _columns_of(records: list[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for r in records:
        if isinstance(r, dict):
            seen.update(dict.fromkeys(r))
    return list(seen)


def _read_json(path: Path, text: str) -> FeedRows:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(path, f"line {e.lineno}, column {e.colno}", f"not valid JSON ({e.msg})", "fix the JSON syntax") from None
    if isinstance(data, dict) and isinstance(data.get("products"), list):
        data = data["products"]
    if not isinstance(data, list):
        raise SpecError(path, None, "expected a JSON array of products or an object {\"products\": [...]}",
                        "wrap the products in a list")
    out = FeedRows(path, "json", _columns_of(data))
    for n, item in enumerate(data, start=1):
        out.rows.append((n, item if isinstance(item, dict) else RowError(None, f"expected a JSON object, got {type(item).__name__}")))
    return out


def _read_jsonl(path: Path, text: str) -> FeedRows:
    records: list[Any] = []
    n = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        n += 1
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            records.append((n, RowError(None, f"line {lineno} is not valid JSON ({e.msg}, column {e.colno})")))
            continue
        records.append((n, item if isinstance(item, dict) else RowError(None, f"line {lineno}: expected a JSON object, got {type(item).__name__}")))
    out = FeedRows(path, "jsonl", _columns_of([r for _, r in records]))
    out.rows = records
    return out


def read_feed_rows(feed: FeedSpec) -> FeedRows:
    """Read a feed file into raw records, checking only the file and its header.

    Args:
        feed: the feed spec (``path`` absolute or relative to the working directory).

    Returns:
        :class:`FeedRows` with the resolved format, the columns found and every record.

    Raises:
        SpecError: file missing / not UTF-8 / not CSV or JSON / unknown format, or a required
            (or explicitly mapped) column is missing — naming the feed file, the column, the columns
            found and the ``feed.columns`` mapping that fixes it.
    """
    fmt = _feed_format(feed)
    text = _read_text(feed.path)
    rows = {"csv": _read_csv, "json": _read_json, "jsonl": _read_jsonl}[fmt](feed.path, text)
    _check_columns(feed, rows)
    return rows


def _check_columns(feed: FeedSpec, rows: FeedRows) -> None:
    found = set(rows.columns)
    needed = list(REQUIRED_FIELDS) + [f for f in feed.columns if f not in REQUIRED_FIELDS]
    for fld in needed:
        col = feed.columns.get(fld, DEFAULT_COLUMNS[fld])
        if col in found:
            continue
        listed = ", ".join(rows.columns) if rows.columns else "none"
        near = [c for c in rows.columns if c.lower().replace(" ", "_") == col.lower()]
        hint = near[0] if near else "your_column"
        mapped = f" (mapped by feed.columns.{fld})" if fld in feed.columns else ""
        raise SpecError(
            feed.path, fld,
            f"column {col!r}{mapped} not found; columns found: {listed}",
            f"map it with feed.columns: {{{fld}: {hint}}}",
        )


# --------------------------------------------------------------------------- validation
def _text(record: dict[str, Any], col: str | None, fld: str) -> str:
    if col is None:
        return ""
    v = record.get(col)
    if v is None:
        return ""
    if isinstance(v, bool) or isinstance(v, (dict, list)):
        raise RowError(fld, f"{fld} must be text, got {type(v).__name__}")
    return str(v)


def _image_refs(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise RowError("additional_image_link", "additional_image_link must be a list of paths or a comma-separated string")
        items = value
    elif isinstance(value, str):
        items = value.split(",")
    else:
        raise RowError("additional_image_link", f"additional_image_link must be text or a list, got {type(value).__name__}")
    return [s.strip() for s in items if s.strip()]


#: ``(absolute path, sha256)`` of images this process has checked: ``brandflow run`` checks the feed before Prefect
#: starts (preflight) and the flow loads it again; those very bytes are hashed (~0.3 ms), not decoded again (the
#: example's 47 WebP packshots: ~0.9 s of CPU, README "Benchmarks"). Bounded: a long-lived worker sees many catalogues.
_verified: OncePerKey[bool] = OncePerKey(4096, keep=bool)


def _check_once(path: Path, trusted: str | None = None) -> None:
    """:func:`check_image` of ``path`` unless its bytes were checked already: their sha256 is ``trusted`` (an earlier
    run's record) or this process checked them (:data:`_verified`). The file is hashed once either way.

    Raises:
        ImageError: see :func:`brandflow.imageio.verify_image`.
    """
    if not path.is_file():
        check_image(path)  # raises: missing, a folder, a FIFO or device (refused from its stat alone)
    sha = sha256_file(path)
    if sha == trusted:
        return

    def verify() -> bool:
        check_image(path)
        return sha256_file(path) == sha  # kept only if the bytes checked are the bytes hashed

    _verified.get((str(path), sha), verify)


class _ImageChecker:
    """Checks each distinct image file once per load (:func:`_check_once`: bytes an earlier run or this process
    already checked are hashed, not decoded again)."""

    def __init__(self, trusted: Mapping[str, str] | None = None) -> None:
        self.seen: dict[Path, str | None] = {}
        self.trusted = trusted or {}

    def __call__(self, path: Path) -> str | None:
        if path not in self.seen:
            try:
                _check_once(path, self.trusted.get(str(path)))
                self.seen[path] = None
            except ImageError as e:
                self.seen[path] = str(e)
        return self.seen[path]


def _product(n: int, record: dict[str, Any], cols: dict[str, str | None], root: ImageRoot, check: _ImageChecker, source: str) -> Product:
    raw_id = _text(record, cols["id"], "id").strip()
    if not raw_id:
        raise RowError("id", "id is missing or blank; every product needs a unique id")
    bad = [f"U+{ord(c):04X}" for c in raw_id if unicodedata.category(c) == "Cc"]
    if bad:
        raise RowError("id", f"id contains control characters ({', '.join(dict.fromkeys(bad))}); remove them from the feed")
    title = clean_text(_text(record, cols["title"], "title"))
    if not title:
        raise RowError("title", "title is missing or blank")
    description = clean_text(_text(record, cols["description"], "description"))
    product_type = clean_text(_text(record, cols["product_type"], "product_type"))

    price = None
    if cols["price"] is not None:
        raw_price = record.get(cols["price"])
        if raw_price is not None and not (isinstance(raw_price, str) and not raw_price.strip()):
            price = parse_price(raw_price)

    primary_ref = _text(record, cols["image_link"], "image_link").strip()
    if not primary_ref:
        raise RowError("image_link", "image_link is missing or blank; point it at the product's packshot file")
    primary = _resolve_image(primary_ref, root, "image_link")
    problem = check(primary)
    if problem:
        raise RowError("image_link", f"primary image unusable: {problem}")

    images = [primary]
    extra = _image_refs(record.get(cols["additional_image_link"])) if cols["additional_image_link"] else []
    for ref in extra:
        try:
            p = _resolve_image(ref, root, "additional_image_link")
        except RowError as e:
            log.warning("%s row %d (id %r): additional image %r dropped: %s", source, n, raw_id, ref, e.reason)
            continue
        if p in images:
            log.warning("%s row %d (id %r): additional image %r repeats an earlier image; dropped", source, n, raw_id, ref)
            continue
        problem = check(p)
        if problem:
            log.warning("%s row %d (id %r): additional image dropped: %s", source, n, raw_id, problem)
            continue
        images.append(p)
    return Product(id=raw_id, title=title, description=description, product_type=product_type,
                   price=price, images=images, row=n)


def _keep(f: FeedFilter | None, pid: str | None, product_type: str | None) -> bool:
    """Whether a record passes the filter; unknown fields (None) never exclude."""
    if f is None:
        return True
    if f.ids and pid is not None and pid not in f.ids:
        return False
    if f.product_type_prefix and product_type is not None and not product_type.startswith(f.product_type_prefix):
        return False
    return True


def load_feed(feed: FeedSpec, trusted: Mapping[str, str] | None = None) -> tuple[list[Product], list[Rejection]]:
    """Load, clean and validate a product feed.

    Args:
        feed: the campaign's :class:`~brandflow.spec.FeedSpec` (path, format, column mapping,
            images_dir, filter).
        trusted: ``absolute image path → sha256`` of images an earlier run already checked (a run folder's
            manifest references): an image with those very bytes is not decoded again (``brandflow run``'s
            no-op check, :mod:`brandflow.pipeline.noop`). Nor is one this process already checked with the same
            bytes (``brandflow run`` checks the feed before the flow loads it). Any other image is checked in full.

    Returns:
        ``(products, rejections)`` in feed order. ``Product.images`` are absolute paths, primary
        first. ``Rejection.source`` is the feed path, ``row`` the 1-based data record (header
        excluded), ``field`` the product field at fault (``None`` when the whole record is bad).
        ``feed.filter`` (ids, product_type_prefix) is applied after parsing, to products and to
        rejections whose id / product type is known.

    Raises:
        SpecError: the feed cannot be read or lacks a required column (see :func:`read_feed_rows`).
            Bad rows never raise: they become rejections.
    """
    rows = read_feed_rows(feed)
    found = set(rows.columns)
    cols: dict[str, str | None] = {}
    for fld, default in DEFAULT_COLUMNS.items():
        col = feed.columns.get(fld, default)
        cols[fld] = col if col in found else None
    root = ImageRoot.of(feed.images_dir or feed.path.parent)
    source = str(feed.path)
    check = _ImageChecker(trusted)

    products: list[Product] = []
    rejections: list[Rejection] = []
    first_row: dict[str, int] = {}
    for n, record in rows.rows:
        pid: str | None = None
        ptype: str | None = None
        try:
            if isinstance(record, RowError):
                raise record
            pid = _text(record, cols["id"], "id").strip() or None
            if cols["product_type"] and isinstance(record.get(cols["product_type"]), str):
                ptype = clean_text(record[cols["product_type"]])
            if pid is not None and pid in first_row:
                raise RowError("id", f"duplicate id {pid!r}: first used in row {first_row[pid]}; ids must be unique")
            if pid is not None:
                first_row[pid] = n
            product = _product(n, record, cols, root, check, source)
        except RowError as e:
            if _keep(feed.filter, pid, ptype):
                rejections.append(Rejection(source=source, row=n, product_id=pid, field=e.field, reason=e.reason))
            continue
        if _keep(feed.filter, product.id, product.product_type):
            products.append(product)

    if feed.filter and feed.filter.ids:
        known = {p.id for p in products} | {r.product_id for r in rejections}
        for missing in [i for i in feed.filter.ids if i not in known]:
            log.warning("%s: feed.filter.ids names %r, which is not in the feed", source, missing)
    return products, rejections

