"""The s3:// publisher against a real HTTP endpoint (moto's ThreadedMotoServer on 127.0.0.1), with faults
injected by a local proxy: throttling bursts, dropped connections, 4xx, and a run killed between uploads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


from brandflow.errors import BrandflowError
from brandflow.records import sha256_file
from brandflow.publishers.s3 import (
    S3PublishError,
    S3Publisher,
    S3UnavailableError,
    decode_metadata_value,
    make_client,
    object_metadata,
)

META = {"campaign": "spring", "product_id": "UHJvZHVjdDo3Mg==", "format": "square", "variant": "0", "seed": "42",
        "backend": "compositor", "qa_verdict": "pass"}
FAST = dict(retry_base_delay=0.01, retry_max_delay=0.05)  # keep fault tests quick; the policy is the same


def write(folder: Path, name: str, data: bytes) -> tuple[Path, str]:
    p = folder / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p, sha256_file(p)


def pub(bucket: str, endpoint: str, prefix: str = "brand", **options) -> S3Publisher:
    return S3Publisher(f"s3://{bucket}/{prefix}", endpoint_url=endpoint, **{**FAST, **options})


# ----------------------------------------------------------------------------------------------- upload
def test_upload_sets_metadata_checksum_content_type_and_cache_control(tmp_path, moto_endpoint, bucket, s3):
    src, sha = write(tmp_path, "a.png", b"\x89PNG fake creative bytes")
    asset = pub(bucket, moto_endpoint).publish(src, "spring/p1/square/v0.png", sha, META, "version")

    assert asset.written and asset.key == "spring/p1/square/v0.png" and asset.sha256 == sha
    assert asset.uri == f"s3://{bucket}/brand/spring/p1/square/v0.png"
    head = s3.head_object(Bucket=bucket, Key="brand/spring/p1/square/v0.png", ChecksumMode="ENABLED")
    assert head["ContentType"] == "image/png"
    assert head["CacheControl"] == "public, max-age=86400"
    assert head["ETag"].strip('"') == asset.etag
    assert head["Metadata"] == {"campaign": "spring", "product-id": "UHJvZHVjdDo3Mg==", "format": "square", "variant": "0",
                                "seed": "42", "backend": "compositor", "qa-verdict": "pass", "sha256": sha}
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha)).decode()
    body = s3.get_object(Bucket=bucket, Key="brand/spring/p1/square/v0.png")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha


@pytest.mark.parametrize("name, ctype", [("v0.jpg", "image/jpeg"), ("v0.webp", "image/webp"), ("manifest.json", "application/json")])
def test_content_type_from_suffix(tmp_path, moto_endpoint, bucket, s3, name, ctype):
    src, sha = write(tmp_path, name, b"bytes")
    pub(bucket, moto_endpoint, prefix="").publish(src, f"c/{name}", sha, {}, "overwrite")
    head = s3.head_object(Bucket=bucket, Key=f"c/{name}")
    assert head["ContentType"] == ctype
    assert head["CacheControl"] == ("no-cache" if name.endswith(".json") else "public, max-age=86400")


def test_a_file_that_changed_after_hashing_is_refused(tmp_path, moto_endpoint, bucket, keys):
    src, sha = write(tmp_path, "a.png", b"one")
    src.write_bytes(b"two")
    with pytest.raises(ValueError, match="changed after it was hashed"):
        pub(bucket, moto_endpoint).publish(src, "k.png", sha, {}, "version")
    assert keys(bucket) == []


def test_non_ascii_metadata_round_trips(tmp_path, moto_endpoint, bucket, s3):
    src, sha = write(tmp_path, "a.png", b"x")
    pub(bucket, moto_endpoint).publish(src, "k.png", sha, {"campaign": "Été €5", "product_id": "p"}, "version")
    stored = s3.head_object(Bucket=bucket, Key="brand/k.png")["Metadata"]
    assert stored["campaign"].startswith("UTF-8''") and decode_metadata_value(stored["campaign"]) == "Été €5"


def test_metadata_is_checked_before_anything_is_sent():
    with pytest.raises(ValueError, match="metadata key"):
        object_metadata({"bad key": "v"}, "0" * 64)
    with pytest.raises(ValueError, match="2048"):
        object_metadata({"big": "x" * 3000}, "0" * 64)


# ----------------------------------------------------------------------------------------------- exactly once
def test_same_bytes_are_uploaded_once(tmp_path, moto_endpoint, bucket, s3, keys, proxy):
    src, sha = write(tmp_path, "a.png", b"creative")
    target = pub(bucket, proxy.url)
    first = target.publish(src, "c/p/sq/v0.png", sha, META, "version")
    before = s3.head_object(Bucket=bucket, Key="brand/c/p/sq/v0.png")
    second = target.publish(src, "c/p/sq/v0.png", sha, META, "version")
    after = s3.head_object(Bucket=bucket, Key="brand/c/p/sq/v0.png")

    assert first.written and not second.written
    assert second.etag == first.etag and second.uri == first.uri
    assert after["LastModified"] == before["LastModified"] and after["ETag"] == before["ETag"]
    assert keys(bucket) == ["brand/c/p/sq/v0.png"]
    assert len(proxy.requests("PUT")) == 1  # the second publish only HEADed


@pytest.mark.parametrize("policy", ["skip", "overwrite", "version"])
def test_conflict_policies(tmp_path, moto_endpoint, bucket, s3, keys, policy):
    target = pub(bucket, moto_endpoint)
    a, sha_a = write(tmp_path, "a.png", b"old")
    b, sha_b = write(tmp_path, "b.png", b"new")
    target.publish(a, "k/v0.png", sha_a, {}, policy)
    res = target.publish(b, "k/v0.png", sha_b, {}, policy)

    def body(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    if policy == "skip":
        assert not res.written and res.sha256 == sha_a and body("brand/k/v0.png") == b"old"
        assert keys(bucket) == ["brand/k/v0.png"]
    elif policy == "overwrite":
        assert res.written and body("brand/k/v0.png") == b"new"
        assert keys(bucket) == ["brand/k/v0.png"]
    else:
        assert res.written and res.key == "k/v0.v2.png" and res.uri.endswith("/brand/k/v0.v2.png")
        assert body("brand/k/v0.png") == b"old" and body("brand/k/v0.v2.png") == b"new"
        again = target.publish(b, "k/v0.png", sha_b, {}, policy)  # a re-run finds its own version: no v3
        assert not again.written and again.key == "k/v0.v2.png"
        c, sha_c = write(tmp_path, "c.png", b"newer")
        assert target.publish(c, "k/v0.png", sha_c, {}, policy).key == "k/v0.v3.png"
        assert keys(bucket) == ["brand/k/v0.png", "brand/k/v0.v2.png", "brand/k/v0.v3.png"]


def test_an_object_from_another_tool_is_recognised_by_its_checksum(tmp_path, moto_endpoint, bucket, s3):
    """No sha256 metadata, but a full-object ChecksumSHA256 on record: the same bytes are not uploaded again."""
    src, sha = write(tmp_path, "a.png", b"uploaded by the aws cli")
    s3.put_object(Bucket=bucket, Key="brand/k.png", Body=src.read_bytes(), ChecksumAlgorithm="SHA256")
    res = pub(bucket, moto_endpoint).publish(src, "k.png", sha, {}, "version")
    assert not res.written and res.key == "k.png"


def test_concurrent_publishers_of_the_same_bytes_write_once(tmp_path, moto_endpoint, bucket, keys):
    """Conditional writes (If-None-Match: *): of 6 racing publishers exactly one writes."""
    src, sha = write(tmp_path, "a.png", os.urandom(200_000))
    target = pub(bucket, moto_endpoint)
    barrier = threading.Barrier(6)

    def go(_):
        barrier.wait()
        return target.publish(src, "k.png", sha, {}, "version")

    with ThreadPoolExecutor(6) as ex:
        results = list(ex.map(go, range(6)))
    assert sum(r.written for r in results) == 1
    assert {r.key for r in results} == {"k.png"}
    assert keys(bucket) == ["brand/k.png"]


def test_multipart_above_the_threshold_keeps_sha256_metadata(tmp_path, moto_endpoint, bucket, s3, proxy, keys):
    data = os.urandom(11 * 1024 * 1024)
    src, sha = write(tmp_path, "big.png", data)
    target = pub(bucket, proxy.url, multipart_threshold=1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    res = target.publish(src, "big.png", sha, META, "version")

    assert res.written and res.etag and res.etag.endswith("-3")  # 5 + 5 + 1 MiB parts
    head = s3.head_object(Bucket=bucket, Key="brand/big.png")
    assert head["Metadata"]["sha256"] == sha and head["ContentType"] == "image/png"
    assert head["Metadata"]["product-id"] == META["product_id"]
    assert hashlib.sha256(s3.get_object(Bucket=bucket, Key="brand/big.png")["Body"].read()).hexdigest() == sha
    assert sum("partNumber=" in r.path for r in proxy.requests("PUT")) == 3
    again = target.publish(src, "big.png", sha, META, "version")
    assert not again.written and keys(bucket) == ["brand/big.png"]


# ----------------------------------------------------------------------------------------------- faults
def test_a_burst_of_503s_is_retried(tmp_path, bucket, s3, keys, proxy):
    src, sha = write(tmp_path, "a.png", b"creative")
    proxy.add("status", times=3, status=503, code="SlowDown")
    res = pub(bucket, proxy.url).publish(src, "k.png", sha, META, "version")

    assert res.written
    puts = [r.status for r in proxy.requests("PUT")]
    assert puts == [503, 503, 503, 200]
    assert keys(bucket) == ["brand/k.png"]
    assert s3.head_object(Bucket=bucket, Key="brand/k.png")["Metadata"]["sha256"] == sha


@pytest.mark.parametrize("status, code", [(500, "InternalError"), (400, "RequestTimeout"), (429, "TooManyRequestsException")])
def test_transient_errors_are_retried(tmp_path, bucket, keys, proxy, status, code):
    src, sha = write(tmp_path, "a.png", b"creative")
    proxy.add("status", status=status, code=code)
    assert pub(bucket, proxy.url).publish(src, "k.png", sha, {}, "version").written
    assert [r.status for r in proxy.requests("PUT")] == [status, 200]
    assert keys(bucket) == ["brand/k.png"]


def test_a_connection_dropped_mid_upload_is_retried(tmp_path, bucket, s3, keys, proxy):
    data = os.urandom(2 * 1024 * 1024)
    src, sha = write(tmp_path, "a.png", data)
    proxy.add("drop", method="PUT")
    res = pub(bucket, proxy.url).publish(src, "k.png", sha, META, "version")

    assert res.written
    assert [r.status for r in proxy.requests("PUT")] == ["dropped", 200]
    assert keys(bucket) == ["brand/k.png"]
    assert hashlib.sha256(s3.get_object(Bucket=bucket, Key="brand/k.png")["Body"].read()).hexdigest() == sha


def test_a_dropped_head_is_retried_too(tmp_path, bucket, keys, proxy):
    src, sha = write(tmp_path, "a.png", b"creative")
    proxy.add("drop", method="HEAD")
    assert pub(bucket, proxy.url).publish(src, "k.png", sha, {}, "version").written
    assert [r.status for r in proxy.requests("HEAD")] == ["dropped", 404]
    assert keys(bucket) == ["brand/k.png"]


def test_a_missing_bucket_fails_at_once_with_a_fix(tmp_path, proxy):
    src, sha = write(tmp_path, "a.png", b"creative")
    with pytest.raises(S3PublishError) as err:
        pub("no-such-bucket-here", proxy.url).publish(src, "c/k.png", sha, {}, "version")
    e = err.value
    assert isinstance(e, BrandflowError) and not isinstance(e, S3UnavailableError)
    assert e.code == "NoSuchBucket" and e.bucket == "no-such-bucket-here" and e.key == "brand/c/k.png"
    assert "s3://no-such-bucket-here/brand/c/k.png" in str(e) and "aws s3 mb s3://no-such-bucket-here" in str(e)
    assert [(r.method, r.status) for r in proxy.seen] == [("HEAD", 404), ("PUT", 404)]  # no retries


@pytest.mark.parametrize("code, status, hint", [("AccessDenied", 403, "s3:PutObject"), ("InvalidAccessKeyId", 403, "AWS_ACCESS_KEY_ID"),
                                                ("SignatureDoesNotMatch", 403, "AWS_SECRET_ACCESS_KEY"),
                                                ("AuthorizationHeaderMalformed", 400, "region")])
def test_4xx_errors_are_not_retried_and_name_the_fix(tmp_path, bucket, proxy, code, status, hint):
    src, sha = write(tmp_path, "a.png", b"creative")
    proxy.add("status", status=status, code=code)
    with pytest.raises(S3PublishError, match=hint) as err:
        pub(bucket, proxy.url).publish(src, "k.png", sha, {}, "version")
    assert err.value.code == code and bucket in str(err.value) and "brand/k.png" in str(err.value)
    assert len(proxy.requests("PUT")) == 1


def test_a_403_on_head_names_list_bucket(tmp_path, bucket, proxy):
    src, sha = write(tmp_path, "a.png", b"creative")
    proxy.add("status", method="HEAD", status=403, code="")
    with pytest.raises(S3PublishError, match="s3:ListBucket"):
        pub(bucket, proxy.url).publish(src, "k.png", sha, {}, "version")
    assert len(proxy.seen) == 1


def test_persistent_throttling_gives_up_after_the_policy(tmp_path, bucket, keys, proxy):
    src, sha = write(tmp_path, "a.png", b"creative")
    proxy.add("status", times=10, status=503, code="SlowDown")
    with pytest.raises(S3UnavailableError) as err:
        pub(bucket, proxy.url, retry_attempts=4).publish(src, "k.png", sha, {}, "version")
    assert err.value.attempts == 4 and err.value.code == "SlowDown" and "re-run later" in str(err.value)
    assert len(proxy.requests("PUT")) == 4 and keys(bucket) == []


def test_no_credentials_is_a_clear_error(tmp_path, bucket, moto_endpoint, monkeypatch):
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(k)
    src, sha = write(tmp_path, "a.png", b"x")
    with pytest.raises(S3PublishError, match="standard chain") as err:
        S3Publisher(f"s3://{bucket}", endpoint_url=moto_endpoint + "/").publish(src, "k.png", sha, {}, "version")
    assert err.value.code == "NoCredentialsError"


def test_credentials_in_the_uri_are_refused():
    with pytest.raises(S3PublishError, match="never from the URI"):
        S3Publisher("s3://AKIAXXX:secret@bucket/prefix")
    with pytest.raises(S3PublishError, match="unknown URI option"):
        S3Publisher("s3://bucket/prefix?aws_secret_access_key=x")
    with pytest.raises(S3PublishError, match="InvalidBucketName"):
        S3Publisher("s3://Not_A_Bucket/p")


# ----------------------------------------------------------------------------------------------- endpoints
def test_aws_endpoint_url_is_honoured(tmp_path, moto_endpoint, bucket, keys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    src, sha = write(tmp_path, "a.png", b"x")
    target = S3Publisher(f"s3://{bucket}/p")  # no endpoint_url option
    assert target.endpoint == moto_endpoint
    target.publish(src, "k.png", sha, {}, "version")
    assert keys(bucket) == ["p/k.png"]


def test_endpoint_and_region_in_the_uri_query(tmp_path, moto_endpoint, bucket, keys):
    src, sha = write(tmp_path, "a.png", b"x")
    target = S3Publisher(f"s3://{bucket}/p?endpoint_url={moto_endpoint}&region=eu-west-1&addressing_style=path")
    assert target.endpoint == moto_endpoint and target.client.meta.region_name == "eu-west-1"
    target.publish(src, "k.png", sha, {}, "version")
    assert keys(bucket) == ["p/k.png"]


def test_when_required_sends_no_checksum_headers(tmp_path, bucket, keys, proxy):
    src, sha = write(tmp_path, "a.png", b"x" * 1000)
    target = pub(bucket, proxy.url, request_checksum_calculation="when_required", checksum=False)
    assert target.client.meta.config.request_checksum_calculation == "when_required"
    target.publish(src, "k.png", sha, {}, "version")
    (put,) = proxy.requests("PUT")
    sent = {k.lower() for k in put.headers}
    assert not any(h.startswith("x-amz-checksum-") or h in ("x-amz-trailer", "x-amz-sdk-checksum-algorithm") for h in sent)
    assert put.headers.get("x-amz-meta-sha256") == sha
    assert keys(bucket) == ["brand/k.png"]


def test_default_sends_checksum_sha256_header(tmp_path, bucket, proxy):
    src, sha = write(tmp_path, "a.png", b"x" * 1000)
    pub(bucket, proxy.url).publish(src, "k.png", sha, {}, "version")
    (put,) = proxy.requests("PUT")
    assert put.headers.get("x-amz-checksum-sha256") == base64.b64encode(bytes.fromhex(sha)).decode()
    assert put.headers.get("If-None-Match") == "*"


def test_botocore_retries_are_off_ours_are_on(moto_endpoint):
    client = make_client(endpoint_url=moto_endpoint)
    assert client.meta.config.retries["total_max_attempts"] == 1


def test_presigned_links_download_the_object(tmp_path, moto_endpoint, bucket):
    src, sha = write(tmp_path, "a.png", b"presigned bytes")
    target = pub(bucket, moto_endpoint, presign_expiry=600)
    asset = target.publish(src, "k.png", sha, {}, "version")
    url = target.presign(asset.key)
    assert "X-Amz-Expires=600" in url and "X-Amz-Signature=" in url
    with urllib.request.urlopen(url) as r:
        assert r.read() == b"presigned bytes"
    assert "X-Amz-Expires=60&" in target.presign(asset.key, expires=60)
    with pytest.raises(ValueError, match="7 days"):
        target.presign(asset.key, expires=8 * 24 * 3600)


# ----------------------------------------------------------------------------------------------- killed runs
WORKER = Path(__file__).with_name("kill_worker.py")


def _start_worker(endpoint: str, bucket: str, files: list[tuple[Path, str, str]]) -> subprocess.Popen:
    job = [{"src": str(p), "key": k, "sha256": s} for p, k, s in files]
    return subprocess.Popen(
        [sys.executable, str(WORKER), endpoint, f"s3://{bucket}/brand", json.dumps(job)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ},
    )


def _publish_all(endpoint: str, bucket: str, files) -> list:
    target = pub(bucket, endpoint)
    return [target.publish(p, k, s, {"campaign": "c"}, "version") for p, k, s in files]


def test_a_run_killed_between_two_uploads_then_rerun_publishes_each_once(tmp_path, moto_endpoint, bucket, keys):
    files = [(*write(tmp_path, f"c{i}.png", os.urandom(5000)), ) for i in range(4)]
    files = [(p, f"c/p{i}/sq/v0.png", s) for i, (p, s) in enumerate(files)]
    worker = _start_worker(moto_endpoint, bucket, files)
    first = json.loads(worker.stdout.readline())  # the worker waits for "next" before its second upload
    assert first["written"] and first["key"] == "c/p0/sq/v0.png"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    assert worker.returncode == -signal.SIGKILL
    assert keys(bucket) == ["brand/c/p0/sq/v0.png"]

    rerun = _publish_all(moto_endpoint, bucket, files)
    assert [r.written for r in rerun] == [False, True, True, True]  # only the missing ones are written
    assert keys(bucket) == sorted(f"brand/{k}" for _, k, _ in files)  # every key once, no .v2 duplicates
    assert not any(r.written for r in _publish_all(moto_endpoint, bucket, files))  # a third run writes nothing


def test_an_upload_in_flight_when_the_run_was_killed_is_not_repeated(tmp_path, bucket, s3, keys, proxy):
    """The worker is killed while its second PUT is held at the proxy; the proxy then delivers it (the store
    committed the object but the client never heard). The re-run finds it by sha256 and does not re-upload."""
    files = [(*write(tmp_path, f"c{i}.png", os.urandom(5000)), ) for i in range(3)]
    files = [(p, f"c/p{i}.png", s) for i, (p, s) in enumerate(files)]
    worker = _start_worker(proxy.url, bucket, files)
    assert json.loads(worker.stdout.readline())["written"]
    (hold,) = proxy.add("hold", method="PUT")
    worker.stdin.write("next\n")
    worker.stdin.flush()
    assert proxy.holding.wait(10)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    hold.release.set()
    for _ in range(100):  # the held PUT reaches moto after the client is gone
        if len(keys(bucket)) == 2:
            break
        threading.Event().wait(0.05)
    assert keys(bucket) == ["brand/c/p0.png", "brand/c/p1.png"]

    rerun = _publish_all(proxy.url, bucket, files)
    assert [r.written for r in rerun] == [False, False, True]
    assert keys(bucket) == ["brand/c/p0.png", "brand/c/p1.png", "brand/c/p2.png"]


# ----------------------------------------------------------------------------------------------- Prefect block
def test_credentials_from_a_prefect_aws_credentials_block(tmp_path, moto_endpoint, bucket, keys, monkeypatch):
    """``credentials_block`` takes the session from ``prefect_aws.AwsCredentials.load(name)`` (faked here)."""
    import types

    import boto3

    loaded = []

    class AwsCredentials:
        @staticmethod
        def load(name):
            loaded.append(name)
            return types.SimpleNamespace(get_boto3_session=lambda: boto3.session.Session(
                aws_access_key_id="from-block", aws_secret_access_key="from-block", region_name="eu-central-1"))

    monkeypatch.setitem(sys.modules, "prefect_aws", types.SimpleNamespace(AwsCredentials=AwsCredentials))
    src, sha = write(tmp_path, "a.png", b"x")
    target = S3Publisher(f"s3://{bucket}/p", endpoint_url=moto_endpoint, credentials_block="brand-bucket")
    assert loaded == ["brand-bucket"] and target.client.meta.region_name == "eu-central-1"
    assert target.client._request_signer._credentials.access_key == "from-block"
    target.publish(src, "k.png", sha, {}, "version")
    assert keys(bucket) == ["p/k.png"]


def test_a_block_without_prefect_aws_says_what_to_install(moto_endpoint, monkeypatch):
    from brandflow.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "prefect_aws", None)
    with pytest.raises(MissingDependencyError, match="pip install prefect-aws"):
        S3Publisher("s3://some-bucket/p", endpoint_url=moto_endpoint, credentials_block="other-block")
