"""Retrying transient storage errors: exponential backoff with full jitter, and nothing else.

Which errors are transient is decided in one place (:func:`is_transient`): throttling, 5xx and dropped
or timed-out connections are retried; every 4xx (a missing bucket, denied access, a bad key, a bad
checksum) is final, because sending the same request again cannot fix it.

The delay before retry ``n`` (1-based) is drawn uniformly from ``[0, min(max_delay, base_delay · 2^(n-1))]``
("full jitter"): clients that were throttled together do not come back together. Source: Marc Brooker,
"Exponential Backoff And Jitter", AWS Architecture Blog (2015); the same scheme as botocore's
``standard`` retry mode.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient error is retried.

    Attributes:
        max_attempts: total tries including the first, ``>= 1`` (default 6: five retries).
        base_delay: seconds; the first retry waits up to this long (default 0.25).
        max_delay: seconds; the cap on one wait (default 20).
    """

    max_attempts: int = 6
    base_delay: float = 0.25
    max_delay: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"retry max_attempts must be >= 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("retry delays must be >= 0 seconds")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry): full jitter.

        Returns:
            A float in ``[0, min(max_delay, base_delay * 2**(retry-1))]``.
        """
        ceiling = min(self.max_delay, self.base_delay * (2 ** (retry - 1)))
        return (rng or random).uniform(0.0, ceiling)


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
