"""The wagtail+http:// publisher against a real Wagtail 8 site with brandflow-wagtail, started in this session.

The ``wagtail_site`` fixture (``build_site`` of ``wagtail_site.py`` next to this file, shared with the publishing
benchmark) does what a site owner does: ``wagtail start``, add ``wagtail_write_api`` and ``brandflow_wagtail``
(``integrations/wagtail``, put on the site's ``PYTHONPATH`` as ``pip install`` would) to the settings and URLs,
``migrate``, create a user and an API token, then serve the site with ``runserver`` on 127.0.0.1 (DEBUG, so
media files are served too). A setup script adds collections and a second user whose group may add images to
one collection only. Throttling, 5xx and dropped connections are injected by the fault proxy of ``conftest.py``
placed in front of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import yaml
from PIL import Image, PngImagePlugin

from brandflow.records import sha256_file
from brandflow.spec import PublishSpec
from brandflow.publishers.base import (
    AssetLabels,
    UnsupportedFileError,
    labels_for,
    plain_text,
    publish_labelled,
    publisher_for,
)
from brandflow.publishers.wagtail import (
    WagtailPublishError,
    WagtailPublisher,
    WagtailUnavailableError,
    WagtailUnsupportedFileError,
    key_id,
    parse_target,
)

# The site builder lives next to this file (shared with bench/publish_throughput.py); pytest puts this folder on sys.path.
from wagtail_site import USER, Site, build_site

FAST = dict(retry_base_delay=0.01, retry_max_delay=0.05)


@pytest.fixture(scope="session")
def wagtail_site(tmp_path_factory) -> Iterator[Site]:
    """A real Wagtail site with brandflow-wagtail, served on 127.0.0.1 for the whole session (≈ 25 s to build)."""
    with build_site(tmp_path_factory.mktemp("wagtail")) as site:
        yield site


@pytest.fixture
def token_env(wagtail_site, monkeypatch) -> str:
    """The site's token in BRANDFLOW_WAGTAIL_TOKEN for one test."""
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", wagtail_site.token)
    return wagtail_site.token


def png(folder: Path, name: str, colour: tuple[int, int, int] = (26, 99, 236), size: tuple[int, int] = (64, 48)) -> tuple[Path, str]:
    """A small real PNG with a unique text chunk (so no two tests share bytes); returns (path, sha256)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("test", uuid.uuid4().hex)
    path = folder / name
    Image.new("RGB", size, colour).save(path, pnginfo=info)
    return path, sha256_file(path)


def new_key() -> str:
    return f"t-{uuid.uuid4().hex[:10]}/aviator/square/v0.png"


def pub(site: Site, **options) -> WagtailPublisher:
    return WagtailPublisher(site.target, **{**FAST, **options})


LABELS = AssetLabels(title="Aviator sunglasses — square v0", alt_text="Aviator sunglasses on a blue backdrop")


# ----------------------------------------------------------------------------------------------- upload
def test_upload_sets_title_alt_text_collection_tags_and_bytes(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png", size=(80, 60))
    key = new_key()
    before = wagtail_site.total()
    target = publisher_for(wagtail_site.target, collection="Campaigns", tags=["spring sale", "brandflow"], **FAST)
    asset = target.publish(src, key, sha, {"campaign": "t"}, "version", labels=LABELS)

    assert asset.written and asset.key == key and asset.sha256 == sha and asset.cms_id
    assert asset.uri == f"{wagtail_site.api}images/{asset.cms_id}/"
    assert wagtail_site.total() == before + 1
    image = wagtail_site.image(asset.cms_id)
    assert image["title"] == "Aviator sunglasses — square v0", "a clean title: the identity lives beside the image"
    assert image["alt_text"] == "Aviator sunglasses on a blue backdrop"
    assert (image["collection"], image["collection_path"]) == ("Campaigns", "Campaigns")
    assert image["tags"] == ["brandflow", "spring sale"]
    assert (image["key"], image["sha256"]) == (key_id(key), sha)
    assert (image["width"], image["height"]) == (80, 60)
    assert asset.link == wagtail_site.origin + image["file_url"] and sha in asset.link
    body = httpx.get(asset.link, timeout=30)  # DEBUG serves media: the library holds exactly these bytes
    assert body.status_code == 200 and hashlib.sha256(body.content).hexdigest() == sha

    # The same, read through Wagtail's own models: the admin shows exactly this, and editors see only real tags;
    # the identity is a BrandflowAsset row beside the image.
    stored = json.loads(wagtail_site.shell(
        "import json; from wagtail.images import get_image_model; "
        f"i = get_image_model().objects.get(pk={int(asset.cms_id)}); a = i.brandflow_asset; "
        "print(json.dumps([i.title, i.description, i.collection.name, sorted(i.tags.names()), i.default_alt_text, "
        "i.uploaded_by_user.username, bool(i.file_hash), i.file_size, a.key, a.sha256]))"
    ).strip().splitlines()[-1])
    assert stored == ["Aviator sunglasses — square v0", "Aviator sunglasses on a blue backdrop", "Campaigns",
                      ["brandflow", "spring sale"], "Aviator sunglasses on a blue backdrop", USER, True,
                      src.stat().st_size, key_id(key), sha]
    assert "bf-" not in wagtail_site.shell("from taggit.models import Tag; print(list(Tag.objects.values_list('name', flat=True)))"), \
        "the admin's tag list and autocomplete hold no brandflow identity tags"


def test_without_labels_the_key_is_the_title_and_the_image_goes_to_the_root(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    image = wagtail_site.image(pub(wagtail_site).publish(src, key, sha, {}, "version").cms_id)
    assert (image["title"], image["alt_text"], image["collection"], image["tags"]) == (key, "", "Root", [])


def test_same_bytes_again_upload_nothing(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    first = pub(wagtail_site).publish(src, key, sha, {}, "version", labels=LABELS)
    before = wagtail_site.total()
    for on_conflict in ("version", "skip", "overwrite"):
        again = publisher_for(wagtail_site.target, **FAST).publish(src, key, sha, {}, on_conflict, labels=LABELS)
        assert not again.written and again.cms_id == first.cms_id and again.key == key and again.link == first.link
    assert wagtail_site.total() == before, "re-publishing the same bytes makes no new image"
    assert pub(wagtail_site).count(key) == 1


def test_an_editor_retitling_retagging_and_moving_the_image_does_not_make_a_duplicate(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    first = pub(wagtail_site, tags=["brandflow"]).publish(src, key, sha, {}, "overwrite", labels=LABELS)
    wagtail_site.shell(  # what an editor does in the admin: new title, all tags cleared and replaced, another collection
        "from wagtail.images import get_image_model; from wagtail.models import Collection; "
        f"i = get_image_model().objects.get(pk={int(first.cms_id)}); i.title = 'Renamed by an editor'; "
        "i.collection = Collection.objects.get(name='Archive'); i.save(); i.tags.clear(); i.tags.add('hero', 'q3')")
    before = wagtail_site.total()
    again = pub(wagtail_site, tags=["brandflow"]).publish(src, key, sha, {}, "overwrite", labels=LABELS)
    assert not again.written and again.cms_id == first.cms_id and wagtail_site.total() == before
    image = wagtail_site.image(first.cms_id)
    assert (image["title"], image["collection"], image["tags"]) == ("Renamed by an editor", "Archive", ["hero", "q3"])
    assert (image["key"], image["sha256"]) == (key_id(key), sha), "brandflow leaves the editor's changes alone"


def test_deleting_an_image_in_wagtail_deletes_its_identity(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    first = pub(wagtail_site).publish(src, key, sha, {}, "version")
    gone = wagtail_site.shell(  # the admin's delete view calls image.delete() too
        "from wagtail.images import get_image_model; from brandflow_wagtail.models import BrandflowAsset; "
        f"get_image_model().objects.get(pk={int(first.cms_id)}).delete(); "
        f"print('LEFT', BrandflowAsset.objects.filter(image_id={int(first.cms_id)}).count(), "
        f"BrandflowAsset.objects.filter(key='{key_id(key)}').count())")
    assert "LEFT 0 0" in gone
    assert pub(wagtail_site).count(key) == 0
    second = pub(wagtail_site).publish(src, key, sha, {}, "version")
    assert second.written and second.key == key and second.cms_id != first.cms_id, "a deleted image is uploaded again"


def test_a_collection_path_picks_one_of_two_same_named_collections(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    for ref in ("Campaigns/Spring", "Root/Campaigns/Spring"):
        asset = pub(wagtail_site, collection=ref).publish(src, new_key(), sha, {}, "version")
        assert wagtail_site.image(asset.cms_id)["collection_path"] == "Campaigns/Spring"
    before = wagtail_site.total()
    with pytest.raises(WagtailPublishError, match=r"more than one collection is named 'Spring'.*'Parent/Spring'") as e:
        pub(wagtail_site, collection="Spring").publish(src, new_key(), sha, {}, "version")
    assert e.value.code == "CollectionNotFound" and wagtail_site.total() == before


# ----------------------------------------------------------------------------------------------- conflicts
def test_changed_bytes_with_skip_keep_the_image(tmp_path, wagtail_site, token_env):
    old, old_sha = png(tmp_path, "old.png", (200, 0, 0))
    new, new_sha = png(tmp_path, "new.png", (0, 200, 0))
    key = new_key()
    first = pub(wagtail_site).publish(old, key, old_sha, {}, "skip")
    kept = pub(wagtail_site).publish(new, key, new_sha, {}, "skip")
    assert not kept.written and kept.cms_id == first.cms_id and kept.sha256 == old_sha
    assert pub(wagtail_site).count(key) == 1


def test_changed_bytes_with_overwrite_replace_the_image(tmp_path, wagtail_site, token_env):
    old, old_sha = png(tmp_path, "old.png", (200, 0, 0))
    new, new_sha = png(tmp_path, "new.png", (0, 200, 0))
    key = new_key()
    first = pub(wagtail_site).publish(old, key, old_sha, {}, "overwrite", labels=LABELS)
    before = wagtail_site.total()
    second = pub(wagtail_site).publish(new, key, new_sha, {}, "overwrite", labels=LABELS)

    assert second.written and second.sha256 == new_sha and second.key == key and second.cms_id != first.cms_id
    assert wagtail_site.get(f"images/{first.cms_id}/").status_code == 404, "the old image is deleted"
    assert wagtail_site.total() == before and pub(wagtail_site).count(key) == 1
    assert wagtail_site.image(second.cms_id)["alt_text"] == LABELS.alt_text
    again = pub(wagtail_site).publish(new, key, new_sha, {}, "overwrite", labels=LABELS)
    assert not again.written and again.cms_id == second.cms_id


def test_an_overwrite_cut_short_between_upload_and_delete_is_finished_by_the_rerun(tmp_path, wagtail_site, token_env):
    old, old_sha = png(tmp_path, "old.png", (200, 0, 0))
    new, new_sha = png(tmp_path, "new.png", (0, 200, 0))
    key = new_key()
    publisher = pub(wagtail_site)
    first = publisher.publish(old, key, old_sha, {}, "overwrite")
    crashed = publisher._upload(new, key, new_sha, AssetLabels(key))  # an overwrite whose process died before the delete
    assert publisher.count(key) == 2

    rerun = pub(wagtail_site).publish(new, key, new_sha, {}, "overwrite")
    assert not rerun.written and rerun.cms_id == crashed.cms_id
    assert wagtail_site.get(f"images/{first.cms_id}/").status_code == 404 and publisher.count(key) == 1


def test_changed_bytes_with_version_go_to_v2_then_v3(tmp_path, wagtail_site, token_env):
    one, sha1 = png(tmp_path, "1.png", (200, 0, 0))
    two, sha2 = png(tmp_path, "2.png", (0, 200, 0))
    three, sha3 = png(tmp_path, "3.png", (0, 0, 200))
    key = new_key()
    stem = key.removesuffix(".png")
    p = pub(wagtail_site, tags=["brandflow"])
    a1 = p.publish(one, key, sha1, {}, "version", labels=LABELS)
    a2 = p.publish(two, key, sha2, {}, "version", labels=LABELS)
    a3 = p.publish(three, key, sha3, {}, "version", labels=LABELS)
    assert (a1.key, a2.key, a3.key) == (key, f"{stem}.v2.png", f"{stem}.v3.png")
    assert a2.written and a3.written and len({a1.cms_id, a2.cms_id, a3.cms_id}) == 3
    v2 = wagtail_site.image(a2.cms_id)
    assert (v2["title"], v2["alt_text"], v2["tags"]) == ("Aviator sunglasses — square v0 (version 2)", LABELS.alt_text, ["brandflow"])
    assert v2["key"] == key_id(a2.key)

    before = wagtail_site.total()
    again = p.publish(two, key, sha2, {}, "version", labels=LABELS)
    assert not again.written and again.key == a2.key and again.cms_id == a2.cms_id, "a re-run finds its own version"
    assert wagtail_site.total() == before


# ----------------------------------------------------------------------------------------------- permissions, collections
def test_a_missing_collection_is_named_and_not_created(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    before = wagtail_site.total()
    with pytest.raises(WagtailPublishError) as e:
        pub(wagtail_site, collection="Autumn 2031").publish(src, new_key(), sha, {}, "version")
    message = str(e.value)
    assert e.value.code == "CollectionNotFound" and wagtail_site.api in message
    assert "no collection 'Autumn 2031'" in message and "does not create collections" in message
    assert "Settings → Collections" in message and "publish.wagtail.collection" in message
    assert wagtail_site.total() == before
    assert "Autumn 2031" not in wagtail_site.shell("from wagtail.models import Collection; "
                                                   "print(list(Collection.objects.values_list('name', flat=True)))")


def test_a_user_may_add_only_where_its_group_may(tmp_path, wagtail_site, monkeypatch):
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", wagtail_site.limited_token)
    src, sha = png(tmp_path, "a.png")
    before = wagtail_site.total()
    with pytest.raises(WagtailPublishError) as e:
        pub(wagtail_site, collection="Archive").publish(src, new_key(), sha, {}, "version")
    assert e.value.code == "PermissionDenied" and "HTTP 403" in str(e.value)
    assert "'limited' may not add images to collection 'Archive'" in str(e.value) and "Settings → Groups" in str(e.value)
    with pytest.raises(WagtailPublishError, match="may not add images to collection 'Root'"):
        pub(wagtail_site).publish(src, new_key(), sha, {}, "version")  # no collection: the root
    assert wagtail_site.total() == before

    key = new_key()  # "Campaigns" and below: allowed; the uploader may see and replace its own images
    first = pub(wagtail_site, collection="Campaigns/Spring").publish(src, key, sha, {}, "overwrite", labels=LABELS)
    assert first.written and pub(wagtail_site).count(key) == 1
    again = pub(wagtail_site, collection="Campaigns/Spring").publish(src, key, sha, {}, "overwrite", labels=LABELS)
    assert not again.written and again.cms_id == first.cms_id
    new, new_sha = png(tmp_path, "b.png", (0, 200, 0))
    replaced = pub(wagtail_site, collection="Campaigns/Spring").publish(new, key, new_sha, {}, "overwrite", labels=LABELS)
    assert replaced.written and replaced.cms_id != first.cms_id and pub(wagtail_site).count(key) == 1


def test_the_api_deletes_and_shows_only_brandflow_images(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    with open(src, "rb") as f:  # an editor's image, uploaded through wagtail-write-api: no brandflow tags
        theirs = httpx.post(wagtail_site.origin + "/api/write/v1/images/", data={"title": "editor's"},
                            files={"file": ("e.png", f, "image/png")}, headers={"Authorization": f"Bearer {wagtail_site.token}"},
                            timeout=30).json()["id"]
    auth = {"Authorization": f"Bearer {wagtail_site.token}"}
    assert httpx.delete(f"{wagtail_site.api}images/{theirs}/", headers=auth, timeout=30).status_code == 404
    assert wagtail_site.get(f"images/{theirs}/").status_code == 404
    assert httpx.get(f"{wagtail_site.origin}/api/write/v1/images/{theirs}/", headers=auth, timeout=30).status_code == 200
    assert wagtail_site.get("images/", key="nothex").status_code == 400
    assert httpx.get(wagtail_site.api + "images/", params={"key": "0" * 16}, timeout=30).status_code == 401


# ----------------------------------------------------------------------------------------------- errors
def test_a_wrong_token_is_a_clear_error_naming_the_fix(tmp_path, wagtail_site, monkeypatch):
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", "0" * 40)
    src, sha = png(tmp_path, "a.png")
    with pytest.raises(WagtailPublishError) as e:
        pub(wagtail_site).publish(src, new_key(), sha, {}, "version")
    assert e.value.code == "HTTP 401" and wagtail_site.api in str(e.value)
    assert "BRANDFLOW_WAGTAIL_TOKEN" in str(e.value) and "python manage.py create_api_token USER" in str(e.value)


def test_a_missing_token_names_the_variable(monkeypatch):
    target = "wagtail+https://cms.example.com/api/brandflow/v1/"  # nothing is sent: the token is checked first
    monkeypatch.delenv("BRANDFLOW_WAGTAIL_TOKEN", raising=False)
    monkeypatch.delenv("CMS_TOKEN", raising=False)
    with pytest.raises(WagtailPublishError, match=r"BRANDFLOW_WAGTAIL_TOKEN .*not set.*create_api_token USER"):
        WagtailPublisher(target)
    with pytest.raises(ValueError, match="token_env"):  # the campaign cannot pick which variable (secret) is sent
        PublishSpec(wagtail={"token_env": "AWS_SECRET_ACCESS_KEY"})


def test_run_records_are_refused_before_anything_is_sent(tmp_path, wagtail_site, token_env):
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"campaign": "t"}')
    before = wagtail_site.total()
    with pytest.raises(WagtailUnsupportedFileError, match="holds images only") as e:
        pub(wagtail_site).publish(manifest, "t/_runs/r1/manifest.json", sha256_file(manifest), {}, "overwrite")
    assert isinstance(e.value, UnsupportedFileError), "the flow can catch it for any target"
    assert wagtail_site.total() == before


def test_a_file_the_site_cannot_read_is_refused_not_retried(tmp_path, wagtail_site, token_env, fault_proxy_to):
    proxy = fault_proxy_to(wagtail_site.origin)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    before = wagtail_site.total()
    with pytest.raises(WagtailPublishError, match="could not take broken.png as an image") as e:
        WagtailPublisher(f"wagtail+{proxy.url}/api/brandflow/v1/", **FAST).publish(bad, new_key(), sha256_file(bad), {}, "version")
    assert e.value.code == "NotAnImage" and [s.status for s in proxy.requests("POST")] == [400]
    assert wagtail_site.total() == before
    jpeg = tmp_path / "really-a-png.jpg"  # Wagtail's own check: the extension must match the content
    shutil.copy(png(tmp_path, "x.png")[0], jpeg)
    with pytest.raises(WagtailPublishError, match=r"Not a valid \.jpe?g image.*does not match the file format \(png\)") as e:
        pub(wagtail_site).publish(jpeg, new_key(), sha256_file(jpeg), {}, "version")
    assert e.value.code == "NotAnImage"


def test_a_site_without_brandflow_wagtail_says_how_to_install_it(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    before = wagtail_site.total()
    with pytest.raises(WagtailPublishError, match=r"HTTP 404.*install brandflow-wagtail.*include\('brandflow_wagtail.urls'\)") as e:
        WagtailPublisher(f"wagtail+{wagtail_site.origin}/api/nothing/", **FAST).publish(src, new_key(), sha, {}, "version")
    assert e.value.code == "NotInstalled"
    # wagtail-write-api's own image API answers alike, but cannot hold alt text, collection or tags: refused.
    with pytest.raises(WagtailPublishError, match="not as brandflow-wagtail.*pip install wagtail-write-api ./integrations/wagtail") as e:
        WagtailPublisher(f"wagtail+{wagtail_site.origin}/api/write/v1/", **FAST).publish(src, new_key(), sha, {}, "overwrite")
    assert e.value.code == "NotBrandflowWagtail" and wagtail_site.total() == before


def test_a_changed_file_is_refused(tmp_path, wagtail_site, token_env):
    src, sha = png(tmp_path, "a.png")
    src.write_bytes(src.read_bytes() + b"x")
    with pytest.raises(ValueError, match="changed after it was hashed"):
        pub(wagtail_site).publish(src, new_key(), sha, {}, "version")


@pytest.mark.parametrize("uri, fix", [
    ("wagtail+https://cms.example.com", "add the path"),
    ("wagtail+https://user:secret@cms.example.com/api/brandflow/v1/", "credentials never go in the target URI"),
    ("wagtail+https://cms.example.com/api/brandflow/v1/?token=x", "no query"),
    ("https://cms.example.com/api/brandflow/v1/", "wagtail\\+https://cms.example.com/api/brandflow/v1/"),
])
def test_bad_target_uris(uri, fix, monkeypatch):
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", "t")
    with pytest.raises(WagtailPublishError, match=fix):
        WagtailPublisher(uri)


def test_target_uris_and_options(monkeypatch):
    assert parse_target("wagtail+https://cms.example.com/api/brandflow/v1") == ("https://cms.example.com/api/brandflow/v1/", "https://cms.example.com")
    assert parse_target("wagtail+http://127.0.0.1:8000/cms/api/") == ("http://127.0.0.1:8000/cms/api/", "http://127.0.0.1:8000")
    spec = PublishSpec(wagtail={"timeout_seconds": 5, "collection": "Campaigns/Spring",
                                "tags": ["spring sale", " brandflow ", "spring sale"]})
    expected = {"timeout_seconds": 5, "collection": "Campaigns/Spring", "tags": ["spring sale", "brandflow"]}
    assert spec.options_for("wagtail+https://cms.example.com/api/brandflow/v1/") == expected
    assert spec.options_for("wagtail+http://127.0.0.1/api/") == expected
    assert spec.options_for("s3://bucket/prefix") == {} and spec.options_for("file:///tmp/x") == {}
    assert PublishSpec().options_for("wagtail+http://127.0.0.1/api/") == {}
    with pytest.raises(ValueError):
        PublishSpec(wagtail={"token": "secret"})  # extra=forbid: a token never goes in the YAML
    for bad in (["a,b"], ["bf-key-0123"], [""], ["x" * 101]):
        with pytest.raises(ValueError, match="no commas"):
            PublishSpec(wagtail={"tags": bad})
    monkeypatch.setenv("BRANDFLOW_WAGTAIL_TOKEN", "t")
    with pytest.raises(WagtailPublishError, match="BadTag"):
        WagtailPublisher("wagtail+https://cms.example.com/api/brandflow/v1/", tags=["bf-sha-x"])


# ----------------------------------------------------------------------------------------------- transient faults
def test_throttling_and_5xx_are_retried_and_make_one_image(tmp_path, wagtail_site, token_env, fault_proxy_to):
    proxy = fault_proxy_to(wagtail_site.origin)
    proxy.add("status", status=429, method="GET")
    proxy.add("status", times=2, status=503, method="POST")
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    asset = WagtailPublisher(f"wagtail+{proxy.url}/api/brandflow/v1/", collection="Campaigns", **FAST).publish(
        src, key, sha, {}, "version", labels=LABELS)
    assert asset.written and pub(wagtail_site).count(key) == 1
    assert [s.status for s in proxy.requests("POST")] == [503, 503, 201]
    assert wagtail_site.image(asset.cms_id)["collection"] == "Campaigns"


def test_a_dropped_upload_is_retried_without_a_duplicate(tmp_path, wagtail_site, token_env, fault_proxy_to):
    proxy = fault_proxy_to(wagtail_site.origin)
    proxy.add("drop", method="POST")
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    asset = WagtailPublisher(f"wagtail+{proxy.url}/api/brandflow/v1/", **FAST).publish(src, key, sha, {}, "version")
    assert asset.cms_id and pub(wagtail_site).count(key) == 1
    assert [s.status for s in proxy.requests("POST")] == ["dropped", 201]


def test_an_upload_whose_answer_was_lost_is_found_not_repeated(tmp_path, wagtail_site, token_env, fault_proxy_to):
    proxy = fault_proxy_to(wagtail_site.origin)
    proxy.add("lose", method="POST")
    src, sha = png(tmp_path, "a.png")
    key = new_key()
    asset = WagtailPublisher(f"wagtail+{proxy.url}/api/brandflow/v1/", **FAST).publish(src, key, sha, {}, "version")
    assert [s.status for s in proxy.requests("POST")] == ["lost 201"], "the retry lists, finds the image, uploads nothing"
    assert not asset.written and asset.cms_id and pub(wagtail_site).count(key) == 1


def test_a_site_that_stays_down_gives_up_with_the_attempts(tmp_path, wagtail_site, token_env, fault_proxy_to):
    proxy = fault_proxy_to(wagtail_site.origin)
    proxy.add("status", times=3, status=503, method="GET")
    src, sha = png(tmp_path, "a.png")
    with pytest.raises(WagtailUnavailableError, match="still failing after 3 attempts") as e:
        WagtailPublisher(f"wagtail+{proxy.url}/api/brandflow/v1/", retry_attempts=3, **FAST).publish(src, new_key(), sha, {}, "version")
    assert e.value.attempts == 3 and e.value.code == "HTTP 503" and proxy.requests("POST") == []


# ----------------------------------------------------------------------------------------------- labels
def test_labels_are_plain_words_from_the_product_and_the_scene():
    job = SimpleNamespace(
        product_title="Apple Juice", variant=0, format=SimpleNamespace(name="square"),
        prompt=SimpleNamespace(scene="Studio product photograph of Apple Juice for Saleor on a seamless backdrop in "
                                     "#1A63EC (brand primary, Saleor blue) " + "with soft light " * 30,
                               subjects=[SimpleNamespace(description="x")]),
    )
    labels = labels_for(job)
    assert labels.title == "Apple Juice — square v0"
    assert labels.alt_text.startswith("Studio product photograph of Apple Juice for Saleor on a seamless backdrop in Saleor blue with")
    assert len(labels.alt_text) <= 250 and labels.alt_text.endswith("…") and "#" not in labels.alt_text
    assert plain_text("a wall in #FFFFFF and a #000000 floor") == "a wall in and a floor"
    job.prompt.scene = "A sunny kitchen table"
    assert labels_for(job).alt_text == "Apple Juice: A sunny kitchen table"


def test_labels_reach_only_publishers_that_take_them(tmp_path):
    seen = {}

    class Old:  # a third-party publisher written before labels existed
        def publish(self, src, key, sha256, metadata, on_conflict):
            seen["old"] = key

    class New:
        def publish(self, src, key, sha256, metadata, on_conflict, labels=None):
            seen["new"] = labels

    publish_labelled(Old(), tmp_path, "k", "s", {}, "version", LABELS)
    publish_labelled(New(), tmp_path, "k", "s", {}, "version", LABELS)
    assert seen == {"old": "k", "new": LABELS}


# ----------------------------------------------------------------------------------------------- a campaign
def test_a_campaign_publishes_into_wagtail_and_a_rerun_adds_nothing(prefect_harness, campaign_dir, tmp_path, wagtail_site, token_env, monkeypatch):
    from brandflow.flows.campaign import campaign_flow
    from brandflow.manifest import RunManifest

    path = campaign_dir / "campaign.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["formats"] = [{"name": "square", "width": 1080, "height": 1080}]
    spec["variants"] = 1
    spec["name"] = f"wagtail-{uuid.uuid4().hex[:6]}"
    spec["publish"]["wagtail"] = {"collection": "Campaigns", "tags": ["brandflow", spec["name"]]}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    products = ["apple-juice", "white-plimsolls"]
    before = wagtail_site.total()
    monkeypatch.setenv("BRANDFLOW_ALLOWED_TARGETS", wagtail_site.target)  # a run-time target: the operator allows it

    first = campaign_flow(str(path), str(tmp_path / "run"), only=products, publish_to=wagtail_site.target)
    manifest = RunManifest.read(first.manifest)
    published = [j for j in manifest.jobs if j.status == "published"]
    assert published, "at least one creative of these real products passes QA"
    assert wagtail_site.total() == before + len(published)
    for job in published:
        asset = job.published
        assert asset.cms_id and asset.written and asset.uri == f"{wagtail_site.api}images/{asset.cms_id}/"
        image = wagtail_site.image(asset.cms_id)
        assert image["title"] == f"{job.product_title} — square v0"
        assert job.product_title.lower() in image["alt_text"].lower() and "#" not in image["alt_text"]
        assert 20 < len(image["alt_text"]) <= 250
        assert image["collection"] == "Campaigns" and image["tags"] == sorted(["brandflow", spec["name"]])
        assert (image["key"], image["sha256"]) == (key_id(asset.key), asset.sha256)
        assert hashlib.sha256(httpx.get(asset.link, timeout=30).content).hexdigest() == asset.sha256
    assert manifest.publish_target == wagtail_site.target

    second = campaign_flow(str(path), str(tmp_path / "run"), only=products, publish_to=wagtail_site.target)
    again = {j.job_id: j.published for j in RunManifest.read(second.manifest).jobs if j.published}
    assert wagtail_site.total() == before + len(published), "a re-run uploads no image twice"
    assert {k: a.cms_id for k, a in again.items()} == {j.job_id: j.published.cms_id for j in published}
    assert not any(a.written for a in again.values())
