"""Report thumbnails: scaled JPEG data URIs, cached beside the creative by its sha256."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from brandflow.review import report


def _decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


def test_thumbnail_is_scaled_and_cached_by_sha(tmp_path, monkeypatch):
    path = tmp_path / "creative.png"
    Image.new("RGB", (1080, 1920), (26, 99, 236)).save(path)
    first = report.thumbnail_data_uri(path, cache_key="ab" * 32)
    w, h = _decode(first).size
    assert h == 360 and abs(w - 360 * 1080 / 1920) <= 1.5, "long side 360 px, aspect kept"
    assert (tmp_path / f".thumb-{'ab' * 8}-360.jpg").is_file()

    def no_decoding(*args, **kwargs):
        raise AssertionError("a cached thumbnail must not decode the creative again")

    monkeypatch.setattr(report.Image, "open", no_decoding)
    assert report.thumbnail_data_uri(path, cache_key="ab" * 32) == first
    with pytest.raises(AssertionError, match="decode"):
        report.thumbnail_data_uri(path, cache_key="cd" * 32)  # other bytes, other key: made afresh


def test_unreadable_creative_gives_no_thumbnail(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    assert report.thumbnail_data_uri(path, cache_key="ef" * 32) is None
    assert not list(tmp_path.glob(".thumb-*")), "nothing is cached for a file that could not be read"


# --------------------------------------------------------------------------- the redesigned report
import json  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from synthetic import make_run  # noqa: E402


@pytest.fixture
def run(tmp_path):
    run_dir = tmp_path / "runs" / "autumn"
    manifest = make_run(run_dir, 16)
    return run_dir, manifest


def _cards(html: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'data-(\w+)="([^"]*)"', tag)) for tag in re.findall(r"<article [^>]*>", html)]


def test_what_needs_a_human_comes_first_in_plain_words(run):
    run_dir, manifest = run
    html = report.render_report(manifest, run_dir / "report.html").read_text()
    cards = _cards(html)
    order = [c["status"] for c in cards]
    first_published = order.index("published")
    assert set(order[:first_published]) == {"held", "failed", "error"}
    assert all(s == "published" for s in order[first_published:]), f"attention first, then the rest: {order}"
    assert order[:2] == ["held", "held"], "held creatives (a human decides) lead"
    assert "8 need a human" in html or "need a human" in html
    assert "The price reads “$34.00”; the feed says “$12.00”" in html, "the reason in plain words"
    grid = html.split('<main id="grid"', 1)[1]
    assert "NED 0.67" in grid.split("The price reads")[1].split("</article>")[0], "numbers one click away, in the same card"
    assert re.search(r"<details class=\"numbers\">", html)
    assert "Rejected feed rows" in html and "price &#39;ten&#39; is not a number" in html


def test_links_are_relative_and_thumbnails_embedded_once(run):
    run_dir, manifest = run
    html = report.render_report(manifest, run_dir / "report.html").read_text()
    links = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert links and not [u for u in links if u.startswith(("file:", "/"))], "relative links only"
    assert "work/product-0000-square-0/creative.png" in links
    assert "https://" not in html.split("<body>")[1].replace("http://www.w3.org/2000/svg", ""), "no CDN, nothing fetched"
    thumbs = re.findall(r'data-src="(data:image/jpeg;base64,[^"]+)"', html)
    made = [j for j in manifest.jobs if j.final.creative]
    assert len(thumbs) == len(made) == len(set(thumbs)), "one thumbnail per creative"
    assert len(list(run_dir.glob("work/*/.thumb-*-360.jpg"))) == len(made), "cached beside each creative"


def test_findings_and_references_travel_with_the_page(run):
    run_dir, manifest = run
    html = report.render_report(manifest, run_dir / "report.html").read_text()
    detail = json.loads(re.search(r'<script type="application/json" id="detail">(.*?)</script>', html, re.S).group(1))
    refs = json.loads(re.search(r'<script type="application/json" id="refs">(.*?)</script>', html, re.S).group(1))
    failed_identity = next(i for i, j in enumerate(manifest.jobs) if j.final.qa and any(c.check == "identity" and c.verdict == "fail" for c in j.final.qa.checks))
    boxes = detail[str(failed_identity)]["f"]["b"]
    kinds = {b[0] for b in boxes}
    assert {"layout", "ocr", "identity"} <= kinds, kinds
    product = next(b for b in boxes if b[0] == "identity")
    assert product[1] == "product" and product[6] is False, "the matched product region, marked as not passing"
    assert detail[str(failed_identity)]["f"]["s"][0]["hex"] == "#1864EC"
    assert refs and all(r["thumb"].startswith("data:image/jpeg") for r in refs), "packshots embedded for the side-by-side view"
    assert all(not r["link"].startswith("/") for r in refs)


def test_missing_creative_file_is_named(run):
    run_dir, manifest = run
    victim = next(j for j in manifest.jobs if j.final.creative)
    victim.final.creative.path.unlink()
    html = report.render_report(manifest, run_dir / "report.html").read_text()
    rel = victim.final.creative.path.relative_to(run_dir).as_posix()
    assert f"creative file missing: {rel}" in html
    card = next(c for c in _cards(html) if c["job"] == victim.job_id)
    assert card["attention"] == "1", "a missing file needs a human"


def test_summary_prints_alone():
    css = (Path(report.__file__).parent / "templates" / "report.css").read_text()
    media = css.split("@media print", 1)[1]
    assert "#grid" in media and "display: none" in media and "@page" in media


def test_published_links_are_relative_for_folders_and_kept_for_urls(run):
    from brandflow.records import PublishedAsset

    run_dir, manifest = run
    jobs = [j for j in manifest.jobs if j.status == "published"]
    target = run_dir / "published" / "a b.png"
    jobs[0].published = PublishedAsset(uri=target.as_uri(), key="a b.png", sha256="0" * 64, link=target.as_uri())
    jobs[1].published = PublishedAsset(uri="s3://bucket/k.png", key="k.png", sha256="0" * 64, link="https://cdn.example.com/k.png?sig=1&x=2")
    html = report.render_report(manifest, run_dir / "report.html").read_text()
    assert 'href="published/a%20b.png"' in html
    assert 'href="https://cdn.example.com/k.png?sig=1&amp;x=2"' in html


def test_worst_problems_group_what_differs_only_in_product_text(tmp_path):
    run_dir = tmp_path / "run"
    manifest = make_run(run_dir, 24, products=12)  # three price misreads, on three products with three prices
    html = report.render_report(manifest, run_dir / "report.html").read_text()
    worst = html.split("<h2>Worst problems</h2>", 1)[1].split("</ol>", 1)[0]
    price_lines = [li for li in worst.split("<li>") if "The price reads" in li]
    assert len(price_lines) == 1 and "× 3" in price_lines[0], worst


@pytest.mark.parametrize("file_type", ["png", "jpeg", "webp"])
def test_the_thumbnail_compose_keeps_is_the_one_the_report_would_make(tmp_path, file_type):
    """Compose keeps the thumbnail from the pixels in memory; it must be the bytes the report makes from the file
    (for a lossy file, from the delivered bytes, artefacts included)."""
    import hashlib

    import numpy as np

    from brandflow.imageio import encode, write_atomic, write_thumbnail

    rng = np.random.default_rng(2)
    image = Image.fromarray(rng.integers(0, 256, (1920, 1080, 3), dtype=np.uint8), "RGB")
    path = tmp_path / f"creative.{file_type}"
    data = encode(image, file_type)
    write_atomic(path, data)
    sha = hashlib.sha256(data).hexdigest()
    write_thumbnail(path, sha, image, data, file_type)
    kept = (tmp_path / f".thumb-{sha[:16]}-360.jpg").read_bytes()
    assert kept == report.thumbnail_jpeg(path), "made from the file: the same bytes"
    assert report.thumbnail_jpeg(path, cache_key=sha) == kept
