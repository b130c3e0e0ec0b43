"""The review report: one self-contained HTML file, organised around the decision a reviewer makes.

Top: a one-page campaign summary (counts, cost, the worst problems, a contact sheet of what will be
published) that prints on its own. Then what needs a human — held, failed and errored creatives,
rejected feed rows — then everything else, as a grid of cards whose thumbnails are large enough to read
the creative's text. Filters (status, format, product, check), sort by QA score, and a full-size view
(keyboard: ←/→, Esc) with the reference packshots beside the creative and the checks' findings drawn on
it. Every reason reads in plain words first, the numbers one click away (``<details>``).

The file works opened from disk, zipped, moved or mailed: thumbnails are embedded (one cached JPEG per
creative, made once, keyed by its sha256), every other link is relative to the report's folder, there is
no CDN and no build step (vanilla JS inline). Autoescaping is on: product data is untrusted.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from PIL import Image

from brandflow.imageio import THUMB_PX, thumbnail_of, thumbnail_path, write_atomic
from brandflow.manifest import RunManifest
from brandflow.records import JobRecord
from brandflow.review.findings import Findings, findings_of, model_line, moderation_line, plain_reasons, score_of, unchecked_lines

REF_PX = 480  # long side of embedded reference packshots (few per run: one per distinct reference)

# trim/lstrip: the template's indentation is not sent 1,000 times
_env = Environment(loader=PackageLoader("brandflow.review", "templates"), autoescape=select_autoescape(default=True),
                   trim_blocks=True, lstrip_blocks=True)


def _asset(name: str) -> str:
    """A CSS or JS file of templates/, inlined verbatim (not a Jinja template: its braces are code)."""
    return _env.loader.get_source(_env, name)[0]  # type: ignore[union-attr]


def thumbnail_data_uri(path: Path, long_side: int = THUMB_PX, cache_key: str | None = None) -> str | None:
    """A ``data:image/jpeg;base64,…`` URI of :func:`thumbnail_jpeg`, or None when the image cannot be read."""
    data = thumbnail_jpeg(path, long_side, cache_key)
    return None if data is None else "data:image/jpeg;base64," + base64.b64encode(data).decode()


def thumbnail_jpeg(path: Path, long_side: int = THUMB_PX, cache_key: str | None = None) -> bytes | None:
    """JPEG bytes of the image at ``path`` scaled to ``long_side`` pixels (aspect kept; :func:`brandflow.imageio.thumbnail_of`),
    or None when it cannot be read.

    With ``cache_key`` (the creative's sha256) the JPEG is kept beside the image (:func:`brandflow.imageio.thumbnail_path`)
    and reused: compose writes it while the pixels are in memory, and a report rendered again (the review gate, a
    resumed run, the review page) decodes no creative.
    """
    cache = thumbnail_path(path, cache_key, long_side) if cache_key else None
    if cache is not None and cache.is_file():
        return cache.read_bytes()
    try:
        with Image.open(path) as im:
            data = thumbnail_of(im, long_side)
    except OSError:
        return None
    if cache is not None:
        try:
            write_atomic(cache, data)
        except OSError:  # a read-only run folder: the report still renders, uncached
            pass
    return data


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)[:200]
    return str(value)


_env.filters["num"] = _fmt
def _prettyjson(obj: Any) -> Markup:
    """Indented JSON for a ``<pre>``, empty fields left out; escaped for text content (``& < >``), where
    quotes need no escaping (``&#34;`` on every key would weigh a 1,000-creative report down)."""
    if isinstance(obj, dict):
        obj = {k: v for k, v in obj.items() if v not in ("", [], {}, None)}
    text = json.dumps(obj, indent=1, ensure_ascii=False, default=str)
    return Markup(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


_env.filters["prettyjson"] = _prettyjson


def relative_link(path: Path | str | None, base: Path) -> str | None:
    """``path`` as a URL relative to the folder ``base`` (the report's), or None without a path.

    Relative links survive zipping, moving or sharing the run folder; ``file:///…`` links do not.
    """
    if not path:
        return None
    text = str(path)
    if text.startswith("file://"):
        from urllib.parse import unquote, urlparse

        text = unquote(urlparse(text).path)
    elif "://" in text:  # http(s), s3: a link a person can open elsewhere
        return text
    rel = os.path.relpath(Path(text), base)
    from urllib.parse import quote

    return quote(rel.replace(os.sep, "/"))


# status → (rank: what needs a human first, label a marketer reads)
STATUS = {
    "held": (0, "held for review"),
    "failed": (1, "failed QA"),
    "error": (2, "error"),
    "published": (4, "published"),
}


@dataclass
class Card:
    """What the report shows of one creative (a view of its :class:`~brandflow.records.JobRecord`)."""

    index: int
    job: JobRecord
    thumb: str | None
    full: str | None
    missing: str | None
    refs: list[int]
    findings: Findings
    reasons: list[str]
    score: float | None
    attention: bool
    under_review: bool
    checks_not_passing: list[str] = field(default_factory=list)
    made_by: str | None = None  # the model and its licence (manifest.model)
    moderation: str | None = None  # the moderation check's scores, one line

    @property
    def rank(self) -> int:
        """Order within "needs attention": QA-held, failed, errored, then creatives QA passed that await a decision."""
        qa = self.job.final.qa
        if self.under_review and qa is not None and qa.verdict == "pass":
            return 3
        return STATUS.get(self.job.status, (5, ""))[0]

    @property
    def label(self) -> str:
        d = self.job.decision
        if d is not None and d.verdict == "pending":
            return "awaiting your decision" if self.job.final.qa and self.job.final.qa.verdict == "pass" else "held: QA warned"
        return STATUS.get(self.job.status, (5, self.job.status))[1]


def _cards(manifest: RunManifest, base: Path, thumbs: dict[str, str | None], ref_index: dict[str, int], link) -> list[Card]:  # noqa: ANN001
    cards = []
    for i, job in enumerate(manifest.jobs):
        creative = job.final.creative
        missing = None
        if creative is not None and not Path(creative.path).is_file():
            missing = f"creative file missing: {relative_link(creative.path, base)}"  # where it should be, in the run folder
        pending = job.decision is not None and job.decision.verdict == "pending"
        qa = job.final.qa
        cards.append(Card(
            index=i, job=job, thumb=thumbs.get(job.job_id), full=link(creative.path) if creative else None,
            missing=missing, refs=[ref_index[r.sha256] for r in job.references if r.sha256 in ref_index],
            findings=findings_of(job), reasons=plain_reasons(job), score=score_of(job),
            attention=job.status in ("held", "failed", "error") or pending or missing is not None,
            under_review=pending,
            checks_not_passing=[c.check for c in qa.checks if c.verdict != "pass"] if qa else [],
            made_by=model_line(manifest.model) if job.backend == manifest.backend else None, moderation=moderation_line(job),
        ))
    cards.sort(key=lambda c: (not c.attention, c.rank, c.score if c.score is not None else 2.0, c.index))
    return cards


def worst_problems(cards: list[Card], limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent plain reasons among creatives that need attention: ``[(example, count)]``, most first.

    Reasons that differ only in quoted product text (“…”) count as one problem, shown by its first example:
    "the price reads “$34.00”; the feed says “$12.00”" for 15 products is one line × 15.
    """
    counts: Counter[str] = Counter()
    example: dict[str, str] = {}
    for c in cards:
        if c.attention:
            for r in c.reasons[:2]:
                key = re.sub(r"“[^”]*”", "“…”", r)
                counts[key] += 1
                example.setdefault(key, r)
    return [(example[k], n) for k, n in counts.most_common(limit)]


def market_counts(manifest: RunManifest) -> list[dict[str, Any]]:
    """Per market of a multi-market run, in the order its creatives come: ``[{locale, creatives, published, held,
    failed, error, rejected}]`` (``rejected``: feed rows rejected for that market); ``[]`` for a run of one market or
    none, whose summary already says it all."""
    locales = list(dict.fromkeys(j.locale for j in manifest.jobs if j.locale))
    locales += [r.locale for r in manifest.rejections if r.locale and r.locale not in locales]
    if len(locales) < 2:
        return []
    out = []
    for loc in locales:
        statuses = Counter(j.status for j in manifest.jobs if j.locale == loc)
        out.append({"locale": loc, "creatives": sum(statuses.values()), **{k: statuses[k] for k in STATUS},
                    "rejected": sum(1 for r in manifest.rejections if r.locale == loc)})
    return out


def feed_lines(manifest: RunManifest, link) -> list[dict[str, Any]]:  # noqa: ANN001
    """The run's regenerated feeds (e.g. the Merchant Center supplemental feed) for the summary: ``[{feed, link,
    key, rows, left_out, no_creative, notes}]`` — ``left_out``: products with a published creative the feed could
    not take, each with why and the fix; ``no_creative``: product ids of this run with no published creative,
    hence no row (Merchant Center keeps showing their primary image)."""
    published = {j.product_id for j in manifest.jobs if j.published is not None}
    no_creative = sorted({j.product_id for j in manifest.jobs} - published)
    return [{"feed": f.feed, "key": f.key, "rows": f.rows, "left_out": f.errors, "no_creative": no_creative, "notes": f.notes,
             "link": link(f.published.link or f.published.uri) if f.published else None}
            for f in manifest.feeds]


def render_html(manifest: RunManifest, base: Path, review: dict[str, Any] | None = None, thumb_url=None, link=None) -> str:  # noqa: ANN001
    """The report page for ``manifest`` with links relative to ``base`` (the folder the page is read from).

    Args:
        manifest: the run record.
        base: the folder the page's relative links start from (the run folder).
        review: present when the review app serves the page: ``{"reviewer": name, "verified": bool,
            "csrf": token, "open": bool, "drafts": {job_id: {...}}}``; adds decision forms to the creatives under review.
        thumb_url: ``f(job) -> url`` to link thumbnails instead of embedding them (the served app); default embeds.
        link: ``f(path) -> url`` for creatives and packshots; default: relative to ``base``.

    Raises:
        jinja2.TemplateError: the report template is broken (a bug, not bad input).
    """
    with_creative = [job for job in manifest.jobs if job.final.creative]
    if thumb_url is not None:
        thumbs = {job.job_id: thumb_url(job) for job in with_creative}
    else:
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # PNG decoding releases the GIL
            uris = pool.map(lambda job: thumbnail_data_uri(job.final.creative.path, cache_key=job.final.creative.sha256), with_creative)
            thumbs = dict(zip((job.job_id for job in with_creative), uris))
    link = link or (lambda p: relative_link(p, base))
    refs: dict[str, dict[str, Any]] = {}
    for job in manifest.jobs:
        for r in job.references:
            if r.sha256 not in refs:
                refs[r.sha256] = {"name": Path(r.path).name, "role": r.role, "link": link(r.path),
                                  "thumb": thumbnail_data_uri(Path(r.path), REF_PX) if thumb_url is None else link(r.path)}
    ref_index = {sha: i for i, sha in enumerate(refs)}
    cards = _cards(manifest, base, thumbs, ref_index, link)
    to_publish = [c for c in cards if c.job.status == "published" or (c.job.decision is not None and c.job.decision.verdict == "approved")]
    if_approved = not to_publish and any(c.under_review for c in cards)
    if if_approved:  # the run waits at the review gate: what QA let through is what can be published
        to_publish = [c for c in cards if c.under_review]
    detail = {
        str(c.index): {"f": c.findings.as_json(), "refs": c.refs, "w": c.job.final.creative.width if c.job.final.creative else 0,
                       "h": c.job.final.creative.height if c.job.final.creative else 0}
        for c in cards
    }
    return _env.get_template("report.html.j2").render(
        m=manifest, s=manifest.summary, cards=cards, refs=list(refs.values()), review=review,
        attention=sum(1 for c in cards if c.attention), under_review=sum(1 for c in cards if c.under_review),
        formats=sorted({c.job.format for c in cards}), markets=market_counts(manifest),
        model=model_line(manifest.model), unchecked=unchecked_lines(manifest.jobs), feeds=feed_lines(manifest, link),
        # one entry per product id: its markets' translated titles would otherwise list it once per market
        products=sorted({c.job.product_id: c.job.product_title or c.job.product_id for c in reversed(sorted(cards, key=lambda c: c.index))}.items(), key=lambda p: p[1].lower()),
        checks=sorted({ch.check for c in cards if c.job.final.qa for ch in c.job.final.qa.checks}),
        worst=worst_problems(cards), contact=to_publish[:60], if_approved=if_approved, contact_more=max(0, len(to_publish) - 60),
        detail_json=json.dumps(detail, separators=(",", ":")).replace("</", "<\\/"),
        rejected_feed=manifest.rejections, rel=lambda uri: relative_link(uri, base), assets={"css": _asset("report.css"), "js": _asset("report.js")},
    )


def render_report(manifest: RunManifest, out_path: Path) -> Path:
    """Render ``report.html`` for a run and write it atomically; returns ``out_path``.

    Raises:
        jinja2.TemplateError: the report template is broken (a bug, not bad input).
    """
    write_atomic(out_path, render_html(manifest, out_path.resolve().parent).encode())
    return out_path
