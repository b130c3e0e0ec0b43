"""brandflow's one retry policy: exponential backoff with full jitter, for every client that retries a transient
failure (publishers, the Black Forest Labs API client, webhooks). Which errors are transient stays with each
client (it knows its protocol); how long to wait is decided here.

The delay before retry ``n`` (1-based) is drawn uniformly from ``[0, min(max_delay, base_delay · 2^(n-1))]``
("full jitter"): clients that were throttled together do not come back together. Source: Marc Brooker,
"Exponential Backoff And Jitter", AWS Architecture Blog (2015); the same scheme as botocore's ``standard``
retry mode.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


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
