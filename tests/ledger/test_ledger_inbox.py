"""Inbox: stored once, claimed by one worker at a time, reclaimed after a crash, bad input kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ledger_backends import LedgerBackend
from ledger_builders import T0, delivery

from kickoff.ledger import ClaimLost, Ledger


def test_duplicate_delivery_is_stored_once(ledger: Ledger) -> None:
    first = ledger.store_delivery(delivery(1))
    again = ledger.store_delivery(delivery(1, payload={"retried": True}))
    other_tool = ledger.store_delivery(delivery(1, tool="zendesk"))

    assert first[1] is True
    assert again == (first[0], False)
    assert other_tool[1] is True and other_tool[0] != first[0]
    assert ledger.status(T0).pending_inbox == 2
    assert ledger.inbox_row(first[0])["payload"] == {"objectId": 1, "propertyName": "dealstage"}


def test_delivery_round_trips_payload_times_and_echo_flag(ledger: Ledger) -> None:
    sent = delivery("x", kind="poll", echo=True, payload=[{"a": 1}, "two", None])
    ledger.store_delivery(sent)

    [item] = ledger.claim_inbox("w1", limit=10, now=T0)

    assert item.delivery == sent
    assert item.delivery.received_at.utcoffset() == timedelta(0)
    assert item.attempts == 1


def test_claimed_rows_are_not_claimed_again_until_the_lease_expires(ledger: Ledger) -> None:
    for n in range(3):
        ledger.store_delivery(delivery(n))

    first = ledger.claim_inbox("w1", limit=2, now=T0, lease_seconds=60)
    second = ledger.claim_inbox("w2", limit=10, now=T0 + timedelta(seconds=1), lease_seconds=60)
    nothing = ledger.claim_inbox("w3", limit=10, now=T0 + timedelta(seconds=59), lease_seconds=60)

    assert [i.delivery.dedup_key for i in first] == ["evt-0", "evt-1"]
    assert [i.delivery.dedup_key for i in second] == ["evt-2"]
    assert nothing == []


def test_expired_inbox_lease_is_reclaimed_by_another_worker(ledger: Ledger) -> None:
    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.claim_inbox("crashed", limit=1, now=T0, lease_seconds=60)

    reclaimed = ledger.claim_inbox("w2", limit=1, now=T0 + timedelta(seconds=61), lease_seconds=60)

    assert [i.id for i in reclaimed] == [inbox_id]
    assert reclaimed[0].attempts == 2
    assert ledger.inbox_row(inbox_id)["claimed_by"] == "w2"


def test_inbox_row_that_keeps_crashing_its_worker_is_failed_not_retried_forever(
    ledger_backend: LedgerBackend,
) -> None:
    ledger = ledger_backend.open(max_attempts=2)
    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.claim_inbox("a", limit=1, now=T0, lease_seconds=10)
    ledger.claim_inbox("b", limit=1, now=T0 + timedelta(seconds=11), lease_seconds=10)

    assert ledger.claim_inbox("c", limit=1, now=T0 + timedelta(seconds=30)) == []
    row = ledger.inbox_row(inbox_id)
    assert row["status"] == "failed" and "lease expired 2 times" in row["error"]
    ledger.close()


def test_bad_input_is_marked_failed_with_reason_and_the_rest_goes_on(ledger: Ledger) -> None:
    bad, _ = ledger.store_delivery(delivery("bad"))
    echo, _ = ledger.store_delivery(delivery("echo"))
    good, _ = ledger.store_delivery(delivery("good"))
    ledger.claim_inbox("w", limit=10, now=T0)

    ledger.fail_inbox(bad, "no mapping for objectType 'widget'", now=T0)
    ledger.ignore_inbox(echo, "echo of our own write", now=T0)

    assert ledger.inbox_row(bad)["status"] == "failed"
    assert ledger.inbox_row(bad)["error"] == "no mapping for objectType 'widget'"
    assert ledger.inbox_row(bad)["payload"] is not None
    assert ledger.inbox_row(echo)["status"] == "ignored"
    assert ledger.inbox_row(good)["status"] == "claimed"
    counts = ledger.status(T0)
    assert (counts.pending_inbox, counts.failed_inbox) == (1, 1)


def test_finishing_an_inbox_row_twice_is_refused(ledger: Ledger) -> None:
    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.ignore_inbox(inbox_id, "irrelevant", now=T0)

    with pytest.raises(ClaimLost):
        ledger.fail_inbox(inbox_id, "late", now=T0)


def test_cursor_advances_with_its_poll_page_in_one_transaction(ledger: Ledger) -> None:
    page = [delivery(n, kind="poll") for n in range(3)]

    stored = ledger.store_deliveries(
        page, cursor=("hubspot", "deals", "2025-03-03T09:00:00Z"), now=T0
    )

    assert [created for _, created in stored] == [True, True, True]
    assert ledger.get_cursor("hubspot", "deals") == "2025-03-03T09:00:00Z"

    overlapping = [delivery(2, kind="poll"), delivery(3, kind="poll")]
    again = ledger.store_deliveries(
        overlapping, cursor=("hubspot", "deals", "2025-03-03T10:00:00Z"), now=T0
    )
    assert [created for _, created in again] == [False, True]
    assert ledger.get_cursor("hubspot", "deals") == "2025-03-03T10:00:00Z"
    assert ledger.status(T0).pending_inbox == 4


def test_a_poll_page_that_fails_half_way_stores_nothing_and_keeps_the_cursor(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kickoff.ledger import inbox

    ledger.advance_cursor("hubspot", "deals", "old", now=T0)
    real_store = inbox.store
    calls = {"n": 0}

    def store_then_fail(conn, d):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("connection dropped")
        return real_store(conn, d)

    monkeypatch.setattr(inbox, "store", store_then_fail)
    with pytest.raises(RuntimeError):
        ledger.store_deliveries(
            [delivery(n) for n in range(5)], cursor=("hubspot", "deals", "new"), now=T0
        )

    assert calls["n"] == 3
    assert ledger.get_cursor("hubspot", "deals") == "old"
    assert ledger.status(T0).pending_inbox == 0


def test_cursor_is_per_tool_and_stream(ledger: Ledger) -> None:
    assert ledger.get_cursor("hubspot", "deals") is None
    ledger.advance_cursor("hubspot", "deals", "1", now=T0)
    ledger.advance_cursor("hubspot", "tickets", "7", now=T0)
    ledger.advance_cursor("hubspot", "deals", "2", now=T0)

    assert ledger.get_cursor("hubspot", "deals") == "2"
    assert ledger.get_cursor("hubspot", "tickets") == "7"
    assert ledger.get_cursor("zendesk", "deals") is None
