"""Retrying transient storage errors with brandflow's one retry policy (:class:`brandflow.retry.RetryPolicy`).

Which errors are transient is decided in one place (:func:`is_transient`): throttling, 5xx and dropped
or timed-out connections are retried; every 4xx (a missing bucket, denied access, a bad key, a bad
checksum) is final, because sending the same request again cannot fix it.

The delays (exponential backoff with full jitter) are the policy's, shared with the BFL client and webhooks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from brandflow.retry import RetryPolicy

__all__ = ["RetriesExhausted", "RetryPolicy", "call_with_retry", "is_transient", "unwrap"]

T = TypeVar("T")

#: S3 / AWS error codes that mean "slow down" or "try again": retried.
THROTTLING_CODES = frozenset(
    {
        "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
        "RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "ProvisionedThroughputExceededException", "EC2ThrottledException", "PriorRequestNotComplete",
    }
)
#: Error codes of transient server-side failures: retried.
TRANSIENT_CODES = frozenset(
    {"RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "503", "500", "502", "504"}
)


class RetriesExhausted(Exception):
    """Every attempt failed with a transient error.

    Attributes:
        attempts: how many attempts were made.
        last: the last transient exception (also ``__cause__``).
    """

    def __init__(self, attempts: int, last: BaseException):
        self.attempts, self.last = attempts, last
        super().__init__(f"gave up after {attempts} attempt(s): {type(last).__name__}: {last}")


def _status_and_code(exc: BaseException) -> tuple[int | None, str]:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, ""
    code = str(response.get("Error", {}).get("Code", ""))
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return (int(status) if status is not None else None), code


def unwrap(exc: BaseException) -> BaseException:
    """The underlying botocore error of a boto3 transfer wrapper (``S3UploadFailedError`` keeps it as
    ``__context__`` only); other exceptions are returned as they are."""
    seen = 0
    while type(exc).__name__ in ("S3UploadFailedError", "S3TransferFailedError") and seen < 5:
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc, seen = inner, seen + 1
    return exc


def is_transient(exc: BaseException) -> bool:
    """Whether a storage error is worth retrying.

    Retried: throttling codes (:data:`THROTTLING_CODES`), HTTP 429 and 5xx, :data:`TRANSIENT_CODES`
    (``RequestTimeout`` is a 400 in S3 but transient), and transport failures — botocore's
    ``EndpointConnectionError``, ``ConnectTimeoutError``, ``ConnectionClosedError``, ``ReadTimeoutError``,
    ``ResponseStreamingError``, ``IncompleteReadError``, urllib3's ``ProtocolError`` and the built-in
    ``ConnectionError`` / ``TimeoutError``.

    Not retried: any other 4xx (``NoSuchBucket``, ``AccessDenied``, ``InvalidAccessKeyId``,
    ``SignatureDoesNotMatch``, ``BadDigest`` …), missing credentials, programming errors.
    """
    exc = unwrap(exc)
    status, code = _status_and_code(exc)
    if code or status is not None:
        return code in THROTTLING_CODES or code in TRANSIENT_CODES or status == 429 or (status is not None and status >= 500)
    try:
        from botocore import exceptions as bex
        from urllib3.exceptions import ProtocolError
    except ImportError:  # pragma: no cover - boto3 is installed whenever this is used
        return isinstance(exc, (ConnectionError, TimeoutError))
    transport = (
        bex.EndpointConnectionError, bex.ConnectTimeoutError, bex.ConnectionClosedError, bex.ReadTimeoutError,
        bex.ResponseStreamingError, bex.IncompleteReadError, ProtocolError, ConnectionError, TimeoutError,
    )
    return isinstance(exc, transport)


def call_with_retry(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    transient: Callable[[BaseException], bool] = is_transient,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn()`` until it returns, retrying only errors for which ``transient(exc)`` is true.

    Args:
        fn: the whole operation to retry; it must be safe to repeat (ours re-check the object first).
        policy: attempts and backoff.
        transient: classifier; default :func:`is_transient`.
        on_retry: called as ``on_retry(attempt, exc, delay_s)`` before each wait (logging, counting).
        sleep, rng: injectable for tests.

    Returns:
        What ``fn`` returned.

    Raises:
        RetriesExhausted: ``policy.max_attempts`` transient failures in a row (``__cause__`` is the last).
        Exception: the first non-transient error, unchanged and at once.
    """
    attempt = 1
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below; non-transient errors re-raised as they are
            if not transient(exc):
                raise
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(attempt, unwrap(exc)) from unwrap(exc)
            wait = policy.delay(attempt, rng)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
            attempt += 1
