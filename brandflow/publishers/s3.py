"""The ``s3://bucket/prefix`` target: AWS S3 and S3-compatible stores (MinIO, Cloudflare R2, SeaweedFS …).

Exactly once, by content: before writing, the key is HEADed; the object's ``x-amz-meta-sha256`` (or its
full-object ``ChecksumSHA256``) equal to the creative's sha256 means it is already there and nothing is
written. A different object at the key follows ``on_conflict`` (``skip`` | ``overwrite`` | ``version``).
New keys are written with ``If-None-Match: *`` and overwrites with ``If-Match: <etag>`` (S3 conditional
writes), so two runs racing on one key cannot both win; the loser re-reads the key and decides again.

Retries: botocore's own retries are switched off (``total_max_attempts=1``) and the *whole* publish — HEAD,
decide, PUT — is retried by :func:`brandflow.publishers.retry.call_with_retry` on throttling, 5xx and
dropped connections only. One retry layer, not two multiplied (botocore's 3 × ours would make up to 18
requests per failing object under a throttling storm), and every retry starts by re-reading the key, so a PUT
whose response was lost is never sent a second time. 4xx errors are raised at once as
:class:`S3PublishError` naming the bucket, the key and the likely fix.

Credentials come only from boto3's standard chain (environment, ``AWS_PROFILE`` / shared config, SSO, web
identity, container or instance role); the target URI and the campaign YAML never hold secrets.
The endpoint is ``endpoint_url`` when given, else boto3's own ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``,
else AWS.

Sources: Amazon S3 API reference (PutObject, HeadObject, conditional requests, checking object integrity,
user-defined metadata), boto3 / botocore configuration docs (``retries``, ``request_checksum_calculation``,
service-specific endpoints).
"""

from __future__ import annotations

import base64
import logging
import mimetypes
import os
import re
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlparse

from pydantic import Field, field_validator

from brandflow.errors import BrandflowError, MissingDependencyError
from brandflow.publishers.base import AssetLabels, OnConflict, TargetUnavailableError
from brandflow.targets import check_secret_destination
from brandflow.publishers.retry import RetriesExhausted, RetryPolicy, call_with_retry, unwrap
from brandflow.records import PublishedAsset, sha256_file
from brandflow.registry import PluginOptions

log = logging.getLogger(__name__)

MiB = 1024 * 1024
#: Longest presigned-URL lifetime S3 accepts with Signature Version 4: 7 days, in seconds.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
#: S3 allows at most 2 KB of user-defined metadata per object (keys + values, UTF-8).
MAX_METADATA_BYTES = 2048
#: Highest ``name.vN.ext`` tried by ``on_conflict: version`` before giving up.
MAX_VERSIONS = 999
_MAX_RACES = 5

CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}
#: Run outputs change between runs under the same key; they are never cached by a CDN.
NO_CACHE_SUFFIXES = frozenset({".json", ".html", ".txt"})
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_META_KEY = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_URI_OPTIONS = ("endpoint_url", "region", "profile", "addressing_style", "request_checksum_calculation")


class S3PublishError(BrandflowError):
    """Publishing to S3 failed for a reason a retry cannot fix (4xx, credentials, configuration).

    Attributes:
        bucket: the bucket.
        key: the full object key (prefix included), or ``None`` when no object was involved.
        code: the S3 error code (``NoSuchBucket``, ``AccessDenied`` …) or the exception name.
        fix: what to do about it.
    """

    def __init__(self, bucket: str, key: str | None, code: str, reason: str, fix: str):
        self.bucket, self.key, self.code, self.fix = bucket, key, code, fix
        where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
        super().__init__(f"{where}: {code}: {reason}. Fix: {fix}")


class S3UnavailableError(S3PublishError, TargetUnavailableError):
    """Every attempt failed with a transient error (throttling, 5xx, dropped connections).

    Attributes (besides :class:`S3PublishError`'s): ``attempts``, the number of attempts made.
    A later retry (the next run, or an orchestrator retry) may succeed.
    """

    def __init__(self, bucket: str, key: str | None, code: str, reason: str, fix: str, attempts: int):
        self.attempts = attempts
        super().__init__(bucket, key, code, reason, fix)


class _Raced(Exception):
    """A conditional write lost to another writer (HTTP 412/409): re-read the key and decide again."""


# ----------------------------------------------------------------------------------------------- clients
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()
_ENV_THAT_SHAPES_A_CLIENT = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_DEFAULT_REGION", "AWS_REGION",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REQUEST_CHECKSUM_CALCULATION", "AWS_ACCESS_KEY_ID",
)


def _import_boto3() -> Any:
    try:
        import boto3
    except ImportError as e:  # pragma: no cover - exercised only without boto3
        raise MissingDependencyError(
            "publishing to s3:// needs boto3: pip install 'boto3>=1.35' (or pip install 'brandflow[s3]')"
        ) from e
    return boto3


def make_client(
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    addressing_style: str = "auto",
    request_checksum_calculation: str | None = None,
    max_pool_connections: int = 16,
    connect_timeout: float = 10.0,
    read_timeout: float = 60.0,
    credentials_block: str | None = None,
) -> Any:
    """A boto3 S3 client with brandflow's settings, shared per process (clients are thread-safe; sessions
    are not, so one is made under a lock). Credentials come from boto3's standard chain, or from a Prefect
    ``AwsCredentials`` block when ``credentials_block`` names one.

    Args:
        endpoint_url: an S3-compatible endpoint (``http://127.0.0.1:9000``); ``None`` lets boto3 use
            ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` or AWS.
        region: signing region (``eu-west-1``; ``auto`` for R2); ``None``: ``AWS_REGION`` / profile / us-east-1.
        profile: a named profile from ``~/.aws/config`` (not a secret); ``None``: ``AWS_PROFILE`` or default.
        addressing_style: ``auto`` | ``path`` | ``virtual`` (MinIO and SeaweedFS usually want ``path``).
        request_checksum_calculation: ``when_supported`` (botocore's default: a CRC on every upload) or
            ``when_required`` for stores that reject the newer ``x-amz-checksum-*`` / ``aws-chunked`` requests.
        max_pool_connections: HTTP connections kept per client (≥ the number of publishing threads).
        connect_timeout, read_timeout: seconds.
        credentials_block: the name of a saved Prefect ``AwsCredentials`` block (package ``prefect-aws``); its
            ``get_boto3_session()`` supplies the credentials (and the region, unless ``region`` is given).

    Returns:
        A ``botocore`` S3 client with botocore retries disabled (see the module doc).

    Raises:
        MissingDependencyError: boto3 (or, for a block, prefect-aws) is not installed.
        S3PublishError: the profile does not exist.
    """
    env = tuple(os.environ.get(k) for k in _ENV_THAT_SHAPES_A_CLIENT)
    cache_key = (endpoint_url, region, profile, addressing_style, request_checksum_calculation, max_pool_connections,
                 connect_timeout, read_timeout, credentials_block, env)
    with _clients_lock:
        if cache_key in _clients:
            return _clients[cache_key]
        boto3 = _import_boto3()
        from botocore.config import Config
        from botocore.exceptions import ProfileNotFound

        kwargs: dict[str, Any] = dict(
            signature_version="s3v4",
            retries={"mode": "standard", "total_max_attempts": 1},  # ours wrap the whole publish; see module doc
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_pool_connections=max_pool_connections,
            s3={"addressing_style": addressing_style},
        )
        if region:
            kwargs["region_name"] = region
        if request_checksum_calculation:
            kwargs["request_checksum_calculation"] = request_checksum_calculation
            kwargs["response_checksum_validation"] = request_checksum_calculation
        try:
            session = _block_session(credentials_block) if credentials_block else boto3.session.Session(profile_name=profile, region_name=region)
        except ProfileNotFound as e:
            raise S3PublishError("?", None, "ProfileNotFound", str(e), "name a profile from ~/.aws/config, or unset it") from None
        client = session.client("s3", endpoint_url=endpoint_url or None, config=Config(**kwargs))
        _clients[cache_key] = client
        return client


def _block_session(name: str) -> Any:
    """The boto3 session of the Prefect ``AwsCredentials`` block ``name``."""
    try:
        from prefect_aws import AwsCredentials
    except ImportError as e:
        raise MissingDependencyError(
            f"publish option credentials_block={name!r} needs prefect-aws: pip install prefect-aws"
        ) from e
    return AwsCredentials.load(name).get_boto3_session()


# ----------------------------------------------------------------------------------------------- publisher
class S3Options(PluginOptions):
    """Options of an ``s3://`` target. Credentials never go here: boto3's standard chain (environment,
    AWS_PROFILE, role) or a Prefect AwsCredentials block supplies them (docs/publishing.md)."""

    endpoint_url: str | None = Field(default=None, description="S3-compatible endpoint; default AWS_ENDPOINT_URL(_S3) or AWS")
    region: str | None = Field(default=None, description="signing region ('auto' for R2); default from the environment")
    profile: str | None = Field(default=None, description="a named profile in ~/.aws/config (not a secret)")
    credentials_block: str | None = Field(default=None, description="a Prefect AwsCredentials block name (needs prefect-aws)")
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    cache_control: str | None = "public, max-age=86400"
    presign_expiry: int = Field(default=3600, ge=1, le=604800, description="seconds the report's presigned links stay valid")
    public_base_url: str | None = Field(
        default=None, description="https base of a CDN or public bucket; links use it instead of presigned URLs"
    )
    checksum: bool = Field(default=True, description="send ChecksumSHA256 (the store verifies the bytes)")
    request_checksum_calculation: Literal["when_supported", "when_required"] | None = None
    conditional_writes: bool = Field(default=True, description="If-None-Match / If-Match on writes")
    multipart_threshold: int = Field(default=16 * 2**20, ge=1, description="bytes; larger files go up in parts")
    multipart_chunksize: int = Field(default=8 * 2**20, ge=5 * 2**20, description="bytes per part (S3 minimum 5 MiB)")
    multipart_concurrency: int = Field(default=4, ge=1, le=64)
    retry_attempts: int = Field(default=6, ge=1, le=20, description="attempts for transient errors, the first included")
    retry_base_delay: float = Field(default=0.25, ge=0, description="seconds")
    retry_max_delay: float = Field(default=20.0, ge=0, description="seconds")

    @field_validator("endpoint_url")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        if v and "@" in urlparse(v).netloc:
            raise ValueError("credentials never go in endpoint_url: use the environment, AWS_PROFILE or a role")
        return v


class S3Publisher:
    """Publishes creatives to ``s3://bucket/prefix`` (AWS or any S3-compatible store), exactly once.

    Args:
        uri: ``s3://bucket`` or ``s3://bucket/prefix``; keys are written under ``prefix/``. A query string may
            carry the non-secret options ``endpoint_url``, ``region``, ``profile``, ``addressing_style`` and
            ``request_checksum_calculation`` (``s3://media/brand?endpoint_url=http://127.0.0.1:9000``), so a
            one-off ``--publish`` URI can name a MinIO; keyword options win over the query.
        endpoint_url: S3-compatible endpoint; default ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` / AWS.
        region: signing region; default from the environment / profile.
        profile: named AWS profile (credentials stay in ``~/.aws``); default ``AWS_PROFILE``.
        addressing_style: ``auto`` | ``path`` | ``virtual``.
        cache_control: ``Cache-Control`` of images (default ``public, max-age=86400``: keys of new versions
            change, but ``on_conflict: overwrite`` reuses them, so not ``immutable``); ``.json`` / ``.html``
            objects (manifest, report) always get ``no-cache``. ``None`` sends no header.
        presign_expiry: default lifetime of :meth:`presign` URLs, seconds, 1 … 604800 (default 3600).
        public_base_url: ``https://`` base of a CDN or public bucket serving these objects; published assets then
            link to ``<public_base_url>/<prefix>/<key>``. Default ``None``: they link to a presigned URL that
            works for a private bucket and expires after ``presign_expiry``.
        checksum: send ``ChecksumSHA256`` (S3 verifies the bytes and stores the checksum); default ``True``.
        request_checksum_calculation: ``when_supported`` | ``when_required`` (botocore ``Config``); use
            ``when_required`` together with ``checksum=False`` for stores that reject checksum headers.
        conditional_writes: send ``If-None-Match: *`` / ``If-Match`` on single-part writes (default ``True``);
            switch off for stores that answer ``NotImplemented``.
        multipart_threshold: bytes; larger files go up in parts via boto3's transfer manager (default 16 MiB;
            S3 needs parts ≥ 5 MiB, so smaller values still give 5 MiB parts). Multipart objects keep the sha256
            in their metadata; their ``ChecksumSHA256`` is a checksum of part checksums.
        multipart_chunksize: bytes per part (default 8 MiB, at least 5 MiB).
        multipart_concurrency: threads per multipart upload (default 4).
        retry_attempts, retry_base_delay, retry_max_delay: the transient-error retry policy (attempts including
            the first; seconds). Defaults 6, 0.25, 20.
        max_pool_connections, connect_timeout, read_timeout: HTTP client settings.
        credentials_block: name of a Prefect ``AwsCredentials`` block to take credentials from (needs
            ``prefect-aws``) instead of the standard chain.
        client: an already-made boto3 S3 client (e.g. from a Prefect ``AwsCredentials`` block's
            ``get_boto3_session().client("s3")``); the settings above that shape a client are then ignored.

    Raises:
        S3PublishError: the URI is not ``s3://bucket[/prefix]``, names an invalid bucket, or carries credentials.
        ValueError: an option is out of range.
        MissingDependencyError: boto3 is not installed.
    """

    name = "s3"
    Options = S3Options  # its settings: publish.s3 in the campaign, validated when it loads

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        addressing_style: Literal["auto", "path", "virtual"] | None = None,
        cache_control: str | None = "public, max-age=86400",
        presign_expiry: int = 3600,
        public_base_url: str | None = None,
        checksum: bool = True,
        request_checksum_calculation: Literal["when_supported", "when_required"] | None = None,
        conditional_writes: bool = True,
        multipart_threshold: int = 16 * MiB,
        multipart_chunksize: int = 8 * MiB,
        multipart_concurrency: int = 4,
        retry_attempts: int = 6,
        retry_base_delay: float = 0.25,
        retry_max_delay: float = 20.0,
        max_pool_connections: int = 16,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        credentials_block: str | None = None,
        client: Any = None,
    ):
        parsed = urlparse(uri)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise S3PublishError(parsed.netloc or "?", None, "InvalidURI", f"{uri!r} is not an s3:// target", "write s3://bucket/prefix")
        if "@" in parsed.netloc:
            raise S3PublishError(
                parsed.netloc.rsplit("@", 1)[-1], None, "CredentialsInURI", "the target URI carries credentials",
                "remove them: credentials come from the environment (AWS_ACCESS_KEY_ID …), AWS_PROFILE or an instance "
                "role, never from the URI or the campaign YAML",
            )
        self.bucket = parsed.netloc
        if not _BUCKET.match(self.bucket) or ".." in self.bucket:
            raise S3PublishError(self.bucket, None, "InvalidBucketName", "not a valid bucket name",
                                 "bucket names are 3-63 characters: lowercase letters, digits, dots and hyphens")
        self.prefix = unquote(parsed.path).strip("/")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        unknown = set(query) - set(_URI_OPTIONS)
        if unknown:
            raise S3PublishError(self.bucket, None, "InvalidURI", f"unknown URI option(s) {sorted(unknown)}",
                                 f"use only {', '.join(_URI_OPTIONS)} in the query; credentials never go there")
        endpoint_url = endpoint_url or query.get("endpoint_url")
        if endpoint_url:  # requests signed with the worker's credentials go only where the operator allows
            check_secret_destination(endpoint_url, "requests signed with the S3 credentials", public_hosts=("amazonaws.com",))
        region = region or query.get("region")
        profile = profile or query.get("profile")
        addressing_style = addressing_style or query.get("addressing_style", "auto")  # type: ignore[assignment]
        request_checksum_calculation = request_checksum_calculation or query.get("request_checksum_calculation")  # type: ignore[assignment]
        if addressing_style not in ("auto", "path", "virtual"):
            raise ValueError(f"addressing_style must be auto, path or virtual, got {addressing_style!r}")
        if request_checksum_calculation not in (None, "when_supported", "when_required"):
            raise ValueError(f"request_checksum_calculation must be when_supported or when_required, got {request_checksum_calculation!r}")
        if not 1 <= int(presign_expiry) <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"presign_expiry must be 1 … {MAX_PRESIGN_SECONDS} seconds (7 days), got {presign_expiry}")
        if multipart_threshold < 1 or multipart_chunksize < 1 or multipart_concurrency < 1:
            raise ValueError("multipart_threshold, multipart_chunksize and multipart_concurrency must be >= 1")

        self.cache_control = cache_control
        self.presign_expiry = int(presign_expiry)
        if public_base_url is not None and urlparse(public_base_url).scheme not in ("http", "https"):
            raise ValueError(f"public_base_url must be an http(s) URL, got {public_base_url!r}")
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self.checksum = checksum
        self.conditional_writes = conditional_writes
        self.multipart_threshold = int(multipart_threshold)
        self.multipart_chunksize = max(int(multipart_chunksize), 5 * MiB)
        self.multipart_concurrency = int(multipart_concurrency)
        self.retry = RetryPolicy(retry_attempts, retry_base_delay, retry_max_delay)
        self.client = client or make_client(
            endpoint_url=endpoint_url, region=region, profile=profile, addressing_style=addressing_style,
            request_checksum_calculation=request_checksum_calculation, max_pool_connections=max_pool_connections,
            connect_timeout=connect_timeout, read_timeout=read_timeout, credentials_block=credentials_block,
        )

    # ------------------------------------------------------------------------------------------- public API
    @property
    def endpoint(self) -> str:
        """The endpoint this publisher talks to (for messages and reports)."""
        return str(self.client.meta.endpoint_url)

    def full_key(self, key: str) -> str:
        """``prefix/key``: the object key in the bucket for a publish key."""
        key = key.lstrip("/")
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_for(self, key: str) -> str:
        """``s3://bucket/prefix/key`` for a publish key."""
        return f"s3://{self.bucket}/{self.full_key(key)}"

    def publish(
        self, src: Path, key: str, sha256: str, metadata: dict[str, str], on_conflict: OnConflict,
        labels: AssetLabels | None = None,
    ) -> PublishedAsset:
        """Put the file ``src`` at ``prefix/key`` unless identical bytes are already there.

        Args:
            src: the file to upload (the final bytes: if provenance is embedded, the marked file).
            key: the object key under the prefix, already sanitised (``campaign/product/format/v0.png``).
            sha256: hex sha256 of ``src``; checked against the file before anything is sent, then stored as
                ``x-amz-meta-sha256`` and sent as ``ChecksumSHA256`` (S3 rejects the upload if bytes differ).
            metadata: object metadata (campaign, product_id, format, variant, seed, backend, qa_verdict …).
                Keys become lowercase with ``_`` → ``-`` (``x-amz-meta-product-id``); non-ASCII values are
                stored as RFC 8187 ``UTF-8''percent-encoded`` text. At most 2 KB in all.
            on_conflict: what to do when a *different* object is at the key: ``skip`` keeps it, ``overwrite``
                replaces it, ``version`` writes ``name.v2.ext`` (then v3 …), or finds the version that already
                holds these bytes.
            labels: title and alt text; not used by a bucket.

        Returns:
            ``PublishedAsset(uri, key, sha256, etag, written)``: ``key`` is relative to the prefix (``…/v0.v2.png``
            after versioning); ``written`` is ``False`` when nothing was uploaded. With ``skip`` on a conflict,
            ``sha256`` is the *stored* object's (``""`` if it has none on record).

        Raises:
            S3PublishError: a 4xx or configuration error (missing bucket, denied access, bad credentials, wrong
                region, a store rejecting a header), raised at the first occurrence, naming bucket, key and fix.
            S3UnavailableError: transient errors persisted through every retry.
            ValueError: ``src`` does not have that sha256, ``on_conflict`` is unknown, or metadata is too large.
            OSError: ``src`` cannot be read.
        """
        if on_conflict not in ("skip", "overwrite", "version"):
            raise ValueError(f"on_conflict must be skip, overwrite or version, got {on_conflict!r}")
        src = Path(src)
        actual = sha256_file(src)
        if actual != sha256:
            raise ValueError(f"{src}: the file's sha256 is {actual}, not {sha256}: it changed after it was hashed")
        meta = object_metadata(metadata, sha256)
        for _ in range(_MAX_RACES):
            try:
                return self._with_retry(lambda: self._publish_once(src, key, sha256, meta, on_conflict), self.full_key(key))
            except _Raced:
                log.info("s3://%s/%s: another writer got there first; re-reading the key", self.bucket, self.full_key(key))
        raise S3PublishError(self.bucket, self.full_key(key), "PreconditionFailed", "another writer kept changing this key",
                             "make sure only one run publishes this campaign to this prefix at a time")

    def presign(self, key: str, expires: int | None = None) -> str:
        """A time-limited GET link to ``prefix/key`` for reports (works for private buckets).

        Args:
            key: the publish key (relative to the prefix), e.g. ``PublishedAsset.key``.
            expires: lifetime in seconds, 1 … 604800 (7 days, the SigV4 maximum); default ``presign_expiry``.
                A URL signed with temporary credentials (role, SSO) stops working when they expire, earlier.

        Returns:
            The presigned URL (SigV4 query authentication). No request is made; a missing key gives a URL that
            answers 404.

        Raises:
            ValueError: ``expires`` is out of range.
        """
        expires = self.presign_expiry if expires is None else int(expires)
        if not 1 <= expires <= MAX_PRESIGN_SECONDS:
            raise ValueError(f"presign expiry must be 1 … {MAX_PRESIGN_SECONDS} seconds (7 days), got {expires}")
        return str(self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self.full_key(key)},
                                                      ExpiresIn=expires))

    def link_for(self, key: str) -> str:
        """The link a person opens for ``key``: under ``public_base_url`` when set, else presigned (:meth:`presign`)."""
        if self.public_base_url:
            return f"{self.public_base_url}/{quote(self.full_key(key))}"
        return self.presign(key)

    def head(self, key: str) -> dict[str, Any] | None:
        """The object's HEAD response (``Metadata``, ``ETag``, ``ContentType`` …) or ``None`` if absent.

        Raises:
            S3PublishError / S3UnavailableError: as :meth:`publish`.
        """
        full = self.full_key(key)
        return self._with_retry(lambda: self._head(full), full)

    # ------------------------------------------------------------------------------------------- internals
    def _publish_once(self, src: Path, key: str, sha256: str, meta: dict[str, str], on_conflict: OnConflict) -> PublishedAsset:
        """One attempt: read the key, decide, write at most once. Safe to repeat after any failure."""
        head = self._head(self.full_key(key))
        if head is None:
            return self._write(src, key, sha256, meta, {"IfNoneMatch": "*"})
        stored = stored_sha256(head)
        if stored == sha256:
            return self._asset(key, sha256, head.get("ETag"), written=False)
        if on_conflict == "skip":
            return self._asset(key, stored or "", head.get("ETag"), written=False)
        if on_conflict == "overwrite":
            return self._write(src, key, sha256, meta, {"IfMatch": head["ETag"]} if head.get("ETag") else {})
        base = PurePosixPath(key)
        for n in range(2, MAX_VERSIONS + 1):
            candidate = str(base.with_name(f"{base.stem}.v{n}{base.suffix}"))
            head = self._head(self.full_key(candidate))
            if head is None:
                return self._write(src, candidate, sha256, meta, {"IfNoneMatch": "*"})
            if stored_sha256(head) == sha256:  # a re-run finds its own version: no v(n+1) for the same bytes
                return self._asset(candidate, sha256, head.get("ETag"), written=False)
        raise S3PublishError(self.bucket, self.full_key(key), "TooManyVersions", f"v2 … v{MAX_VERSIONS} are all taken",
                             "clean up old versions or use on_conflict: overwrite")

    def _head(self, full: str) -> dict[str, Any] | None:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        if self.checksum:
            args["ChecksumMode"] = "ENABLED"
        try:
            return dict(self.client.head_object(**args))
        except Exception as e:  # noqa: BLE001
            status, code = _status_code(e)
            if status == 404 or code in ("404", "NoSuchKey", "NotFound"):
                return None  # (a missing *bucket* also answers a bare 404 to HEAD; the PUT then says NoSuchBucket)
            raise

    def _write(self, src: Path, key: str, sha256: str, meta: dict[str, str], condition: dict[str, str]) -> PublishedAsset:
        full = self.full_key(key)
        args: dict[str, Any] = {"ContentType": content_type(full), "Metadata": meta}
        cache = "no-cache" if PurePosixPath(full).suffix.lower() in NO_CACHE_SUFFIXES else self.cache_control
        if cache:
            args["CacheControl"] = cache
        if src.stat().st_size > self.multipart_threshold:
            return self._write_multipart(src, key, sha256, args)
        if self.checksum:
            args["ChecksumAlgorithm"] = "SHA256"
            args["ChecksumSHA256"] = base64.b64encode(bytes.fromhex(sha256)).decode()
        if self.conditional_writes:
            args.update(condition)
        with open(src, "rb") as body:
            try:
                response = self.client.put_object(Bucket=self.bucket, Key=full, Body=body, **args)
            except Exception as e:  # noqa: BLE001
                status, code = _status_code(e)
                if status in (409, 412) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise _Raced() from e
                if "IfMatch" in args and code == "NoSuchKey":  # deleted since the HEAD: decide again
                    raise _Raced() from e
                raise
        return self._asset(key, sha256, response.get("ETag"), written=True)

    def _write_multipart(self, src: Path, key: str, sha256: str, args: dict[str, Any]) -> PublishedAsset:
        """Upload in parts with boto3's transfer manager; the sha256 travels in the metadata as on a single PUT.

        No conditional write here (s3transfer does not pass ``If-None-Match``): the HEAD before it is the guard.
        s3transfer aborts the multipart upload on failure; a killed process leaves an incomplete upload that
        is invisible to readers (set a lifecycle rule ``AbortIncompleteMultipartUpload`` to reclaim it).
        """
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        if self.checksum:
            args["ChecksumAlgorithm"] = "SHA256"  # per-part SHA-256, verified by S3
        config = TransferConfig(
            multipart_threshold=self.multipart_threshold, multipart_chunksize=self.multipart_chunksize,
            max_concurrency=self.multipart_concurrency, use_threads=True, preferred_transfer_client="classic",
        )
        full = self.full_key(key)
        with create_transfer_manager(self.client, config) as manager:
            manager.upload(str(src), self.bucket, full, extra_args=args).result()
        head = self._head(full) or {}
        return self._asset(key, sha256, head.get("ETag"), written=True)

    def _asset(self, key: str, sha256: str, etag: str | None, written: bool) -> PublishedAsset:
        return PublishedAsset(uri=self.uri_for(key), key=key, sha256=sha256, etag=etag.strip('"') if etag else None, written=written,
                              link=self.link_for(key))

    def _with_retry(self, fn: Any, full: str) -> Any:
        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            log.warning("s3://%s/%s: %s (attempt %d of %d); retrying in %.2f s", self.bucket, full, _describe(exc),
                        attempt, self.retry.max_attempts, wait)

        try:
            return call_with_retry(fn, self.retry, on_retry=on_retry)
        except _Raced:
            raise
        except RetriesExhausted as e:
            _, code = _status_code(e.last)
            raise S3UnavailableError(
                self.bucket, full, code or type(e.last).__name__,
                f"still failing after {e.attempts} attempts at {self.endpoint}: {_describe(e.last)}",
                "the store is throttling, failing or unreachable: check its status and the endpoint, lower the "
                "publishing concurrency, or re-run later (already published creatives are not uploaded again)",
                e.attempts,
            ) from e.last
        except BrandflowError:
            raise
        except Exception as e:  # noqa: BLE001 - anything botocore raised that is not transient
            translated = self._permanent(unwrap(e), full)
            if translated is unwrap(e):
                raise
            raise translated from e

    def _permanent(self, exc: BaseException, full: str) -> BaseException:
        """An :class:`S3PublishError` for a non-transient botocore error; other exceptions unchanged."""
        status, code = _status_code(exc)
        name = type(exc).__name__
        if not code and status is None:
            if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError", "UnauthorizedSSOTokenError",
                        "SSOTokenLoadError", "TokenRetrievalError"):
                return S3PublishError(self.bucket, full, name, str(exc), _FIX_CREDENTIALS)
            if name in ("ParamValidationError", "InvalidRegionError", "InvalidS3AddressingStyleError"):
                return S3PublishError(self.bucket, full, name, str(exc), "check the publish options (region, addressing_style, metadata)")
            return exc
        code = code or str(status)
        reason = _message(exc) or f"HTTP {status}"
        fix = _FIXES.get(code) or _FIXES_BY_STATUS.get(status or 0) or "check the bucket, the key and the store's policy"
        return S3PublishError(self.bucket, full, code, f"{reason} (HTTP {status}, endpoint {self.endpoint})",
                              fix.format(bucket=self.bucket, key=full, endpoint=self.endpoint))


# ----------------------------------------------------------------------------------------------- helpers
_FIX_CREDENTIALS = (
    "give boto3 credentials through its standard chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment, "
    "AWS_PROFILE (aws configure / aws sso login), or an instance/container role — never in the campaign YAML"
)
_FIX_REGION = "the bucket lives in another region: set publish.region (or AWS_REGION) to the bucket's region"
_FIX_HEADERS = (
    "this store rejects a header brandflow sends: for stores without the newer checksums set "
    "request_checksum_calculation: when_required and checksum: false; for stores without conditional writes "
    "(If-None-Match) set conditional_writes: false"
)
_FIXES = {
    "NoSuchBucket": "bucket {bucket!r} does not exist at {endpoint}: create it (aws s3 mb s3://{bucket}) or correct "
                    "the target URI / endpoint_url",
    "AccessDenied": "the credentials boto3 found (environment, AWS_PROFILE or role) are not allowed s3:PutObject and "
                    "s3:GetObject on arn:aws:s3:::{bucket}/{key}, or s3:ListBucket on the bucket (without it S3 answers "
                    "403 for a missing key): grant them in the IAM / bucket policy or use another profile",
    "403": "access denied to s3://{bucket}/{key}: grant s3:GetObject, s3:PutObject and s3:ListBucket to these "
           "credentials, or use another profile",
    "AllAccessDisabled": "all access to bucket {bucket!r} is disabled; contact its owner",
    "AccountProblem": "the AWS account has a problem (billing, suspension); contact AWS support",
    "InvalidAccessKeyId": "the access key id is unknown to {endpoint}: check AWS_ACCESS_KEY_ID / AWS_PROFILE, and "
                          "endpoint_url (a MinIO or R2 key is not an AWS key)",
    "SignatureDoesNotMatch": "the secret key does not match the access key id (check AWS_SECRET_ACCESS_KEY / the "
                             "profile), or a proxy rewrote the request",
    "ExpiredToken": "the session credentials expired: refresh them (aws sso login, or re-assume the role)",
    "InvalidToken": "the session token is invalid: refresh the credentials (aws sso login)",
    "TokenRefreshRequired": "the session token must be refreshed: aws sso login",
    "RequestTimeTooSkewed": "this machine's clock is more than 15 minutes off: synchronise it (NTP)",
    "PermanentRedirect": _FIX_REGION,
    "AuthorizationHeaderMalformed": _FIX_REGION,
    "IllegalLocationConstraintException": _FIX_REGION,
    "301": _FIX_REGION,
    "InvalidBucketName": "bucket names are 3-63 lowercase letters, digits, dots and hyphens",
    "KeyTooLongError": "the key is over 1024 bytes: shorten the prefix or publish.key_template",
    "MetadataTooLarge": "object metadata is over 2 KB: publish fewer or shorter metadata values",
    "EntityTooLarge": "a single PUT is limited to 5 GB: lower multipart_threshold",
    "EntityTooSmall": "parts must be at least 5 MiB: raise multipart_chunksize",
    "BadDigest": "the bytes S3 received do not match ChecksumSHA256/Content-MD5: the file changed while uploading, or "
                 "something between here and the store altered it; re-run",
    "InvalidDigest": _FIX_HEADERS,
    "XAmzContentSHA256Mismatch": "the payload hash does not match: a proxy altered the body; re-run or bypass the proxy",
    "InvalidRequest": _FIX_HEADERS,
    "InvalidArgument": _FIX_HEADERS,
    "NotImplemented": _FIX_HEADERS,
    "MissingContentLength": _FIX_HEADERS,
    "QuotaExceeded": "the store's quota is exhausted: free space or raise the quota",
    "InvalidObjectState": "the object is archived (Glacier): restore it or publish under another key",
}
_FIXES_BY_STATUS = {
    400: _FIX_HEADERS,
    401: _FIX_CREDENTIALS,
    403: _FIXES["403"],
    404: _FIXES["NoSuchBucket"],
    405: "the endpoint does not accept this method: check endpoint_url points at an S3 API (not a console/web URL)",
    411: _FIX_HEADERS,
}


def _status_code(exc: BaseException) -> tuple[int | None, str]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, ""
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return (int(status) if status is not None else None), str(response.get("Error", {}).get("Code", ""))


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", "") or "")
    return ""


def _describe(exc: BaseException) -> str:
    exc = unwrap(exc)
    status, code = _status_code(exc)
    return f"HTTP {status} {code}".strip() if (code or status) else f"{type(exc).__name__}: {exc}"


def content_type(key: str) -> str:
    """``Content-Type`` from the key's suffix (``.png`` → ``image/png``, ``.jpg`` → ``image/jpeg``,
    ``.webp`` → ``image/webp``, ``.json`` → ``application/json``); ``application/octet-stream`` if unknown."""
    suffix = PurePosixPath(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


def object_metadata(metadata: dict[str, str], sha256: str) -> dict[str, str]:
    """S3 user metadata from a publish metadata dict plus ``sha256``.

    Keys are lowercased, ``_`` → ``-`` (some proxies drop header names with underscores), and must then be
    ``[a-z0-9-]``. Values that are not printable ASCII are stored as RFC 8187 ``UTF-8''%E2%82%AC`` text (S3
    metadata travels as HTTP headers).

    Raises:
        ValueError: a key has other characters, ``sha256`` is not 64 hex digits, or the total exceeds 2 KB.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"sha256 must be 64 lowercase hex digits, got {sha256!r}")
    out: dict[str, str] = {}
    for k, v in {**metadata, "sha256": sha256}.items():
        name = str(k).lower().replace("_", "-")
        if not _META_KEY.match(name):
            raise ValueError(f"metadata key {k!r} must be letters, digits, '-' or '_'")
        value = str(v)
        if not all(32 <= ord(c) < 127 for c in value):
            value = "UTF-8''" + quote(value, safe="")
        out[name] = value
    size = sum(len(k.encode()) + len(v.encode()) for k, v in out.items())
    if size > MAX_METADATA_BYTES:
        raise ValueError(f"object metadata is {size} bytes; S3 allows {MAX_METADATA_BYTES}")
    return out


def decode_metadata_value(value: str) -> str:
    """Inverse of the value encoding in :func:`object_metadata` (``UTF-8''…`` → text)."""
    return unquote(value[7:]) if value.startswith("UTF-8''") else value


def stored_sha256(head: dict[str, Any]) -> str | None:
    """The sha256 on record for an object: ``x-amz-meta-sha256``, else its full-object ``ChecksumSHA256``
    (objects uploaded by other tools with a SHA-256 checksum); ``None`` if neither is there."""
    meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
    if re.fullmatch(r"[0-9a-f]{64}", meta.get("sha256", "")):
        return meta["sha256"]
    checksum = head.get("ChecksumSHA256")
    if checksum and "-" not in checksum and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
        try:
            return base64.b64decode(checksum).hex()
        except ValueError:
            return None
    return None
