"""The vendors' own numbers: the sandbox sends the rate-limit headers VENDORS.md names, every
connector hands them to the one limiter (``Connector.observe``), and the limiter corrects its
budget by them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from connectors import build_connector
from connectors.ratelimit import (
    Reported,
    TokenBucketLimiter,
    bucket_for,
    configured_limits,
    reported,
)
from kickoff.settings import RateLimit

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# what each vendor documents on its answers (VENDORS.md), by the connector's read that shows it
DOCUMENTED = {
    "hubspot": ["X-HubSpot-RateLimit-Max", "X-HubSpot-RateLimit-Remaining",
                "X-HubSpot-RateLimit-Interval-Milliseconds", "X-HubSpot-RateLimit-Daily",
                "X-HubSpot-RateLimit-Daily-Remaining"],
    "zendesk": ["X-Rate-Limit", "X-Rate-Limit-Remaining", "ratelimit-reset"],
    "salesforce": ["Sforce-Limit-Info"],
}


def _recorded(tool: str, config) -> tuple[object, list[dict[str, str]], TokenBucketLimiter]:
    limiter = TokenBucketLimiter(configured_limits(config.tools))
    connector = build_connector(tool, config, limiter=limiter)
    seen: list[dict[str, str]] = []
    observe = connector.observe

    def record(headers):
        seen.append({k.lower(): v for k, v in headers.items()})
        observe(headers)

    connector.observe = record  # before the client is built: its HTTP hook takes this one
    return connector, seen, limiter


@pytest.mark.parametrize("tool", sorted(DOCUMENTED))
def test_the_sandbox_answers_carry_the_rate_limit_headers_the_vendor_documents(tool, kickoff_config, sandbox) -> None:
    connector, seen, limiter = _recorded(tool, kickoff_config)
    assert connector.check(NOW) == []
    assert seen, f"{tool}: no answer reached the limiter"
    for name in DOCUMENTED[tool]:
        assert any(name.lower() in h for h in seen), f"{tool} answers lack {name}"
    if tool == "salesforce":
        assert any(re.fullmatch(r"api-usage=\d+/\d+", h.get("sforce-limit-info", "")) for h in seen)
    if tool in ("hubspot", "salesforce"):  # the daily allowance reached the limiter
        daily = limiter.daily(tool)
        assert daily is not None and daily.daily_limit and 0 < daily.daily_used <= daily.daily_limit


def test_a_zendesk_429_carries_retry_after_beside_the_counters(kickoff_config, sandbox) -> None:
    sandbox.add_fault(vendor="zendesk", kind="error", status=429, times=1)
    connector, seen, _ = _recorded("zendesk", kickoff_config)
    connector.check(NOW)
    assert any("retry-after" in h and "x-rate-limit-remaining" in h for h in seen)


def test_reported_reads_each_vendors_headers() -> None:
    assert reported({"X-HubSpot-RateLimit-Remaining": "7", "X-HubSpot-RateLimit-Daily": "250000",
                     "X-HubSpot-RateLimit-Daily-Remaining": "1000"}) == Reported(7, None, 250_000, 249_000)
    assert reported({"x-rate-limit-remaining": "3", "Retry-After": "12"}) == Reported(3, 12.0)
    assert reported({"ratelimit-remaining": "5"}).remaining == 5
    assert reported({"Sforce-Limit-Info": "api-usage=18/5000"}) == Reported(daily_limit=5000, daily_used=18)
    assert reported({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) == Reported()  # a date: the retry policy's


def _clocked(limit: RateLimit) -> tuple[TokenBucketLimiter, list[float]]:
    now = [0.0]
    limiter = TokenBucketLimiter({"tool": limit}, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    return limiter, now


def test_a_remaining_count_below_the_bucket_caps_it() -> None:
    """Someone else spends the same token: the vendor says 0 remain, so the next call waits a refill."""
    limit = RateLimit(requests=100, per_seconds=10)
    limiter, now = _clocked(limit)
    limiter.acquire("tool")  # the bucket still holds a token after this one
    limiter.observe("tool", "default", Reported(remaining=0))
    limiter.acquire("tool")
    assert now[0] == pytest.approx(1 / bucket_for(limit).per_second)


def test_retry_after_empties_the_bucket_for_that_long() -> None:
    limiter, now = _clocked(RateLimit(requests=100, per_seconds=10))
    limiter.observe("tool", "default", Reported(retry_after=7.0))
    limiter.acquire("tool")
    assert now[0] >= 7.0


@pytest.mark.parametrize("requests_, window, lump", [(100, 10, 1), (10, 60, 1), (60, 60, 1), (200, 60, 1),
                                                     (150, 60, 10)])
def test_the_bucket_runs_at_095_of_the_limit_and_no_window_sees_more_than_it(requests_, window, lump) -> None:
    """Simulated time, calls of 1 request and (with lumps) of ``lump``, mixed: the worst
    rolling window stays within N and the steady rate is at least 0.93 N per window."""
    limit = RateLimit(requests=requests_, per_seconds=window, lump=lump)
    limiter, now = _clocked(limit)
    stamps: list[float] = []
    while now[0] < 20 * window:
        size = lump if len(stamps) % 7 else 1
        limiter.acquire("tool", slots=size)
        stamps += [now[0]] * size
    worst = max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)
    assert worst <= requests_
    steady = sum(1 for t in stamps if t >= window) / (now[0] - window) * window
    assert steady >= (0.93 if lump > 1 else 0.95) * requests_
