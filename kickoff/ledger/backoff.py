"""When to try a failed action again: one retry policy for every tool.

Exponential (base, 2x base, 4x base, ... up to a cap), never sooner than the vendor's
``Retry-After``. No jitter: times are passed in and the schedule is reproducible; rows of
one batch spread out anyway as their attempts differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Backoff:
    """``delay(n)`` is the wait after the n-th failed attempt (n >= 1)."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0

    def delay(self, attempts: int, retry_after: float | None = None) -> timedelta:
        seconds = min(self.base_seconds * 2 ** max(attempts - 1, 0), self.cap_seconds)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return timedelta(seconds=seconds)
