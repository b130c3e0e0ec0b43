"""The ``wagtail+https://host/api/brandflow/v1/`` target: a Wagtail CMS image library, through brandflow-wagtail.

The site side is the user's Wagtail site (6.3 or later) with two apps installed: ``wagtail-write-api`` (its API
tokens, ``python manage.py create_api_token USER``) and ``brandflow-wagtail`` from this repository
(``integrations/wagtail``), mounted with ``path("api/brandflow/v1/", include("brandflow_wagtail.urls"))``. That
URL, with ``wagtail+`` in front of the scheme, is the target. brandflow itself needs only ``httpx``; the CMS never
installs brandflow. The bearer token is read from the environment variable ``BRANDFLOW_WAGTAIL_TOKEN`` on the worker
(a fixed name: a campaign file cannot pick which secret is sent), never from the YAML or the URI, and is sent only
over https (plain http to a loopback address) to a host the operator allows (:mod:`brandflow.targets`).

What lands in Wagtail. One image per creative, created in one request and one database transaction on the site:
the file (named ``<sha256>.<ext>``), the title (``labels.title``, e.g. ``Apple Juice — square v0``), the alt
text (``labels.alt_text`` → ``Image.description``), the collection (``collection``, by name or path; it must
exist) and the tags (``tags``, nothing else). The identity — ``K`` (the first 16 hex digits of sha256(publish
key)) and the file's sha256 — is stored by brandflow-wagtail in its own table beside the image (a
``BrandflowAsset`` row, one-to-one with the image), not in the tags: editors do not see it, and re-tagging,
renaming or moving the image does not lose it. The site checks the file the way Wagtail's admin does
and the user's "add" permission on the collection. JSON and HTML files (``manifest.json``, ``report.html``) are
refused with :class:`WagtailUnsupportedFileError` before anything is sent: an image library holds images.

Exactly once, by content. Before writing, ``GET images/?key=K`` lists the images stored with key ``K``: one with
this sha256 means the bytes are already there (nothing is sent); otherwise ``on_conflict`` decides — ``skip``
keeps what is there, ``version`` uses key ``name.v2.ext`` (then v3 …) and finds a version that already holds
these bytes, ``overwrite`` uploads the new image, then deletes the old one(s) (an image's file is not replaced
in place, so the CMS id changes, and pages that used the old image lose it). A crash between that upload and
the delete leaves both; the next run finds the new bytes already there and deletes the rest. Image, identity
and tags are written together, so a crash never leaves an image a re-run would not find. Two runs racing on one key may
both upload; each then re-lists the key and the image with the higher id is deleted, so one remains.

Retries: the *whole* publish — list, decide, upload — is retried by
:func:`brandflow.publishers.retry.call_with_retry` on HTTP 429, 5xx and dropped or timed-out connections
only; every retry starts by listing again, so an upload whose answer was lost is never sent twice. Every 4xx
is raised at once as :class:`WagtailPublishError` naming the site, the key and the likely fix (a missing
collection, a permission, the token, an app that is not installed).

Sources: ``integrations/wagtail/brandflow_wagtail/api.py`` (the endpoints); wagtail-write-api 0.8.4
(``auth.py``, ``management/commands/create_api_token.py``); Wagtail 8.0 ``wagtail/images/models.py`` (title and
description ≤ 255 characters, ``WAGTAILIMAGES_EXTENSIONS``); httpx's exception hierarchy.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx
from pydantic import Field, field_validator

from brandflow.errors import BrandflowError
from brandflow.publishers.base import AssetLabels, OnConflict, UnsupportedFileError, clip
from brandflow.publishers.retry import RetriesExhausted, RetryPolicy, call_with_retry
from brandflow.records import PublishedAsset, sha256_file
from brandflow.registry import PluginOptions
from brandflow.targets import check_secret_destination

log = logging.getLogger(__name__)

SCHEMES = ("wagtail+http", "wagtail+https")
#: File types a Wagtail image library takes by default (Wagtail 8 ``WAGTAILIMAGES_EXTENSIONS``).
IMAGE_SUFFIXES = frozenset({".avif", ".gif", ".jpg", ".jpeg", ".png", ".webp"})
#: Wagtail's ``Image.title`` and ``Image.description`` are ``CharField(max_length=255)``.
MAX_TITLE = 255
#: Highest ``name.vN.ext`` tried by ``on_conflict: version`` before giving up.
MAX_VERSIONS = 999
#: What brandflow-wagtail puts in ``meta.api`` of a listing (wagtail-write-api's listing looks alike otherwise).
API_NAME = "brandflow-wagtail"
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
_TOKEN_FIX = "run `python manage.py create_api_token USER` on the Wagtail site and export {env}=<the token>"
_INSTALL_FIX = (
    "install brandflow-wagtail on the site (pip install wagtail-write-api ./integrations/wagtail from a brandflow "
    "checkout), add 'wagtail_write_api' and 'brandflow_wagtail' to INSTALLED_APPS, mount "
    "path('api/brandflow/v1/', include('brandflow_wagtail.urls')) before Wagtail's catch-all, run migrate, and use "
    "that URL as the target (wagtail+https://cms.example.com/api/brandflow/v1/)"
)


class WagtailPublishError(BrandflowError):
    """Publishing to a Wagtail site failed for a reason a retry cannot fix (4xx, token, configuration).

    Attributes:
        site: the API's URL (``https://cms.example.com/api/brandflow/v1/``).
        key: the publish key, or ``None`` when no image was involved.
        code: ``HTTP 401`` …, or a short name (``MissingToken``, ``NotAnImage``, ``CollectionNotFound``,
            ``PermissionDenied``, ``NotInstalled``).
        fix: what to do about it.
    """

    def __init__(self, site: str, key: str | None, code: str, reason: str, fix: str):
        self.site, self.key, self.code, self.fix = site, key, code, fix
        where = f"{site} (key {key})" if key else site
        super().__init__(f"{where}: {code}: {reason}. Fix: {fix}")


class WagtailUnavailableError(WagtailPublishError):
    """Every attempt failed with a transient error (429, 5xx, dropped connections); ``attempts`` says how many.
    A later retry (the next run, or an orchestrator retry) may succeed."""

    def __init__(self, site: str, key: str | None, code: str, reason: str, fix: str, attempts: int):
        self.attempts = attempts
        super().__init__(site, key, code, reason, fix)


class WagtailUnsupportedFileError(WagtailPublishError, UnsupportedFileError):
    """The file is not an image (``manifest.json``, ``report.html``): a Wagtail image library cannot hold it."""


# ----------------------------------------------------------------------------------------------- clients
_clients: dict[tuple, httpx.Client] = {}
_clients_lock = threading.Lock()


def _client(api: str, token: str, timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    """One ``httpx.Client`` per site, token and timeout for the process (clients are thread-safe and keep
    connections alive; a publisher is made per creative)."""
    key = (api, hashlib.sha256(token.encode()).hexdigest(), timeout, id(transport) if transport else None)
    with _clients_lock:
        if key not in _clients:
            _clients[key] = httpx.Client(
                base_url=api, timeout=timeout, transport=transport, follow_redirects=False,
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json", "User-Agent": "brandflow"},
            )
        return _clients[key]



#: The one variable the API token is read from (fixed: the campaign file cannot name another secret).
TOKEN_ENV = "BRANDFLOW_WAGTAIL_TOKEN"


# ----------------------------------------------------------------------------------------------- publisher
class WagtailOptions(PluginOptions):
    """Options of a ``wagtail+https://host/api/brandflow/v1/`` target (a Wagtail site with the brandflow-wagtail
    app, ``integrations/wagtail``). The bearer token never goes here: it is read from ``BRANDFLOW_WAGTAIL_TOKEN`` on
    the worker (a fixed name, so a campaign file cannot choose which secret is sent) and sent only to a host the
    operator allows (README, "Security model")."""

    collection: str | None = Field(
        default=None, min_length=1, max_length=1000,
        description="the image collection, by name or by path from the root ('Campaigns/Spring'); it must exist "
                    "(brandflow never creates collections); None: the root collection",
    )
    tags: list[str] = Field(default_factory=list, description="tags every published image gets (brandflow's own "
                                                               "identity is stored beside the image, not in tags)")
    timeout_seconds: float = Field(default=60.0, gt=0, le=600, description="per HTTP request (connect, read, write)")
    retry_attempts: int = Field(default=6, ge=1, le=20, description="attempts for transient errors, the first included")
    retry_base_delay: float = Field(default=0.25, ge=0, description="seconds")
    retry_max_delay: float = Field(default=20.0, ge=0, description="seconds")

    @field_validator("tags")
    @classmethod
    def _plain_tags(cls, v: list[str]) -> list[str]:
        for tag in v:
            if not tag.strip() or len(tag) > 100 or "," in tag or tag.startswith(("bf-key-", "bf-sha-")):
                raise ValueError(f"tag {tag!r}: 1 to 100 characters, no commas (Wagtail's tag field splits on them), "
                                 "and not starting with bf-key- or bf-sha- (reserved by brandflow)")
        return list(dict.fromkeys(t.strip() for t in v))


class WagtailPublisher:
    """Publishes creatives into a Wagtail site's image library, exactly once (see the module doc).

    Args:
        uri: ``wagtail+https://host[:port]/path/`` — the URL where the site mounts ``brandflow_wagtail.urls``
            (usually ``/api/brandflow/v1/``), with ``wagtail+`` before the scheme. ``wagtail+http://`` for a
            local site. No credentials, query or fragment.
        collection: the collection every image goes to, by name (``Spring``) or path from the root
            (``Campaigns/Spring``); it must exist on the site. ``None``: the root collection.
        tags: tags every image gets (not starting with ``bf-key-``/``bf-sha-``: reserved by brandflow).
        timeout_seconds: per request, connect/read/write (default 60).
        retry_attempts, retry_base_delay, retry_max_delay: the transient-error policy (attempts including the
            first; seconds), as :class:`~brandflow.publishers.retry.RetryPolicy`.
        transport: an ``httpx`` transport (tests); default: a real network connection.

    Raises:
        WagtailPublishError: the URI is malformed, a tag is not allowed, or the token variable is unset or empty.
        TargetNotAllowedError: the site is neither on a loopback address nor listed in ``BRANDFLOW_ALLOWED_TARGETS``,
            or is plain http on another host (the token would be sent there).
    """

    name = "wagtail"
    Options = WagtailOptions  # its settings: publish.wagtail in the campaign, validated when it loads

    def __init__(
        self,
        uri: str,
        *,
        collection: str | None = None,
        tags: Sequence[str] = (),
        timeout_seconds: float = 60.0,
        retry_attempts: int = 6,
        retry_base_delay: float = 0.25,
        retry_max_delay: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.api, self.origin = parse_target(uri)
        self.collection = (collection or "").strip() or None
        if isinstance(tags, str):
            tags = [tags]
        self.tags = list(dict.fromkeys(t.strip() for t in tags if t.strip()))
        for tag in self.tags:
            if len(tag) > 100 or "," in tag or tag.startswith(("bf-key-", "bf-sha-")):
                raise WagtailPublishError(self.api, None, "BadTag", f"tag {tag!r} is not allowed",
                                          "tags are 1 to 100 characters, without commas, and do not start with "
                                          "bf-key- or bf-sha- (reserved by brandflow)")
        self.token_env = token_env = TOKEN_ENV
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise WagtailPublishError(
                self.api, None, "MissingToken", f"the environment variable {token_env} holding the API token is not set",
                _TOKEN_FIX.format(env=token_env),
            )
        check_secret_destination(self.api, "the Wagtail API token")
        self.retry = RetryPolicy(retry_attempts, retry_base_delay, retry_max_delay)
        self.client = _client(self.api, token, float(timeout_seconds), transport)

    # ------------------------------------------------------------------------------------------- public API
    def publish(
        self, src: Path, key: str, sha256: str, metadata: dict[str, str], on_conflict: OnConflict,
        labels: AssetLabels | None = None,
    ) -> PublishedAsset:
        """Upload the image ``src`` to the library unless an image for ``key`` with these bytes is there.

        Args:
            src: the image (PNG, JPEG, WebP, GIF or AVIF; the final, provenance-marked bytes).
            key: the publish key (``campaign/product/format/v0.png``); identifies the image across runs.
            sha256: hex sha256 of ``src``; checked against the file before anything is sent (and by the site).
            metadata: not sent (Wagtail images have no custom fields); kept for the interface.
            on_conflict: a *different* image for the key: ``skip`` keeps it, ``overwrite`` uploads the new one
                and deletes the old (new CMS id), ``version`` uses key ``name.v2.ext`` (then v3 …).
            labels: ``title`` becomes the image title (default: the key), ``alt_text`` its alt text
                (Wagtail's ``description``; default empty, and Wagtail falls back to the title).

        Returns:
            ``PublishedAsset``: ``cms_id`` the Wagtail image id; ``uri`` the image's URL in the API
            (``https://host/api/brandflow/v1/images/<id>/``); ``link`` the original file's absolute URL
            (``https://host/media/original_images/<sha256>.png``, as the site's storage serves it); ``key``
            the key used (``…/v0.v2.png`` after versioning); ``written`` False when nothing was uploaded.
            With ``skip`` on a conflict, ``sha256`` is the kept image's.

        Raises:
            WagtailUnsupportedFileError: ``src`` is not an image type Wagtail takes (nothing is sent).
            WagtailPublishError: a 4xx or a wrong target (bad token, missing collection or permission, wrong URL,
                a file the site cannot read as an image).
            WagtailUnavailableError: transient errors persisted through every retry.
            ValueError: ``src`` does not have that sha256, or ``on_conflict`` is unknown.
        """
        src = Path(src)
        if src.suffix.lower() not in IMAGE_SUFFIXES:
            raise WagtailUnsupportedFileError(
                self.api, key, "NotAnImage",
                f"{src.name} is not an image, and a Wagtail image library holds images only "
                f"({', '.join(sorted(IMAGE_SUFFIXES))})",
                "keep run records (manifest.json, report.html) in the run folder or publish them to a file:// or s3:// target",
            )
        if on_conflict not in ("skip", "overwrite", "version"):
            raise ValueError(f"on_conflict must be skip, overwrite or version, got {on_conflict!r}")
        actual = sha256_file(src)
        if actual != sha256:
            raise ValueError(f"{src}: the file's sha256 is {actual}, not {sha256}: it changed after it was hashed")
        labels = AssetLabels(title=(labels.title if labels and labels.title else key),
                             alt_text=labels.alt_text if labels else "")

        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            log.warning("%s (key %s): %s (attempt %d of %d); retrying in %.2f s", self.api, key, _describe(exc),
                        attempt, self.retry.max_attempts, wait)

        try:
            return call_with_retry(lambda: self._publish_once(src, key, sha256, labels, on_conflict), self.retry,
                                   transient=is_transient, on_retry=on_retry)
        except RetriesExhausted as e:
            raise WagtailUnavailableError(
                self.api, key, _code(e.last), f"still failing after {e.attempts} attempts: {_describe(e.last)}",
                "the site is throttling, failing or unreachable: check that it is up and the URL is right, or "
                "re-run later (images already published are not uploaded again)",
                e.attempts,
            ) from e.last
        except httpx.HTTPStatusError as e:
            raise self._permanent(e, key, src) from e
        except httpx.TransportError as e:  # not transient: an unsupported protocol, a malformed request
            raise WagtailPublishError(self.api, key, type(e).__name__, str(e), "check the target URI") from e

    def images(self, key: str) -> list[dict[str, Any]]:
        """The site's images for ``key`` (oldest first) as the API describes them: ``id``, ``title``,
        ``alt_text``, ``collection``, ``collection_path``, ``tags``, ``sha256``, ``file_url`` … A read-only
        check for tests and operators."""
        return self._images_for(key)

    def count(self, key: str) -> int:
        """How many images the site holds for ``key``."""
        return len(self._images_for(key))

    # ------------------------------------------------------------------------------------------- internals
    def _publish_once(self, src: Path, key: str, sha256: str, labels: AssetLabels, on_conflict: OnConflict) -> PublishedAsset:
        """One attempt: list the key's images, decide, upload at most once. Safe to repeat after any failure."""
        found = self._images_for(key)
        same = [i for i in found if i.get("sha256") == sha256]
        if same:
            if on_conflict == "overwrite":  # finish an overwrite a crash interrupted: the old bytes go
                self._delete([i for i in found if i.get("sha256") != sha256], key)
            return self._asset(same[0], key, sha256, written=False)
        if not found:
            return self._upload(src, key, sha256, labels)
        if on_conflict == "skip":
            kept = found[-1]
            return self._asset(kept, key, kept.get("sha256") or "", written=False)
        if on_conflict == "overwrite":
            asset = self._upload(src, key, sha256, labels)
            self._delete(found, key)
            return asset
        base = PurePosixPath(key)
        for n in range(2, MAX_VERSIONS + 1):
            candidate = str(base.with_name(f"{base.stem}.v{n}{base.suffix}"))
            there = self._images_for(candidate)
            if not there:
                return self._upload(src, candidate, sha256, labels, version=n)
            hit = [i for i in there if i.get("sha256") == sha256]
            if hit:  # a re-run finds its own version: no v(n+1) for the same bytes
                return self._asset(hit[0], candidate, sha256, written=False)
        raise WagtailPublishError(self.api, key, "TooManyVersions", f"v2 … v{MAX_VERSIONS} are all taken",
                                  "delete old versions in the Wagtail admin or use on_conflict: overwrite")

    def _images_for(self, key: str) -> list[dict[str, Any]]:
        """Every image tagged with ``key``'s id that the token's user may see, oldest (lowest id) first."""
        wanted = key_id(key)
        page = self._json(self.client.get("images/", params={"key": wanted}))
        meta = page.get("meta") if isinstance(page.get("meta"), dict) else {}
        items = page.get("items")
        if meta.get("api") != API_NAME or not isinstance(items, list) or any(i.get("key") != wanted for i in items):
            raise WagtailPublishError(
                self.api, key, "NotBrandflowWagtail",
                "the target answers, but not as brandflow-wagtail (wagtail-write-api's own /api/write/v1/ looks alike "
                "and cannot store alt text, collection or tags)", _INSTALL_FIX)
        return sorted(items, key=lambda i: int(i["id"]))

    def _upload(self, src: Path, key: str, sha256: str, labels: AssetLabels, version: int | None = None) -> PublishedAsset:
        """POST the image with its labels, collection and tags; then settle a race with another writer of the key."""
        title = labels.title if version is None else f"{clip(labels.title, MAX_TITLE - 14)} (version {version})"
        data: dict[str, Any] = {"title": clip(title, MAX_TITLE), "alt_text": clip(labels.alt_text, MAX_TITLE),
                                "key": key_id(key), "sha256": sha256, "tags": self.tags}
        if self.collection:
            data["collection"] = self.collection
        ctype = mimetypes.guess_type(src.name)[0] or "application/octet-stream"
        with open(src, "rb") as body:
            response = self.client.post("images/", data=data, files={"file": (f"{sha256}{src.suffix.lower()}", body, ctype)})
        mine = self._json(response)
        if mine.get("key") != key_id(key) or mine.get("sha256") != sha256:
            raise WagtailPublishError(self.api, key, "NotBrandflowWagtail",
                                      f"the upload was answered without brandflow's key and sha256 ({_detail(response)})",
                                      _INSTALL_FIX)
        log.info("%s: uploaded %s as image %s", self.api, key, mine.get("id"))
        twins = [i for i in self._images_for(key) if i.get("sha256") == sha256]
        if twins and int(twins[0]["id"]) < int(mine["id"]):  # another run uploaded the same first: keep theirs
            self._delete([mine], key)
            return self._asset(twins[0], key, sha256, written=False)
        return self._asset(mine, key, sha256, written=True)

    def _delete(self, images: list[dict[str, Any]], key: str) -> None:
        for image in images:
            response = self.client.delete(f"images/{int(image['id'])}/")
            if response.status_code != 404:  # already gone (a retry, or an editor): fine
                response.raise_for_status()
            log.info("%s: deleted image %s (replaced for %s)", self.api, image["id"], key)

    def _asset(self, image: dict[str, Any], key: str, sha256: str, written: bool) -> PublishedAsset:
        file_url = image.get("file_url")
        uri = urljoin(self.api, f"images/{int(image['id'])}/")
        link = urljoin(self.origin + "/", file_url) if file_url else None
        return PublishedAsset(uri=uri, key=key, sha256=sha256, written=written, cms_id=str(image["id"]), link=link)

    def _json(self, response: httpx.Response) -> Any:
        """The JSON object of a successful answer; raises ``HTTPStatusError`` for ≥ 300 and a clear error when
        the answer is not JSON (a URL that reaches a Wagtail page instead of the API)."""
        if not response.is_success:
            response.raise_for_status()  # httpx raises for every non-2xx, redirects included
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or not ({"items", "meta"} <= data.keys() or "id" in data):
            raise WagtailPublishError(
                self.api, None, "NotBrandflowWagtail",
                f"{response.request.url} answered HTTP {response.status_code} "
                f"{response.headers.get('content-type', 'without a content type')}, not brandflow-wagtail's JSON",
                _INSTALL_FIX,
            )
        return data

    def _permanent(self, exc: httpx.HTTPStatusError, key: str, src: Path) -> WagtailPublishError:
        """A :class:`WagtailPublishError` naming the site, the key and the likely fix for a final HTTP error."""
        response = exc.response
        status, detail = response.status_code, _detail(response)
        error = _error_code(response)
        code, reason = f"HTTP {status}", f"{response.request.method} {response.request.url}: {detail}"
        answered = f"{response.request.method} {response.request.url} answered HTTP {status}: {detail}"
        if error == "invalid_image":
            return WagtailPublishError(self.api, key, "NotAnImage", f"the site could not take {src.name} as an image ({detail})",
                                       "publish PNG, JPEG or WebP creatives within the site's WAGTAILIMAGES_* limits; check the file opens")
        if error in ("collection_not_found", "ambiguous_collection"):
            return WagtailPublishError(self.api, key, "CollectionNotFound", detail,
                                       f"create the collection {self.collection!r} on the site, or set "
                                       "publish.wagtail.collection to an existing one (name, or path from the root)")
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            fix = (f"the site redirects to {where}: use that address as the target (https instead of http? a missing "
                   "trailing slash?)")
        elif status == 401:
            fix = (f"the token in {self.token_env} is not a valid token of an active user on this site: "
                   + _TOKEN_FIX.format(env=self.token_env) + " (add --reset to issue a new one)")
        elif status == 403:
            return WagtailPublishError(self.api, key, "PermissionDenied", answered,
                                       "give the token's user the image permissions it needs on the collection in the "
                                       "Wagtail admin (Settings → Groups: 'Add' to publish, 'Edit' to replace others' images)")
        elif status == 404:
            return WagtailPublishError(self.api, key, "NotInstalled", f"{answered} (nothing answers at this path)", _INSTALL_FIX)
        elif status == 405:
            fix = "the target is not brandflow-wagtail's root: use the URL that ends in the mounted path, e.g. /api/brandflow/v1/"
        elif status == 413:
            fix = ("the image is larger than the site or its proxy accepts: raise DATA_UPLOAD_MAX_MEMORY_SIZE / the "
                   "proxy's body limit (nginx client_max_body_size), or publish smaller files")
        elif status in (400, 422):
            fix = "the site refused the request as invalid: check that it runs a brandflow-wagtail matching this brandflow"
        else:
            fix = "check the site's logs"
        return WagtailPublishError(self.api, key, code, reason, fix)


# ----------------------------------------------------------------------------------------------- helpers
def parse_target(uri: str) -> tuple[str, str]:
    """``(api_url, origin)`` of a ``wagtail+http(s)://host[:port]/path/`` target: the API's URL with a trailing
    slash, and ``scheme://host[:port]`` (the base of the site's relative media URLs).

    Raises:
        WagtailPublishError: another scheme, credentials in the URI, a query or fragment, or no path.
    """
    parsed = urlparse(uri)
    example = "wagtail+https://cms.example.com/api/brandflow/v1/"
    if parsed.scheme not in SCHEMES or not parsed.hostname:
        raise WagtailPublishError(uri, None, "BadTarget", "not a wagtail+http(s)://host/path/ URI", f"write it as {example}")
    if parsed.username or parsed.password:
        raise WagtailPublishError(uri, None, "BadTarget", "credentials never go in the target URI",
                                  "remove them; the token comes from the environment (BRANDFLOW_WAGTAIL_TOKEN)")
    if parsed.query or parsed.fragment:
        raise WagtailPublishError(uri, None, "BadTarget", "the target takes no query or fragment",
                                  "put options under publish.wagtail in the campaign YAML")
    if parsed.path in ("", "/"):
        raise WagtailPublishError(uri, None, "BadTarget", "the URI names no API path",
                                  f"add the path where the site mounts brandflow_wagtail.urls: {example}")
    scheme = parsed.scheme.removeprefix("wagtail+")
    origin = f"{scheme}://{parsed.netloc}"
    return f"{origin}{parsed.path.rstrip('/')}/", origin


def key_id(key: str) -> str:
    """The 16 hex digits that identify a publish key on the site (``BrandflowAsset.key``): sha256(key)[:16]."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def is_transient(exc: BaseException) -> bool:
    """Retried: HTTP 429 and 5xx, timeouts, network errors and connections closed mid-answer. Not retried:
    every other status, bad URLs."""
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status == 429 or status >= 500
    return isinstance(exc, (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError))


def _error_code(response: httpx.Response) -> str | None:
    """brandflow-wagtail's ``error`` code of an error answer (``collection_not_found`` …), if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("error") if isinstance(body, dict) else None


def _detail(response: httpx.Response) -> str:
    """What an error answer says, in one short line: brandflow-wagtail's ``message`` (Django Ninja's
    ``detail``), an HTML page's ``<title>``, or the start of the text."""
    try:
        body = response.json()
    except ValueError:
        text = response.text
        title = _HTML_TITLE.search(text)
        if title:
            return f"an HTML page titled {' '.join(title.group(1).split())[:200]!r}"
        return " ".join(text[:200].split()) or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("detail") or body)[:600]
    return str(body)[:600]


def _code(exc: BaseException) -> str:
    return f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__


def _describe(exc: BaseException) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code} {_detail(exc.response)}"
    return f"{type(exc).__name__}: {exc}"
