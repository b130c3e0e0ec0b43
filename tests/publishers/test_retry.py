"""Which storage errors are retried, and how long the backoff waits."""

from __future__ import annotations

import random

import pytest

from brandflow.publishers.retry import RetriesExhausted, RetryPolicy, call_with_retry, is_transient

import botocore.exceptions as bex


def client_error(code: str, status: int):
    return bex.ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(
    "exc",
    [
        client_error("SlowDown", 503), client_error("ServiceUnavailable", 503), client_error("InternalError", 500),
        client_error("RequestTimeout", 400), client_error("Throttling", 400), client_error("", 502),
        client_error("TooManyRequestsException", 429),
        bex.EndpointConnectionError(endpoint_url="http://x"), bex.ConnectionClosedError(endpoint_url="http://x"),
        bex.ReadTimeoutError(endpoint_url="http://x"), bex.ConnectTimeoutError(endpoint_url="http://x"),
        ConnectionResetError(), TimeoutError(),
    ],
)
def test_transient(exc):
    assert is_transient(exc)


def test_urllib3_protocol_error_is_transient():
    from urllib3.exceptions import ProtocolError

    assert is_transient(ProtocolError("Connection aborted.", ConnectionResetError()))


@pytest.mark.parametrize(
    "exc",
    [
        client_error("NoSuchBucket", 404), client_error("AccessDenied", 403), client_error("InvalidAccessKeyId", 403),
        client_error("SignatureDoesNotMatch", 403), client_error("BadDigest", 400), client_error("PreconditionFailed", 412),
        client_error("404", 404), bex.NoCredentialsError(), ValueError("bug"),
    ],
)
def test_final(exc):
    assert not is_transient(exc)


def test_the_wrapped_error_of_a_transfer_is_classified():
    from boto3.exceptions import S3UploadFailedError

    try:
        try:
            raise client_error("SlowDown", 503)
        except bex.ClientError as e:
            raise S3UploadFailedError(f"Failed to upload: {e}")  # boto3 keeps the cause only as __context__
    except S3UploadFailedError as wrapped:
        assert is_transient(wrapped)


def test_full_jitter_stays_under_the_exponential_ceiling():
    policy, rng = RetryPolicy(max_attempts=10, base_delay=0.5, max_delay=4.0), random.Random(1)
    for retry, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (8, 4.0)]:
        waits = [policy.delay(retry, rng) for _ in range(200)]
        assert 0 <= min(waits) and max(waits) <= ceiling and max(waits) > ceiling / 2


def test_retries_transient_then_succeeds_and_stops_at_once_on_final():
    calls, waits = [], []
    outcomes = [client_error("SlowDown", 503), bex.ConnectionClosedError(endpoint_url="x"), "ok"]

    def fn():
        calls.append(1)
        out = outcomes[len(calls) - 1]
        if isinstance(out, Exception):
            raise out
        return out

    assert call_with_retry(fn, RetryPolicy(5, 1, 8), sleep=waits.append, rng=random.Random(0)) == "ok"
    assert len(calls) == 3 and len(waits) == 2 and waits[0] <= 1 and waits[1] <= 2

    def denied():
        calls.append(1)
        raise client_error("AccessDenied", 403)

    calls.clear()
    with pytest.raises(bex.ClientError):
        call_with_retry(denied, RetryPolicy(5), sleep=waits.append)
    assert len(calls) == 1


def test_gives_up_after_max_attempts():
    def always():
        raise client_error("SlowDown", 503)

    with pytest.raises(RetriesExhausted) as err:
        call_with_retry(always, RetryPolicy(3), sleep=lambda s: None)
    assert err.value.attempts == 3 and isinstance(err.value.__cause__, bex.ClientError)
    with pytest.raises(ValueError):
        RetryPolicy(0)
