"""Committing a decision: state, actions, timers, inbox row and audit together, or not at all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from ledger_builders import T0, action, decision, delivery, state, timer

from kickoff.ledger import ClaimLost, Ledger, StateConflict


def snapshot(
    ledger: Ledger, inbox_id: int, keys: list[str], timer_keys: list[str]
) -> dict[str, Any]:
    """Everything a decision could touch, to compare before and after a failed commit."""
    loaded = ledger.load_state("ob-1")
    return {
        "state": loaded.model_dump() if loaded else None,
        "outbox": [ledger.outbox_row_by_key(k) for k in keys],
        "timers": [ledger.timer_row("ob-1", k) for k in timer_keys],
        "inbox": ledger.inbox_row(inbox_id),
        "audit": ledger.audit_for("ob-1"),
        "status": ledger.status(T0),
    }


def test_decision_commits_state_actions_timers_inbox_and_audit(ledger: Ledger) -> None:
    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.claim_inbox("w", limit=1, now=T0)
    d = decision(
        state(stage="kickoff_booked", facts={"signed": True}),
        actions=[action(1), action(2, tool="asana")],
        set_timers=[timer("nudge")],
        audit=["E1: contract signed", "T1: nudge in 3 days if no meeting"],
    )

    result = ledger.commit_decision(d, inbox_id=inbox_id, event_id="evt-1", now=T0)

    assert result.version == 1 and len(result.outbox_ids) == 2 and result.skipped_keys == []
    loaded = ledger.load_state("ob-1")
    assert loaded is not None
    assert (loaded.stage, loaded.version, loaded.facts) == ("kickoff_booked", 1, {"signed": True})
    assert ledger.inbox_row(inbox_id)["status"] == "done"
    assert ledger.timer_row("ob-1", "nudge")["status"] == "pending"
    lines = ledger.audit_for("ob-1")
    assert [(a["rule"], a["event_id"]) for a in lines] == [("E1", "evt-1"), ("T1", "evt-1")]
    counts = ledger.status(T0)
    assert (counts.pending_inbox, counts.pending_outbox) == (0, 2)


def test_next_decision_must_be_based_on_the_latest_version(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state()), now=T0)
    v1 = ledger.load_state("ob-1")
    assert v1 is not None and v1.version == 1

    ledger.commit_decision(decision(v1.model_copy(update={"stage": "live"})), now=T0)
    stale = v1.model_copy(update={"stage": "churned"})

    with pytest.raises(StateConflict, match="decided on version 1, ledger has version 2"):
        ledger.commit_decision(decision(stale), now=T0)
    assert ledger.load_state("ob-1").stage == "live"


def test_conflicting_decision_leaves_nothing_behind(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state(), set_timers=[timer("old")]), now=T0)
    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.claim_inbox("w", limit=1, now=T0)
    keys = [action(7).idempotency_key, action(8).idempotency_key]
    before = snapshot(ledger, inbox_id, keys, ["old", "new"])

    stale = decision(
        state(stage="live", version=0),  # decided as if the onboarding were new: it is not
        actions=[action(7), action(8)],
        set_timers=[timer("new")],
        cancel_timers=["old"],
        audit=["E2: go live"],
    )
    with pytest.raises(StateConflict):
        ledger.commit_decision(stale, inbox_id=inbox_id, now=T0 + timedelta(hours=1))

    assert snapshot(ledger, inbox_id, keys, ["old", "new"]) == before
    assert ledger.inbox_row(inbox_id)["status"] == "claimed"


def test_decision_that_fails_half_way_leaves_nothing_behind(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kickoff.ledger import audit

    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.claim_inbox("w", limit=1, now=T0)
    keys = [action(1).idempotency_key]
    before = snapshot(ledger, inbox_id, keys, ["nudge"])

    def audit_breaks(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full")  # the last step, after everything else was written

    monkeypatch.setattr(audit, "write", audit_breaks)
    d = decision(state(), actions=[action(1)], set_timers=[timer("nudge")])
    with pytest.raises(RuntimeError, match="disk full"):
        ledger.commit_decision(d, inbox_id=inbox_id, event_id="evt-1", now=T0)

    monkeypatch.undo()
    assert snapshot(ledger, inbox_id, keys, ["nudge"]) == before
    assert before["state"] is None and before["outbox"] == [None] and before["timers"] == [None]


def test_committing_an_inbox_row_another_worker_finished_is_refused_and_writes_nothing(
    ledger: Ledger,
) -> None:
    inbox_id, _ = ledger.store_delivery(delivery(1))
    ledger.claim_inbox("slow", limit=1, now=T0, lease_seconds=10)
    [retaken] = ledger.claim_inbox("fast", limit=1, now=T0 + timedelta(seconds=11))
    ledger.commit_decision(decision(state(), actions=[action(1)]), inbox_id=retaken.id, now=T0)

    with pytest.raises((ClaimLost, StateConflict)):
        ledger.commit_decision(decision(state(), actions=[action(2)]), inbox_id=inbox_id, now=T0)
    with pytest.raises(ClaimLost):
        v1 = ledger.load_state("ob-1")
        ledger.commit_decision(decision(v1, actions=[action(2)]), inbox_id=inbox_id, now=T0)

    assert ledger.outbox_row_by_key(action(2).idempotency_key) is None
    assert ledger.load_state("ob-1").version == 1


def test_duplicate_idempotency_key_is_skipped_not_an_error(ledger: Ledger) -> None:
    first = ledger.commit_decision(decision(state(), actions=[action(1)]), now=T0)
    v1 = ledger.load_state("ob-1")

    replayed = ledger.commit_decision(decision(v1, actions=[action(1), action(2)]), now=T0)

    assert len(first.outbox_ids) == 1
    assert replayed.skipped_keys == [action(1).idempotency_key]
    assert len(replayed.outbox_ids) == 1
    assert ledger.status(T0).pending_outbox == 2


def test_setting_a_timer_again_replaces_it_and_cancel_stops_it(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state(), set_timers=[timer("nudge"), timer("call")]), now=T0)
    first_id = ledger.timer_row("ob-1", "nudge")["id"]
    later = T0 + timedelta(days=10)

    v1 = ledger.load_state("ob-1")
    ledger.commit_decision(
        decision(v1, set_timers=[timer("nudge", fire_at=later, attempt=2)], cancel_timers=["call"]),
        now=T0 + timedelta(hours=1),
    )

    nudge = ledger.timer_row("ob-1", "nudge")
    assert (nudge["id"], nudge["fire_at"], nudge["data"], nudge["status"]) == (
        first_id,
        later,
        {"attempt": 2},
        "pending",
    )
    assert ledger.timer_row("ob-1", "call")["status"] == "cancelled"
    assert ledger.claim_due_timers(now=T0 + timedelta(days=5), limit=10) == []
    [due] = ledger.claim_due_timers(now=later, limit=10, worker="tick")
    assert (due.key, due.timer.data) == ("nudge", {"attempt": 2})


def test_fired_timer_is_marked_in_the_same_commit_and_can_be_set_again(ledger: Ledger) -> None:
    fire_at = T0 + timedelta(days=3)
    ledger.commit_decision(decision(state(), set_timers=[timer("nudge", fire_at=fire_at)]), now=T0)
    assert ledger.status(fire_at).due_timers == 1

    [due] = ledger.claim_due_timers(now=fire_at, limit=10, worker="tick")
    assert ledger.claim_due_timers(now=fire_at, limit=10, worker="tick-2") == []
    v1 = ledger.load_state("ob-1")
    ledger.commit_decision(decision(v1, audit=["T1: nudged"]), timer=due, now=fire_at)

    assert ledger.timer_row("ob-1", "nudge")["status"] == "fired"
    assert ledger.audit_for("ob-1")[-1]["timer_key"] == "nudge"
    assert ledger.status(fire_at).due_timers == 0

    with pytest.raises(ClaimLost):
        ledger.commit_decision(decision(ledger.load_state("ob-1")), timer=due, now=fire_at)

    again = T0 + timedelta(days=6)
    v2 = ledger.load_state("ob-1")
    ledger.commit_decision(decision(v2, set_timers=[timer("nudge", fire_at=again)]), now=fire_at)
    assert ledger.timer_row("ob-1", "nudge")["status"] == "pending"


def test_cancelled_timer_cannot_fire_even_if_already_claimed(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state(), set_timers=[timer("nudge", fire_at=T0)]), now=T0)
    [due] = ledger.claim_due_timers(now=T0, limit=1)
    ledger.commit_decision(decision(ledger.load_state("ob-1"), cancel_timers=["nudge"]), now=T0)

    with pytest.raises(ClaimLost):
        ledger.commit_decision(
            decision(ledger.load_state("ob-1"), actions=[action(9)]), timer=due, now=T0
        )
    assert ledger.outbox_row_by_key(action(9).idempotency_key) is None


def test_expired_timer_claim_is_reclaimed(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state(), set_timers=[timer("nudge", fire_at=T0)]), now=T0)
    [first] = ledger.claim_due_timers(now=T0, limit=1, worker="crashed", lease_seconds=30)

    [again] = ledger.claim_due_timers(now=T0 + timedelta(seconds=31), limit=1, worker="tick")

    assert again.id == first.id
