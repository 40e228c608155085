"""One customer's story read from the ledger (``kickoff.ledger.story``) on each backend: found
by name with case and accents ignored; the inbox rows about it (linked when processed, or
naming one of its records); and why an onboarding is stuck."""

from __future__ import annotations

from datetime import timedelta

from ledger_builders import T0, action, decision, delivery, state, timer

from kickoff.ledger import Decided, Firing, Ledger
from kickoff.model import ActionResult, ResultStatus


def _decide(ledger: Ledger, n: int, onboarding: str, name: str, **parts: object) -> int:
    """A delivery claimed and committed with one decision on ``onboarding``; its inbox id."""
    inbox_id, _ = ledger.store_delivery(delivery(n))
    ledger.claim_inbox("w", now=T0)
    ledger.commit_delivery(inbox_id, [Decided(decision(state(onboarding, account_name=name), **parts))], now=T0)
    return inbox_id


def test_story_finds_the_customer_by_name_and_lists_every_fact_about_it(ledger: Ledger) -> None:
    made = action(1, kind="create_task", payload={"subject": "call"})
    first = _decide(ledger, 1, "ob-1", "Gîte Élevé", actions=[made], set_timers=[timer()])
    _decide(ledger, 2, "ob-2", "Chalet des Pins")
    ignored, _ = ledger.store_delivery(delivery(3))
    ledger.claim_inbox("w", now=T0)
    ledger.commit_delivery(ignored, [], ignored_because="meeting.cancelled: stage signed", about="ob-1", now=T0)
    ledger.link(made.idempotency_key, "hubspot", "task-9", "task", now=T0)
    failed, _ = ledger.store_delivery(delivery(4, record_id="task-9"))  # names its task; never linked
    ledger.fail_inbox(failed, "mapping: status: unknown", now=T0)

    assert [f.id for f in ledger.find_onboardings("gite eleve")] == ["ob-1"]
    assert [f.id for f in ledger.find_onboardings("ob-2")] == ["ob-2"]
    assert [f.name for f in ledger.find_onboardings("GÎTE")] == ["Gîte Élevé"]
    assert [f.id for f in ledger.find_onboardings("e")] == ["ob-1", "ob-2"]  # ambiguous: both
    story = ledger.story("ob-1")
    assert story is not None and story.onboarding.account_name == "Gîte Élevé"
    assert [(r["id"], r["status"], r["error"]) for r in story.inbox] == [
        (first, "done", None), (ignored, "ignored", "meeting.cancelled: stage signed"),
        (failed, "failed", "mapping: status: unknown")]
    assert [a["idempotency_key"] for a in story.actions] == [made.idempotency_key]
    assert [t["key"] for t in story.pending_timers] == ["nudge"]
    assert [d["rule"] for d in story.decisions] == ["E1"]
    assert ledger.story("nobody") is None


def test_summaries_say_why_an_onboarding_is_stuck(ledger: Ledger) -> None:
    doomed = action(1, onboarding_id="ob-dead")
    _decide(ledger, 1, "ob-dead", "Dead", actions=[doomed])
    [item] = ledger.claim_outbox("hubspot", "w", now=T0)
    ledger.record_result(item.id, ActionResult(idempotency_key=doomed.idempotency_key,
                                               status=ResultStatus.PERMANENT, reason="400: bad"), now=T0,
                         claim=item)
    _decide(ledger, 2, "ob-late", "Late", set_timers=[timer(onboarding_id="ob-late", fire_at=T0)])
    _decide(ledger, 3, "ob-idle", "Idle")
    _decide(ledger, 4, "ob-fine", "Fine", set_timers=[timer(onboarding_id="ob-fine", fire_at=T0 + timedelta(days=30))])

    now = T0 + timedelta(days=8)
    stuck = {s.id: s.stuck for s in ledger.onboarding_summaries(now)}
    assert stuck == {"ob-dead": ["1 dead actions"], "ob-late": ["1 overdue timers"],
                     "ob-idle": ["no progress for 8 days, nothing pending"], "ob-fine": []}
    assert {s.id for s in ledger.onboarding_summaries(T0 + timedelta(minutes=5))
            if s.stuck} == {"ob-dead"}  # the timer is not overdue yet, nothing idle yet
    assert [s.id for s in ledger.onboarding_summaries(now, stage="other")] == []


def test_an_onboarding_with_a_failed_timer_is_stuck_until_it_is_retried(ledger: Ledger) -> None:
    _decide(ledger, 1, "ob-1", "Broken", set_timers=[timer(fire_at=T0)])
    (due,) = ledger.claim_due_timers(now=T0, limit=10, worker="tick")
    ledger.commit_firings([Firing(due, None, "timer:ob-1:nudge", failure="TypeError: no")], now=T0)

    assert [s.stuck for s in ledger.onboarding_summaries(T0)] == [["1 failed timers"]]
    assert ledger.story("ob-1").timers[0]["status"] == "failed"
    ledger.retry_failed_timers(now=T0)
    assert [s.stuck for s in ledger.onboarding_summaries(T0)] == [[]]
