"""Time zones: aware datetimes in, UTC out, and comparisons by instant on every backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from ledger_builders import T0, action, decision, state

from kickoff.ledger import Ledger

STOCKHOLM_WINTER = timezone(timedelta(hours=1))


def test_naive_now_is_refused(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.claim_outbox("hubspot", "w", 1, now=datetime(2025, 3, 3, 9, 0))


def test_times_in_any_offset_come_back_as_the_same_instant_in_utc(ledger: Ledger) -> None:
    local_due = datetime(2025, 3, 3, 10, 0, tzinfo=STOCKHOLM_WINTER)  # == 09:00Z
    ledger.commit_decision(decision(state(), actions=[action(1, due_at=local_due)]), now=T0)

    assert (
        ledger.claim_outbox(
            "hubspot", "w", 1, now=datetime(2025, 3, 3, 9, 59, tzinfo=STOCKHOLM_WINTER)
        )
        == []
    )
    assert ledger.claim_outbox("hubspot", "w", 1, now=datetime(2025, 3, 3, 9, 0, tzinfo=UTC))
    row = ledger.outbox_row_by_key(action(1).idempotency_key)
    assert row["due_at"] == local_due
    assert row["due_at"].tzinfo == UTC and row["due_at"].hour == 9


def test_claims_compare_instants_not_wall_clock_text(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state(), actions=[action(1, due_at=T0)]), now=T0)
    just_before = (T0 - timedelta(seconds=1)).astimezone(timezone(timedelta(hours=5)))

    assert ledger.claim_outbox("hubspot", "w", 1, now=just_before) == []
