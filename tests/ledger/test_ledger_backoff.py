"""The one retry rule: the ledger's reschedule and the in-process policy wait alike."""

from __future__ import annotations

import random
from datetime import timedelta

from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.retry import Backoff, RetryPolicy, backoff_seconds


def test_the_ledger_backoff_doubles_from_its_base_up_to_its_cap_without_jitter() -> None:
    backoff = Backoff(base_seconds=30, cap_seconds=600)
    assert [backoff.delay(n).total_seconds() for n in range(1, 7)] == [30, 60, 120, 240, 480, 600]
    assert backoff.delay(10_000) == timedelta(seconds=600)  # no overflow on a long history
    assert backoff.delay(1, retry_after=90) == timedelta(seconds=90)
    assert backoff.delay(3, retry_after=90) == timedelta(seconds=120)


def test_the_in_process_policy_jitters_under_the_same_ceiling_never_below_retry_after() -> None:
    policy = RetryPolicy(base_seconds=0.5, max_backoff_seconds=4.0, _random=random.Random(7))
    for attempt in range(1, 8):
        ceiling = backoff_seconds(attempt, base=0.5, cap=4.0)
        waits = [policy.wait_seconds(attempt, None) for _ in range(50)]
        assert all(0 <= w <= ceiling for w in waits) and len(set(waits)) > 1
    asked = VendorError(ErrorKind.RETRYABLE, "slow down", status=429, retry_after=10.0)
    assert policy.wait_seconds(1, asked) == 10.0
