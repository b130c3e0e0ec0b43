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
