"""The one retry policy (tenacity) every connector uses.

Retries retryable errors and unknown outcomes with exponential backoff and full jitter,
waiting at least what the vendor asked for; never retries permanent or authentication
errors; bounded in attempts and in total waiting. After an unknown outcome it first asks
``lookup`` whether the write landed, so a retry never writes twice.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
)

from connectors.errors import ErrorKind, UnknownOutcome, VendorError

T = TypeVar("T")
log = logging.getLogger("kickoff.connectors.retry")


class GiveUp(VendorError):
    """Raised when the vendor asks for a longer wait than this policy will sleep in-process:
    the caller reports a retryable result and the ledger reschedules the action."""


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    base_seconds: float = 0.5
    max_backoff_seconds: float = 30.0
    max_total_seconds: float = 180.0
    max_retry_after_seconds: float = 75.0
    sleep: Callable[[float], None] | None = None
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """Full-jitter exponential backoff, never shorter than the vendor's Retry-After."""
        backoff = self._random.uniform(0, min(self.max_backoff_seconds, self.base_seconds * 2 ** (attempt - 1)))
        asked = error.retry_after if isinstance(error, VendorError) and error.retry_after else 0.0
        return max(backoff, asked)

    def call(self, fn: Callable[[], T], *, lookup: Callable[[], T | None] | None = None,
             look_up_first: bool = False) -> T:
        """Run ``fn`` until it succeeds or the policy gives up (the last error is raised).
        ``look_up_first``: an earlier attempt may have landed, so ``lookup`` runs before ``fn``."""
        state = {"unknown": look_up_first}

        def attempt() -> T:
            if state["unknown"] and lookup is not None:
                found = lookup()
                if found is not None:
                    log.info("write found by its idempotency key after an unknown outcome; not re-sent")
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
                raise GiveUp(ErrorKind.RETRYABLE, exc.reason, status=exc.status, retry_after=exc.retry_after) from exc
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
