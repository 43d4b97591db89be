"""The retry policy — pure: given what happened, wait N seconds and retry, or stop."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time.

    Retries only 429, 5xx, an unexpected 2xx, timeouts and broken connections.  A server that
    cannot be reached at all (refused, unknown host) is tried ``connect_attempts`` times, so a
    wrong URL or a stopped server is reported within seconds.  A 429 with ``Retry-After`` is
    waited out exactly as asked, from its own budget: ``max_rate_limit_wait`` seconds in total
    (long enough for Amplitude's 5-minute Dashboard cost window), not ``max_total``.
    ``RetryPolicy.no_wait()`` keeps every rule but waits zero seconds (Retry-After included) —
    what the test suite uses.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_total: float = 120.0
    multiplier: float = 2.0
    jitter: bool = True
    retry_statuses: frozenset[int] = RETRYABLE_STATUSES
    connect_attempts: int = 3
    """Attempts that could not connect at all before giving up (each also counts as one of
    ``max_attempts``)."""
    max_rate_limit_wait: float = 330.0
    """Seconds a request may wait in total on 429 answers that carry ``Retry-After``."""
    honour_retry_after: bool = True
    """``False`` (``no_wait()``): a 429's ``Retry-After`` is counted but not slept."""
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.connect_attempts < 1:
            raise ValueError("max_attempts and connect_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_total, self.max_rate_limit_wait) < 0:
            raise ValueError("delays must not be negative")

    @classmethod
    def no_wait(cls, max_attempts: int = 8) -> RetryPolicy:
        return cls(max_attempts=max_attempts, base_delay=0.0, max_delay=0.0, jitter=False,
                   honour_retry_after=False)

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * self.multiplier ** (attempt - 1))
        return self.rng.uniform(0, ceiling) if self.jitter else ceiling

    def is_retryable_status(self, status: int) -> bool:
        return status in self.retry_statuses

    def next_delay(
        self, attempt: int, elapsed: float, retry_after: float | None = None
    ) -> float | None:
        """Seconds to wait before trying again, or ``None`` to give up.

        ``attempt`` is the number of attempts made so far; ``elapsed`` the seconds spent.
        """
        if attempt >= self.max_attempts:
            return None
        delay = self.backoff(attempt)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if elapsed + delay > self.max_total:
            return None
        return delay

    def rate_limit_delay(self, attempt: int, waited: float, retry_after: float) -> float | None:
        """Seconds to wait on a 429 that asked for ``retry_after``, or ``None`` to give up.

        ``waited`` is what earlier 429s of this request were already given; the wait is
        exactly ``retry_after`` (0 with ``honour_retry_after=False``).
        """
        if attempt >= self.max_attempts or waited + retry_after > self.max_rate_limit_wait:
            return None
        return retry_after if self.honour_retry_after else 0.0
