"""How a vendor's failure is classified, once for every connector.

Retryable (429, 5xx, connection trouble) is tried again by the one retry policy; permanent
(any other 4xx) is reported with the vendor's reason and never retried; authentication
stops that tool's pushes and alerts instead of burning the budget.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from enum import StrEnum


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    AUTH = "auth"


class VendorError(Exception):
    """A vendor call that failed, with what the retry policy and the ledger need to know."""

    def __init__(self, kind: ErrorKind, reason: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(f"{kind.value}: {reason}" + (f" (HTTP {status})" if status else ""))
        self.kind, self.reason, self.status, self.retry_after = kind, reason, status, retry_after


class UnknownOutcome(VendorError):
    """The request was sent but no answer came: it may or may not have been applied."""

    def __init__(self, reason: str) -> None:
        super().__init__(ErrorKind.RETRYABLE, reason)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def retry_after_from_headers(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the vendor asks us to wait: Retry-After (seconds or HTTP date), HubSpot's
    interval when its window is spent, or ``ratelimit-reset``."""
    value = _header(headers, "Retry-After")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                return max(parsed.timestamp() - time.time(), 0.0)
    remaining = _header(headers, "X-HubSpot-RateLimit-Remaining")
    interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval and remaining is not None and remaining.strip() == "0":
        return float(interval) / 1000.0
    reset = _header(headers, "ratelimit-reset")
    if reset:
        try:
            return max(float(reset), 0.0)
        except ValueError:
            return None
    return None


def classify(status: int | None, headers: Mapping[str, str] | None = None, reason: str = "") -> VendorError:
    """The error for an HTTP status (None: no answer at all)."""
    reason = reason or (f"HTTP {status}" if status else "no answer")
    if status is None:
        return UnknownOutcome(reason)
    if status == 429 or status >= 500:
        return VendorError(ErrorKind.RETRYABLE, reason, status=status, retry_after=retry_after_from_headers(headers))
    if status == 401:
        return VendorError(ErrorKind.AUTH, reason, status=status)
    return VendorError(ErrorKind.PERMANENT, reason, status=status)
