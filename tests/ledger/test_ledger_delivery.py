"""A delivery that maps to several events is committed in one transaction: all of it or none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ledger_builders import T0, action, decision, delivery, state, timer

from kickoff.ledger import ClaimLost, Decided, Ledger, SourceLink, StateConflict, state_after


def claimed_row(ledger: Ledger, n: int = 1) -> int:
    inbox_id, _ = ledger.store_delivery(delivery(n))
    [item] = ledger.claim_inbox("w", limit=1, now=T0, lease_seconds=60)
    assert item.id == inbox_id
    return inbox_id


def test_two_events_on_one_onboarding_commit_both_decisions_chained(ledger: Ledger) -> None:
    inbox_id = claimed_row(ledger)
    first = decision(state(stage="signed"), actions=[action(1)], set_timers=[timer("nudge")],
                     audit=["E1: contract signed"])
    second = decision(state_after(first).model_copy(update={"stage": "booked"}),
                      actions=[action(2)], cancel_timers=["nudge"], audit=["A2: meeting booked"])

    results = ledger.commit_delivery(
        inbox_id, [Decided(first, "evt-1"), Decided(second, "evt-2")], now=T0)

    assert [r.version for r in results] == [1, 2]
    loaded = ledger.load_state("ob-1")
    assert (loaded.stage, loaded.version) == ("booked", 2)
    assert all(ledger.outbox_row_by_key(action(n).idempotency_key) for n in (1, 2))
    assert ledger.timer_row("ob-1", "nudge")["status"] == "cancelled"
    assert [(a["rule"], a["event_id"]) for a in ledger.audit_for("ob-1")] == [
        ("E1", "evt-1"), ("A2", "evt-2")]
    assert ledger.inbox_row(inbox_id)["status"] == "done"


def test_when_the_second_decision_fails_nothing_of_the_first_is_kept(ledger: Ledger) -> None:
    inbox_id = claimed_row(ledger)
    first = decision(state(), actions=[action(1)], set_timers=[timer("nudge")])
    not_chained = decision(state(stage="booked"), actions=[action(2)])  # decided on version 0

    with pytest.raises(StateConflict):
        ledger.commit_delivery(
            inbox_id, [Decided(first, "evt-1"), Decided(not_chained, "evt-2")], now=T0)

    assert ledger.load_state("ob-1") is None
    assert ledger.outbox_row_by_key(action(1).idempotency_key) is None
    assert ledger.timer_row("ob-1", "nudge") is None
    assert ledger.audit_for("ob-1") == []
    assert ledger.inbox_row(inbox_id)["status"] == "claimed"
    [again] = ledger.claim_inbox("w2", limit=1, now=T0 + timedelta(seconds=61))
    assert again.id == inbox_id  # tried again once the lease runs out


def test_a_link_is_undone_with_the_rest_when_a_decision_fails(ledger: Ledger) -> None:
    inbox_id = claimed_row(ledger)
    ledger.commit_decision(decision(state("ob-2")), now=T0)
    linked = Decided(decision(state()), "evt-1", SourceLink("ob-1", "zendesk", "t-9", "ticket"))
    stale = Decided(decision(state("ob-2", stage="live")), "evt-2")

    with pytest.raises(StateConflict):
        ledger.commit_delivery(inbox_id, [linked, stale], now=T0)

    assert ledger.external_for("ob-1", "zendesk") is None


def test_a_delivery_that_decides_nothing_is_ignored_with_its_reason(ledger: Ledger) -> None:
    inbox_id = claimed_row(ledger)

    assert ledger.commit_delivery(inbox_id, [], ignored_because="x starts nothing", now=T0) == []

    row = ledger.inbox_row(inbox_id)
    assert (row["status"], row["error"]) == ("ignored", "x starts nothing")


def test_the_source_record_is_linked_only_when_neither_side_is(ledger: Ledger) -> None:
    ledger.link("ob-9", "zendesk", "t-taken", "ticket", now=T0)
    inbox_id = claimed_row(ledger)
    decided = [
        Decided(decision(state("ob-1")), "evt-1", SourceLink("ob-1", "zendesk", "t-1", "ticket")),
        Decided(decision(state("ob-2")), "evt-2",
                SourceLink("ob-2", "zendesk", "t-taken", "ticket")),
    ]

    ledger.commit_delivery(inbox_id, decided, now=T0)

    assert ledger.canonical_for("zendesk", "t-1") == "ob-1"
    assert ledger.canonical_for("zendesk", "t-taken") == "ob-9"  # kept, and no error
    assert ledger.external_for("ob-2", "zendesk") is None
    assert ledger.inbox_row(inbox_id)["status"] == "done"


def test_a_row_already_finished_is_refused_and_nothing_is_written(ledger: Ledger) -> None:
    inbox_id = claimed_row(ledger)
    ledger.claim_inbox("other", limit=1, now=T0 + timedelta(seconds=61))
    ledger.commit_delivery(inbox_id, [], now=T0)  # the worker that took it over finished it

    with pytest.raises(ClaimLost):
        ledger.commit_delivery(inbox_id, [Decided(decision(state()), "evt-1")], now=T0)
    assert ledger.load_state("ob-1") is None
