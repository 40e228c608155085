"""The one retry module: how long to wait before trying a failed call again.

``backoff_seconds`` is the one rule: exponential from a base (base, 2x, 4x, ...), capped,
never shorter than the vendor's ``Retry-After``. Two users:

- ``RetryPolicy`` (tenacity, in-process): retries retryable errors and unknown outcomes with
  full jitter; never retries permanent or authentication errors; bounded in attempts and in
  total waiting. After an unknown outcome it first asks ``lookup`` whether the write landed,
  so a retry never writes twice.
- ``Backoff`` (the ledger's reschedule of a failed outbox row): no jitter, so a schedule with
  time passed in is reproducible; rows of one batch spread out anyway as their attempts differ.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from kickoff.contracts.errors import ErrorKind, UnknownOutcome, VendorError

T = TypeVar("T")
log = logging.getLogger("kickoff.retry")
_MAX_DOUBLINGS = 60  # 2**60 times any base is past every cap; keeps the float finite


def backoff_seconds(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    jitter: Callable[[float], float] | None = None,
) -> float:
    """The wait after the ``attempt``-th failure (1-based): ``base * 2**(attempt-1)`` capped at
    ``cap``, passed through ``jitter`` if given, and never below ``retry_after``."""
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), _MAX_DOUBLINGS))
    seconds = jitter(ceiling) if jitter is not None else ceiling
    return max(seconds, retry_after or 0.0)


@dataclass(frozen=True)
class Backoff:
    """The ledger's reschedule: ``delay(n)`` is the wait after the n-th failed attempt."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int, retry_after: float | None = None) -> timedelta:
        return timedelta(seconds=backoff_seconds(
            attempts, base=self.base_seconds, cap=self.cap_seconds, retry_after=retry_after))


class GiveUp(VendorError):
    """Raised when the vendor asks for a longer wait than this policy will sleep in-process:
    the caller reports a retryable result and the ledger reschedules the action."""


@dataclass
class RetryPolicy:
    """In-process retries of one vendor call (see the module docstring)."""

    max_attempts: int = 6
    base_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_total_seconds: float = 180.0
    max_retry_after_seconds: float = 75.0
    sleep: Callable[[float], None] | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Full-jitter exponential backoff, never shorter than the vendor's Retry-After."""
        asked = error.retry_after if isinstance(error, VendorError) else None
        return backoff_seconds(
            attempt, base=self.base_seconds, cap=self.max_backoff_seconds, retry_after=asked,
            jitter=lambda ceiling: self._random.uniform(0, ceiling),
        )

    def call(self, fn: Callable[[], T], *, lookup: Callable[[], T | None] | None = None,
             look_up_first: bool = False) -> T:
        """Run ``fn`` until it succeeds or the policy gives up (the last error is raised).
        ``look_up_first``: an earlier attempt may have landed, so ``lookup`` runs before ``fn``."""
        state = {"unknown": look_up_first}

        def attempt() -> T:
            if state["unknown"] and lookup is not None:
                found = lookup()
                if found is not None:
                    log.info("write found by its idempotency key after an unknown outcome; "
                             "not re-sent")
                    return found
            state["unknown"] = False
            try:
                return fn()
            except UnknownOutcome:
                state["unknown"] = True
                raise

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, VendorError) or exc.kind is not ErrorKind.RETRYABLE:
                return False
            if exc.retry_after and exc.retry_after > self.max_retry_after_seconds:
                raise GiveUp(ErrorKind.RETRYABLE, exc.reason, status=exc.status,
                             retry_after=exc.retry_after) from exc
            return True

        def wait(retry_state: RetryCallState) -> float:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            seconds = self.wait_seconds(retry_state.attempt_number, error)
            log.info("retrying in %.2fs after %s", seconds, type(error).__name__ if error else "?")
            return seconds

        retrying = Retrying(
            retry=retry_if_exception(should_retry),
            wait=wait,
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_total_seconds),
            reraise=True,
            **({"sleep": self.sleep} if self.sleep else {}),
        )
        return retrying(attempt)


FAST_POLICY = RetryPolicy(base_seconds=0.01, max_backoff_seconds=0.05)
"""For tests: the same decisions, tiny backoff (a vendor's Retry-After is still honoured)."""
