"""Publishing to file://: sanitised keys, idempotency by sha256, conflict policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from brandflow.records import sha256_file
from brandflow.publishers.base import publisher_for
from brandflow.publishers.keys import render_key, sanitise_segment

TEMPLATE = "{campaign}/{product_id}/{format}/{variant}.{ext}"


@pytest.mark.parametrize(
    "value, prefix",
    [("../etc/passwd", "etc-passwd~"), ("a/b", "a-b~"), ("..", "~"), ("", "~"), (".hidden", "hidden~"), ("Tee 100%", "Tee-100~")],
)
def test_unsafe_segments_are_slugged_and_hashed(value, prefix):
    s = sanitise_segment(value)
    assert s.startswith(prefix) and len(s) == len(prefix) + 16 and "/" not in s


@pytest.mark.parametrize("value", ["apple-juice", "SKU_123.v2", "a-b"])
def test_safe_segments_stay_as_they_are(value):
    assert sanitise_segment(value) == value


def test_segments_are_injective():
    ids = ["a/b", "a-b", "a b", "a--b", ".", "..", "", "_", "x" * 300, "x" * 299 + "y", "x" * 120 + "~", "É", "E"]
    assert len({sanitise_segment(i) for i in ids}) == len(ids)
    assert all(len(sanitise_segment(i)) <= 120 for i in ids)


def test_ids_cannot_escape_the_target(tmp_path):
    key = render_key(TEMPLATE, campaign="c", product_id="../../../etc/passwd", format="square", variant="v0", ext="png")
    assert key.startswith("c/etc-passwd~") and key.endswith("/square/v0.png") and ".." not in key
    key = render_key(TEMPLATE, campaign="c", product_id="/abs/olute", format="sq", variant="v0", ext="png")
    assert key.startswith("c/") and ".." not in key
    with pytest.raises(ValueError, match="unknown field"):
        render_key("{campaign}/{sku}", campaign="c")


def _file(tmp_path: Path, name: str, data: bytes) -> tuple[Path, str]:
    p = tmp_path / name
    p.write_bytes(data)
    return p, sha256_file(p)


def test_same_bytes_are_written_once(tmp_path):
    target = publisher_for((tmp_path / "pub").as_uri())
    src, sha = _file(tmp_path, "a.png", b"one")
    first = target.publish(src, "c/p/sq/v0.png", sha, {"campaign": "c"}, "version")
    dest = tmp_path / "pub" / "c/p/sq/v0.png"
    mtime = dest.stat().st_mtime_ns
    second = target.publish(src, "c/p/sq/v0.png", sha, {"campaign": "c"}, "version")
    assert first.written and not second.written
    assert dest.stat().st_mtime_ns == mtime and dest.read_bytes() == b"one"
    assert first.uri == dest.as_uri()


@pytest.mark.parametrize("policy", ["skip", "overwrite", "version"])
def test_conflict_policies(tmp_path, policy):
    target = publisher_for(str(tmp_path / "pub"))
    a, sha_a = _file(tmp_path, "a.png", b"old")
    b, sha_b = _file(tmp_path, "b.png", b"new")
    target.publish(a, "k/v0.png", sha_a, {}, policy)
    res = target.publish(b, "k/v0.png", sha_b, {}, policy)
    base = tmp_path / "pub" / "k"
    if policy == "skip":
        assert not res.written and (base / "v0.png").read_bytes() == b"old"
    elif policy == "overwrite":
        assert res.written and (base / "v0.png").read_bytes() == b"new"
    else:
        assert res.key == "k/v0.v2.png" and (base / "v0.png").read_bytes() == b"old"
        assert (base / "v0.v2.png").read_bytes() == b"new"
        again = target.publish(b, "k/v0.png", sha_b, {}, policy)  # re-run: finds its own version, no v3
        assert not again.written and again.key == "k/v0.v2.png"
        assert not (base / "v0.v3.png").exists()
