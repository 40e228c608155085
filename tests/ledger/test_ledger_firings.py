"""A tick's claim of due timers committed together (``Ledger.commit_firings``): all in one
transaction, a failing firing left out while the rest commit, each timer fired once and
only by the claim that holds it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from ledger_builders import T0, action, decision, state, timer

from kickoff.ledger import ClaimLost, Firing, Ledger, StateConflict, state_after
from kickoff.ledger.records import DueTimer
from kickoff.model import Action

FIRE = T0 + timedelta(days=3)


def started(ledger: Ledger, *ids: str, keys: tuple[str, ...] = ("nudge",)) -> None:
    for oid in ids:
        ledger.commit_decision(
            decision(state(oid), set_timers=[timer(k, oid, fire_at=FIRE) for k in keys]), now=T0)


def fired(ledger: Ledger, due: DueTimer, n: int) -> Firing:
    """The firing of ``due`` deciding one action ``n`` (on the state the ledger holds)."""
    current = ledger.load_state(due.onboarding_id)
    d = decision(current, actions=[action(n, onboarding_id=due.onboarding_id)], audit=[f"T1: fired {n}"])
    return Firing(due, d, f"timer:{due.onboarding_id}:{due.key}")


def test_a_claim_of_firings_commits_states_actions_timers_and_audit_together(ledger: Ledger) -> None:
    started(ledger, "ob-1", "ob-2", "ob-3")
    due = ledger.claim_due_timers(now=FIRE, limit=10, worker="tick")
    firings = [fired(ledger, d, i) for i, d in enumerate(due)]
    firings[2] = Firing(due[2], None, "timer:ob-3:nudge")  # decided nothing: only marked fired

    assert ledger.commit_firings(firings, now=FIRE) == firings

    for i, oid in enumerate(("ob-1", "ob-2", "ob-3")):
        assert ledger.timer_row(oid, "nudge")["status"] == "fired"
        assert ledger.load_state(oid).version == (2 if i < 2 else 1)
    for i in (0, 1):
        row = ledger.outbox_row_by_key(action(i, onboarding_id=f"ob-{i + 1}").idempotency_key)
        assert row["status"] == "pending"
        assert ledger.audit_for(f"ob-{i + 1}")[-1]["timer_key"] == "nudge"
    assert ledger.status(FIRE).due_timers == 0


def test_a_stale_firing_is_left_out_and_the_rest_of_the_claim_commits(ledger: Ledger) -> None:
    started(ledger, "ob-1", "ob-2", "ob-3")
    due = ledger.claim_due_timers(now=FIRE, limit=10, worker="tick")
    firings = [fired(ledger, d, i) for i, d in enumerate(due)]
    ledger.commit_decision(decision(ledger.load_state("ob-2"), audit=["M6: elsewhere"]), now=FIRE)

    outcomes = ledger.commit_firings(firings, now=FIRE)

    assert outcomes[0] == firings[0] and outcomes[2] == firings[2]
    assert isinstance(outcomes[1], StateConflict)
    assert ledger.timer_row("ob-2", "nudge")["status"] == "claimed"  # fires again once its lease runs out
    assert ledger.outbox_row_by_key(action(1, onboarding_id="ob-2").idempotency_key) is None
    assert [ledger.timer_row(o, "nudge")["status"] for o in ("ob-1", "ob-3")] == ["fired", "fired"]


def test_two_timers_of_one_onboarding_in_one_claim_are_committed_in_turn(ledger: Ledger) -> None:
    started(ledger, "ob-1", keys=("call", "nudge"))
    first, second = ledger.claim_due_timers(now=FIRE, limit=10, worker="tick")
    one = fired(ledger, first, 1)
    assert one.decision is not None
    after = state_after(one.decision)
    two = Firing(second, decision(after, actions=[action(2)], set_timers=[timer("call", fire_at=FIRE + timedelta(days=1))]),
                 "timer:ob-1:nudge")

    assert ledger.commit_firings([one, two], now=FIRE) == [one, two]

    assert ledger.load_state("ob-1").version == 3
    assert ledger.timer_row("ob-1", "nudge")["status"] == "fired"
    assert ledger.timer_row("ob-1", "call")["status"] == "pending"  # fired, then set again by the second
    assert all(ledger.outbox_row_by_key(action(n).idempotency_key) for n in (1, 2))


def test_a_worker_whose_lease_ran_out_and_was_reclaimed_cannot_fire_the_timer(ledger: Ledger) -> None:
    started(ledger, "ob-1")
    [late] = ledger.claim_due_timers(now=FIRE, limit=1, worker="tick", lease_seconds=30)
    later = FIRE + timedelta(seconds=31)
    [current] = ledger.claim_due_timers(now=later, limit=1, worker="tick")  # same name, new claim
    assert current.id == late.id

    [lost] = ledger.commit_firings([fired(ledger, late, 1)], now=later)
    assert isinstance(lost, ClaimLost)
    with pytest.raises(ClaimLost):
        ledger.commit_decision(decision(ledger.load_state("ob-1")), timer=late, now=later)
    assert ledger.timer_row("ob-1", "nudge")["status"] == "claimed"
    assert ledger.outbox_row_by_key(action(1).idempotency_key) is None

    second = fired(ledger, current, 2)
    assert ledger.commit_firings([second], now=later) == [second]
    assert ledger.timer_row("ob-1", "nudge")["status"] == "fired"
    assert ledger.load_state("ob-1").version == 2  # fired once


def test_a_claim_committed_together_writes_the_same_rows_as_each_firing_committed_alone(ledger: Ledger) -> None:
    def rows(oid: str) -> dict[str, object]:
        """What the ledger holds for ``oid``, ids and the onboarding's name taken out."""
        def plain(row: dict | None) -> dict | None:
            drop = {"id", "onboarding_id", "idempotency_key"}
            return None if row is None else {k: v for k, v in row.items() if k not in drop}
        loaded = ledger.load_state(oid)
        return {
            "state": loaded.model_dump(exclude={"id"}) if loaded else None,
            "timers": [plain(ledger.timer_row(oid, k)) for k in ("nudge", "call", "later")],
            "outbox": [plain(r) for r in ledger.outbox_rows([oid])],
            "audit": [plain(r) for r in ledger.audit_for(oid)],
        }

    def firing_decision(due: DueTimer) -> Firing:
        oid = due.onboarding_id
        current = ledger.load_state(oid)
        assert current is not None
        after = current.model_copy(update={"stage": "kickoff_booked", "facts": {"at": FIRE.isoformat(), "n": [1, None]}})
        d = decision(after,
                     actions=[action(1, onboarding_id=oid), action(2, tool="asana", onboarding_id=oid,
                                                                   payload={"stage": "x", "due": "2025-03-04"})],
                     set_timers=[timer("later", oid, fire_at=FIRE + timedelta(days=2), attempt=2)],
                     cancel_timers=["call"], audit=["T1: fired", "A2: task é due", "no rule here",
                                                         "A3: a\ttab, a \\ and\na second line"])
        return Firing(due, d, f"timer:{due.key}")

    started(ledger, "ob-a", "ob-b", keys=("nudge", "call"))
    ledger.commit_decision(decision(ledger.load_state("ob-a"), set_timers=[timer("call", "ob-a", fire_at=FIRE + timedelta(days=9))]), now=T0)
    ledger.commit_decision(decision(ledger.load_state("ob-b"), set_timers=[timer("call", "ob-b", fire_at=FIRE + timedelta(days=9))]), now=T0)
    due = {d.onboarding_id: d for d in ledger.claim_due_timers(now=FIRE, limit=10, worker="tick")}

    alone = firing_decision(due["ob-a"])
    assert alone.decision is not None
    ledger.commit_decision(alone.decision, timer=alone.timer, event_id=alone.event_id, now=FIRE)
    together = firing_decision(due["ob-b"])
    assert ledger.commit_firings([together], now=FIRE) == [together]

    assert rows("ob-a") == rows("ob-b")
    assert len(rows("ob-b")["outbox"]) == 2 and len(rows("ob-b")["audit"]) == 2 + 4


def test_a_firing_whose_decision_the_database_refuses_is_kept_failed_and_the_rest_commit(ledger: Ledger) -> None:
    started(ledger, "ob-1", "ob-2", "ob-3")
    due = ledger.claim_due_timers(now=FIRE, limit=10, worker="tick")
    firings = [fired(ledger, d, i) for i, d in enumerate(due)]
    refused = firings[1].decision
    assert refused is not None  # an action with no rule: the outbox's NOT NULL refuses it on every backend
    no_rule = Action.model_construct(**{**refused.actions[0].__dict__, "rule": None})
    firings[1] = replace(firings[1], decision=refused.model_copy(update={"actions": [no_rule]}))

    outcomes = ledger.commit_firings(firings, now=FIRE)

    assert outcomes[0] == firings[0] and outcomes[2] == firings[2]
    kept = outcomes[1]
    assert isinstance(kept, Firing) and kept.decision is None and kept.failure is not None
    assert kept.failure.startswith(("IntegrityError: ", "NotNullViolation: "))
    assert [ledger.timer_row(o, "nudge")["status"] for o in ("ob-1", "ob-2", "ob-3")] == ["fired", "failed", "fired"]
    assert ledger.load_state("ob-2").version == 1 and ledger.outbox_rows(["ob-2"]) == []
    assert "failed: " in ledger.audit_for("ob-2")[-1]["line"]
    assert "INSERT" not in kept.failure  # the database's reason, not its statement


def test_a_lone_firing_the_database_refuses_is_kept_failed(ledger: Ledger) -> None:
    started(ledger, "ob-1")
    [due] = ledger.claim_due_timers(now=FIRE, limit=10, worker="tick")
    refused = fired(ledger, due, 0)
    assert refused.decision is not None
    no_rule = Action.model_construct(**{**refused.decision.actions[0].__dict__, "rule": None})
    refused = replace(refused, decision=refused.decision.model_copy(update={"actions": [no_rule]}))

    [kept] = ledger.commit_firings([refused], now=FIRE)

    assert isinstance(kept, Firing) and kept.decision is None and kept.failure is not None
    assert ledger.timer_row("ob-1", "nudge")["status"] == "failed"
    assert ledger.timer_row("ob-1", "nudge")["error"] == kept.failure
