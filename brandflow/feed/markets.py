"""A campaign's markets: each locale's products and fixed strings.

Merchant Center's practice is one feed per language and country. The campaign's ``feed:`` says *which* products
run (its filter, ``--only`` and ``--limit`` apply there); a market with its own ``feed:`` takes each of those
products' row from that feed by id (translated title, local price, its own packshots), and a product its feed
lacks is skipped in that market only — a rejection naming the market, never an error for the campaign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from brandflow.feed.catalog import load_feed
from brandflow.locales import currencies
from brandflow.records import Product, Rejection
from brandflow.spec import CampaignSpec, LocaleSpec


@dataclass
class Market:
    """One market of a run: its locale (``None`` for a campaign without one), its products in the campaign
    feed's order, the strings its overlay templates read, notes for its jobs, the rows it rejected and the feed
    its products come from."""

    locale: str | None
    products: list[Product]
    strings: dict[str, str]
    notes: list[str] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    feed: Path | None = None  #: the feed its products were read from (the market's own, or the campaign's)
    own_feed: bool = False  #: whether that is the market's own feed


def market_strings(spec: CampaignSpec, market: LocaleSpec | None) -> tuple[dict[str, str], list[str]]:
    """``(strings, notes)`` of ``market``: the campaign's ``strings`` overridden by the market's own; each name the
    market lacks falls back to the campaign's text with a note (``strings.legal: no de-DE text, used the
    campaign's “…”``), so a reviewer sees which copy was not translated."""
    own = market.strings if market is not None else {}
    notes = [f"strings.{name}: no {market.code} text, used the campaign's “{text}”"
             for name, text in spec.strings.items() if market is not None and spec.locales and name not in own]
    return {**spec.strings, **own}, notes


def markets_of(spec: CampaignSpec, products: list[Product]) -> list[Market]:
    """Every market of ``spec`` with its products: ``products`` (the campaign feed's, after filters) as they read
    in the market's own feed when it has one.

    A product missing from a market's feed, or whose row there is rejected, is left out of that market with a
    :class:`~brandflow.records.Rejection` carrying the market's locale (field ``locales.N.feed``).

    Raises:
        SpecError: a market's feed cannot be read or lacks a required column (see
            :func:`~brandflow.feed.catalog.read_feed_rows`).
    """
    out = []
    for i, market in enumerate(spec.markets):
        strings, notes = market_strings(spec, market)
        if market is None or market.feed is None:
            out.append(Market(market.code if market else None, list(products), strings, notes, feed=spec.feed.path))
            continue
        own, rejected = load_feed(market.feed)
        by_id = {p.id: p for p in own}
        bad = {r.product_id: r for r in rejected if r.product_id}
        wanted = {p.id for p in products}
        kept = []
        rejections = [r.model_copy(update={"locale": market.code}) for r in rejected if r.product_id in wanted or r.product_id is None]
        for product in products:
            if product.id in by_id:
                kept.append(by_id[product.id])
            elif product.id not in bad:
                rejections.append(Rejection(
                    source=str(spec.feed.path), row=product.row, product_id=product.id, field=f"locales.{i}.feed",
                    locale=market.code,
                    reason=f"no row with id {product.id!r} in the {market.code} feed {market.feed.path.name}: the "
                           f"{market.code} market skips this product (add its row to that feed to run it there)",
                ))
        out.append(Market(market.code, kept, strings, notes, rejections, feed=market.feed.path, own_feed=True))
    return out


def currency_note(market: Market, product: Product) -> str | None:
    """A note when ``product``'s price is in a currency ``market``'s country does not use (CLDR territory currencies:
    EUR for de-DE) — Merchant Center expects the country's — naming the fix; ``None`` otherwise."""
    local = currencies(market.locale)
    if product.price is None or not local or product.price.currency in local:
        return None
    name = market.feed.name if market.feed else "the feed"
    fix = f"fix the price in {name}" if market.own_feed else f"give {market.locale} its own feed"
    return (f"price in {product.price.currency} ({name}), but {market.locale} pays in {', '.join(local)}, the currency "
            f"Merchant Center expects there: {fix}")
