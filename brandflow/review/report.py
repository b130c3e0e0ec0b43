"""The review report: one self-contained HTML file a reviewer reads in two minutes.

Summary counts first, then one section per product with a card per creative (thumbnail, verdict,
every check's numbers against its threshold, expected vs read text, brand colour swatches with
ΔE00, the structured prompt), then the rejected feed rows. Thumbnails are embedded as base64 JPEG
so the file can be mailed or attached to a ticket. Autoescaping is on: product data is untrusted.
"""

from __future__ import annotations

import base64
import io
import json
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from PIL import Image

from brandflow.imageio import write_atomic
from brandflow.manifest import RunManifest
from brandflow.records import JobRecord

THUMB_PX = 360  # long side of embedded thumbnails, pixels

_env = Environment(loader=PackageLoader("brandflow.review", "templates"), autoescape=select_autoescape(default=True))


def thumbnail_data_uri(path: Path, long_side: int = THUMB_PX, cache_key: str | None = None) -> str | None:
    """A ``data:image/jpeg;base64,…`` URI of the image at ``path`` scaled to ``long_side`` pixels, or None
    when it cannot be read.

    With ``cache_key`` (the creative's sha256) the JPEG is kept beside the image as
    ``.thumb-<key[:16]>-<long_side>.jpg`` and reused: a report rendered again (the review gate, a resumed run)
    decodes no creative twice.
    """
    cache = path.with_name(f".thumb-{cache_key[:16]}-{long_side}.jpg") if cache_key else None
    if cache is not None and cache.is_file():
        data = cache.read_bytes()
    else:
        try:
            with Image.open(path) as im:
                im.draft("RGB", (long_side, long_side))
                im = im.convert("RGB")
                factor = max(1, max(im.size) // long_side)
                im = im.reduce(factor) if factor > 1 else im
                im.thumbnail((long_side, long_side))
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=82)
        except OSError:
            return None
        data = buf.getvalue()
        if cache is not None:
            try:
                write_atomic(cache, data)
            except OSError:  # a read-only run folder: the report still renders, uncached
                pass
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)[:200]
    return str(value)


_env.filters["num"] = _fmt
_env.filters["prettyjson"] = lambda obj: json.dumps(obj, indent=2, ensure_ascii=False)


def _by_product(jobs: list[JobRecord]) -> OrderedDict[str, list[JobRecord]]:
    groups: OrderedDict[str, list[JobRecord]] = OrderedDict()
    for job in jobs:
        groups.setdefault(job.product_id, []).append(job)
    return groups


def render_report(manifest: RunManifest, out_path: Path) -> Path:
    """Render ``report.html`` for a run and write it atomically; returns ``out_path``.

    Raises:
        jinja2.TemplateError: the report template is broken (a bug, not bad input).
    """
    with_creative = [job for job in manifest.jobs if job.final.creative]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:  # PNG decoding releases the GIL
        uris = pool.map(lambda job: thumbnail_data_uri(job.final.creative.path, cache_key=job.final.creative.sha256), with_creative)
        thumbs = dict(zip((job.job_id for job in with_creative), uris))
    html = _env.get_template("report.html.j2").render(
        m=manifest,
        s=manifest.summary,
        products=_by_product(manifest.jobs),
        thumbs=thumbs,
        titles={j.product_id: j.product_title or j.product_id for j in manifest.jobs},
    )
    write_atomic(out_path, html.encode())
    return out_path
