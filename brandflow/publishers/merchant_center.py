"""A Google Merchant Center supplemental feed of the published creatives: a TSV keyed by the product ``id`` whose
``image_link`` / ``additional_image_link`` / ``lifestyle_image_link`` point at the creatives' public URLs.

A supplemental feed adds or replaces attributes of products that already exist in a Merchant Center primary feed,
matched by ``id``; this one is regenerated once per run from the run's published creatives and published to the
run's target (``<campaign>/merchant-center/supplemental.tsv`` by default), where Merchant Center fetches it on a
schedule (README, "Attach the feed in Merchant Center"). The bytes are a pure function of the published creatives
(rows sorted by id, no timestamps), so a re-run that publishes the same creatives writes nothing new: the target's
own content-addressed rule (same sha256 → no write) applies as it does to every creative.

Columns and limits, from Google's product data specification (Merchant Center Help):

* ``image_link`` (support.google.com/merchants/answer/6324350): one URL, 1–2,000 characters, ASCII, RFC 3986,
  "replace any symbols or spaces with URL-encoded entities" (a comma as ``%2C``); JPEG, WebP, PNG, GIF, BMP, TIFF;
  from 31 January 2027 at least 500 × 500 pixels (1,500 × 1,500 recommended), at most 64 megapixels and 16 MB.
* ``additional_image_link`` (answer/6324370): "up to 10 additional images", each 0–2,000 characters; in a text feed
  several URLs are separated by commas (commas inside a URL encoded as ``%2C``); JPEG, WebP, PNG, GIF, BMP, TIFF.
* ``lifestyle_image_link`` (answer/9103186): one URL, 1–2,000 characters; GIF, JPEG, PNG, BMP, TIFF (no WebP).

What it does not do: it never edits the primary feed, never uploads to the Content API / Merchant API (Merchant
Center fetches the file), and cannot tell whether Google's image policies (e.g. no promotional overlays on the main
``image_link`` image) accept a creative — brandflow creatives with a headline, price or CTA drawn over them belong in
``lifestyle_image_link`` or ``additional_image_link`` unless your overlay is empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlparse

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from brandflow.errors import BrandflowError
from brandflow.records import JobRecord
from brandflow.registry import options_error
from brandflow.spec import CampaignSpec, FormatSpec

#: Longest URL in any image attribute, characters (all three attributes: "1–2,000 characters").
MAX_URL = 2000
#: Most URLs in ``additional_image_link`` ("Include up to 10 additional images").
MAX_ADDITIONAL = 10
#: File types each attribute accepts, of those brandflow writes (png, jpeg, webp).
ACCEPTS = {"image_link": {"png", "jpeg", "webp"}, "additional_image_link": {"png", "jpeg", "webp"},
           "lifestyle_image_link": {"png", "jpeg"}}
#: Smallest image Merchant Center accepts from 31 January 2027, pixels per side.
MIN_SIDE = 500
_PRESIGNED = ("X-Amz-Signature=", "Signature=", "X-Goog-Signature=")


class FeedError(BrandflowError):
    """The feed's options or inputs are wrong; the message names ``publish.feeds.merchant-center.<field>`` and the fix."""


class MerchantCenterOptions(BaseModel):
    """``publish.feeds.merchant-center`` of a campaign (unknown keys are errors).

    Example::

        publish:
          target: s3://brand-media/creatives
          feeds:
            merchant-center:
              public_base_url: https://cdn.example.com/creatives   # serves the target's root
              lifestyle_image_link: square                          # format whose variant 0 becomes the lifestyle image
              additional_image_link: [story]                        # formats whose creatives (all variants) are added
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    public_base_url: str | None = Field(
        default=None, description="https URL serving the publish target's root (the folder, or the bucket prefix): the "
        "creative at key K is <public_base_url>/K. Default: the target's own links, if they are public https URLs "
        "(s3.public_base_url); presigned links expire and are refused",
    )
    image_link: str | None = Field(default=None, description="format whose variant-0 creative replaces the main image; "
                                   "default: not set (the primary feed's packshot stays the main image)")
    additional_image_link: list[str] = Field(default_factory=list, description="formats whose creatives (every "
                                             "variant, in this order) become additional images; at most 10 URLs are kept")
    lifestyle_image_link: str | None = Field(default=None, description="format whose variant-0 creative is the lifestyle image")
    key: str = Field(default="{campaign}/merchant-center/supplemental.tsv", pattern=r"^[A-Za-z0-9{}_./-]+\.(tsv|txt)$",
                     description="where the feed goes on the publish target; {campaign} is the campaign's slug, "
                     "{locale} the market's (a campaign in several markets gets one feed each; without {locale} "
                     "the locale goes before the extension)")
    primary_feed: Path | None = Field(default=None, description="a Merchant Center primary feed export (TSV or CSV with "
                                      "an id column): every product must be in it; default: the campaign's product feed")

    @field_validator("public_base_url")
    @classmethod
    def _https(cls, v: str | None) -> str | None:
        if v is None:
            return v
        u = urlparse(v)
        if u.scheme not in ("http", "https") or not u.netloc or u.query or u.fragment or "@" in u.netloc or not v.isascii():
            raise ValueError(f"{v!r} is not a plain http(s) base URL (ASCII, no query, fragment or credentials)")
        return v.rstrip("/")


@dataclass
class FeedResult:
    """One generated feed: its bytes, how many product rows, and what was left out and why.

    Attributes:
        data: the TSV, UTF-8, ``\\n`` line ends, header first, rows sorted by id.
        rows: product rows written.
        errors: one line per product left out (id not in the primary feed, URL too long, no public URL …), each
            naming the product and the fix.
        notes: what was written but deserves a look (URLs over the 10-image cap dropped, images under 500 px).
    """

    data: bytes
    rows: int
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class MerchantCenterFeed:
    """The ``merchant-center`` feed plugin (entry-point group ``brandflow.feeds``).

    Args:
        options: the campaign's ``publish.feeds.merchant-center`` mapping.
        formats: the campaign's formats (names and file types are checked against the attributes).

    Raises:
        FeedError: unknown option, no column chosen, an unknown format, or a file type the attribute does not take.
    """

    name = "merchant-center"
    Options = MerchantCenterOptions

    def __init__(self, options: Mapping[str, Any], formats: Iterable[FormatSpec]):
        self.options = self.parse_options(options, formats)
        self.formats = {f.name: f for f in formats}

    @classmethod
    def parse_options(cls, options: Mapping[str, Any], formats: Iterable[FormatSpec]) -> MerchantCenterOptions:
        """Validate ``options`` against the campaign's ``formats`` (usable at ``brandflow validate`` time).

        Raises:
            FeedError: see the class.
        """
        where = "publish.feeds.merchant-center"
        try:
            opts = MerchantCenterOptions.model_validate(dict(options))
        except ValidationError as e:
            raise FeedError(str(options_error(e, MerchantCenterOptions, where))) from None
        by_name = {f.name: f for f in formats}
        chosen = [("image_link", opts.image_link), ("lifestyle_image_link", opts.lifestyle_image_link)]
        chosen += [("additional_image_link", n) for n in opts.additional_image_link]
        if not any(name for _, name in chosen):
            raise FeedError(f"{where}: no column chosen. Fix: name a format in lifestyle_image_link, image_link or "
                            f"additional_image_link (formats: {', '.join(by_name)})")
        for attribute, name in chosen:
            if name is None:
                continue
            if name not in by_name:
                raise FeedError(f"{where}.{attribute}: no format named {name!r}. Fix: use one of: {', '.join(by_name)}")
            if by_name[name].file_type not in ACCEPTS[attribute]:
                raise FeedError(f"{where}.{attribute}: format {name!r} is {by_name[name].file_type}, which Merchant Center "
                                f"does not take for {attribute} (it takes {', '.join(sorted(ACCEPTS[attribute]))} of "
                                "brandflow's types). Fix: choose another format or change its file_type")
        return opts

    def primary_ids(self, default: Iterable[str]) -> set[str]:
        """The product ids of ``primary_feed`` (TSV or CSV with an ``id`` column), or ``default``.

        Raises:
            FeedError: the file is unreadable or has no ``id`` column.
        """
        path = self.options.primary_feed
        if path is None:
            return set(default)
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
        except OSError as e:
            raise FeedError(f"publish.feeds.merchant-center.primary_feed: cannot read {path} ({e.strerror}). Fix: point "
                            "it at your Merchant Center primary feed export") from None
        head = text.split("\n", 1)[0]
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if "\t" in head else ",")
        if "id" not in (reader.fieldnames or []):
            raise FeedError(f"publish.feeds.merchant-center.primary_feed: {path} has no 'id' column (columns: "
                            f"{', '.join(reader.fieldnames or [])}). Fix: export the primary feed with its id column")
        return {row["id"].strip() for row in reader if row.get("id")}

    def preflight(self, spec: CampaignSpec, product_ids: Iterable[str], target: str | None) -> list[str]:
        """Problems ``brandflow validate`` reports before a run: products of the campaign's feed that are not in
        ``primary_feed``, and a target whose creatives would have no public URL. Each names the fix.

        Raises:
            FeedError: ``primary_feed`` is unreadable or has no ``id`` column.
        """
        problems = []
        ids = list(product_ids)
        known = self.primary_ids(ids)
        missing = [pid for pid in ids if pid not in known]
        if missing:
            shown = ", ".join(repr(m) for m in missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            problems.append(f"publish.feeds.merchant-center: {len(missing)} products are not in the primary feed "
                            f"{self.options.primary_feed}: {shown}; Merchant Center ignores supplemental rows whose id "
                            "matches no product. Fix: map feed.columns.id to the column holding Merchant Center's id, or "
                            "add the products to the primary feed")
        scheme = urlparse(target or "").scheme
        if self.options.public_base_url is None and not (scheme == "s3" and spec.publish.s3.public_base_url):
            problems.append("publish.feeds.merchant-center: the creatives would have no public URL (the target "
                            f"{target or 'file:// run folder'} gives file:// or expiring presigned links). Fix: set "
                            "publish.feeds.merchant-center.public_base_url to the https URL serving the target, or "
                            "publish.s3.public_base_url for a public bucket or CDN")
        return problems

    def key(self, campaign: str) -> str:
        """The feed's key on the publish target."""
        return self.options.key.replace("{campaign}", campaign)

    def url(self, record: JobRecord) -> str:
        """The public URL of a published creative.

        Raises:
            FeedError: no public https URL (no ``public_base_url`` and the target's link is missing, a file:// URI
                or presigned).
        """
        asset = record.published
        assert asset is not None
        if self.options.public_base_url:
            return f"{self.options.public_base_url}/{quote(asset.key, safe='/-._~')}"
        link = asset.link or ""
        if link.startswith(("https://", "http://")) and not any(s in link for s in _PRESIGNED):
            return link.replace(",", "%2C")
        raise FeedError(f"{record.job_id}: no public URL for the creative (the target links to "
                        f"{'a presigned URL, which expires' if link.startswith('http') else repr(link or asset.uri)}). Fix: set "
                        "publish.feeds.merchant-center.public_base_url to the https URL serving the target, or "
                        "publish.s3.public_base_url for a public bucket or CDN")

    def build(self, records: Iterable[JobRecord], campaign: str, known_ids: set[str]) -> FeedResult:
        """The supplemental feed of the published ``records``.

        Args:
            records: the run's job records; those with ``published`` set are used.
            campaign: the campaign slug (for messages).
            known_ids: product ids of the primary feed (:meth:`primary_ids`); a product outside it is left out with
                an error (Merchant Center matches supplemental rows to existing products by ``id`` only).

        Returns:
            :class:`FeedResult`; the bytes depend only on the records' keys/links, variants and formats.
        """
        opts = self.options
        by_product: dict[str, dict[tuple[str, int], JobRecord]] = {}
        for r in records:
            if r.published is not None:
                by_product.setdefault(r.product_id, {})[(r.format, r.variant)] = r
        columns = ["id"] + [c for c, on in (("image_link", opts.image_link), ("additional_image_link", opts.additional_image_link),
                                            ("lifestyle_image_link", opts.lifestyle_image_link)) if on]
        out = io.StringIO()
        writer = csv.writer(out, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(columns)
        result = FeedResult(b"", 0)
        for pid in sorted(by_product):
            creatives = by_product[pid]
            if pid not in known_ids:
                result.errors.append(
                    f"product {pid!r} is not in the primary feed, so Merchant Center would ignore its row: left out. Fix: "
                    "map feed.columns.id to the column holding Merchant Center's id, or add the product to the primary feed"
                    + (f" ({opts.primary_feed})" if opts.primary_feed else ""))
                continue
            if any(c in pid for c in "\t\r\n") or not pid.strip():
                result.errors.append(f"product {pid!r}: an id with a tab or line break cannot go in a TSV feed: left out. "
                                     "Fix: clean the id in the product feed")
                continue
            try:
                row = self._row(pid, creatives, result)
            except FeedError as e:
                result.errors.append(f"product {pid!r}: {e}: left out")
                continue
            if row is not None:
                writer.writerow([pid] + [row[c] for c in columns[1:]])
                result.rows += 1
        result.data = out.getvalue().encode("utf-8")
        result.notes = list(dict.fromkeys(result.notes))
        return result

    def _row(self, pid: str, creatives: dict[tuple[str, int], JobRecord], result: FeedResult) -> dict[str, str] | None:
        opts = self.options

        def first(fmt: str) -> JobRecord | None:
            return next((creatives[k] for k in sorted(creatives) if k[0] == fmt), None)

        row: dict[str, str] = {}
        for attribute, fmt in (("image_link", opts.image_link), ("lifestyle_image_link", opts.lifestyle_image_link)):
            if fmt is None:
                continue
            record = first(fmt)
            if record is None:
                raise FeedError(f"no published {fmt!r} creative for {attribute}. Fix: check why it was not published (QA, review)")
            row[attribute] = self._checked(record, attribute, result)
        if opts.additional_image_link:
            urls = [self._checked(creatives[k], "additional_image_link", result)
                    for fmt in opts.additional_image_link for k in sorted(creatives) if k[0] == fmt]
            if len(urls) > MAX_ADDITIONAL:
                result.notes.append(f"product {pid!r}: {len(urls)} additional images, Merchant Center takes {MAX_ADDITIONAL}: "
                                    f"the last {len(urls) - MAX_ADDITIONAL} were dropped")
                urls = urls[:MAX_ADDITIONAL]
            row["additional_image_link"] = ",".join(urls)
        return row

    def _checked(self, record: JobRecord, attribute: str, result: FeedResult) -> str:
        url = self.url(record)
        if len(url) > MAX_URL or not url.isascii():
            raise FeedError(f"{attribute} URL of {record.job_id} is {len(url)} characters{'' if url.isascii() else ', not ASCII'} "
                            f"(Merchant Center takes at most {MAX_URL} ASCII characters). Fix: a shorter public_base_url or key_template")
        fmt = self.formats.get(record.format)
        if fmt is not None and min(fmt.width, fmt.height) < MIN_SIDE:
            result.notes.append(f"{record.job_id}: {fmt.width}×{fmt.height} px is under Merchant Center's {MIN_SIDE}×{MIN_SIDE} "
                                "minimum (from 31 January 2027)")
        return url
