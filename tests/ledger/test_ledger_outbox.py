"""Outbox: due rows per tool, one retry policy, dead letters, auth pauses, crosswalk and echo."""

from __future__ import annotations

from datetime import timedelta

import pytest
from ledger_backends import LedgerBackend
from ledger_builders import T0, action, decision, state

from kickoff.ledger import Ledger, write_fingerprint
from kickoff.model import Action, ActionKind, ActionResult, ResultStatus


def enqueue(ledger: Ledger, *actions: Action) -> list[int]:
    current = ledger.load_state("ob-1") or state()
    return ledger.commit_decision(decision(current, actions=list(actions)), now=T0).outbox_ids


def result(a: Action, status: ResultStatus, **kw: object) -> ActionResult:
    return ActionResult(idempotency_key=a.idempotency_key, status=status, **kw)


def test_only_due_rows_of_the_asked_tool_are_claimed(ledger: Ledger) -> None:
    now_a, later, other = (
        action(1),
        action(2, due_at=T0 + timedelta(hours=1)),
        action(3, tool="asana"),
    )
    enqueue(ledger, now_a, later, other)

    claimed = ledger.claim_outbox("hubspot", "w", limit=10, now=T0, lease_seconds=7200)

    assert [i.action for i in claimed] == [now_a]
    assert ledger.claim_outbox("hubspot", "w", limit=10, now=T0) == []
    assert [
        i.action for i in ledger.claim_outbox("hubspot", "w", 10, now=T0 + timedelta(hours=1))
    ] == [later]


def test_retryable_failures_back_off_then_dead_letter_after_max_attempts(
    ledger_backend: LedgerBackend,
) -> None:
    ledger = ledger_backend.open(max_attempts=4)
    a = action(1)
    [oid] = enqueue(ledger, a)
    now = T0
    waits = []
    for attempt in range(1, 5):
        [item] = ledger.claim_outbox("hubspot", "w", limit=1, now=now)
        assert item.attempts == attempt - 1
        status = ledger.record_result(oid, result(a, ResultStatus.RETRYABLE, reason="503"), now=now, claim=item)
        row = ledger.outbox_row(oid)
        if attempt < 4:
            assert status == "pending"
            waits.append(row["next_try_at"] - now)
            assert (
                ledger.claim_outbox(
                    "hubspot", "w", 1, now=row["next_try_at"] - timedelta(seconds=1)
                )
                == []
            )
            now = row["next_try_at"]

    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert status == "dead"
    assert (row["status"], row["attempts"], row["last_error"]) == ("dead", 4, "503")
    [dead] = ledger.dead_letters()
    assert (dead.id, dead.attempts, dead.last_error) == (oid, 4, "503")
    assert ledger.status(now).dead_outbox == 1
    assert ledger.claim_outbox("hubspot", "w", 1, now=now + timedelta(days=1)) == []
    ledger.close()


def test_max_attempts_defaults_to_the_setting(ledger_backend: LedgerBackend) -> None:
    from kickoff.settings import KickoffSettings

    ledger = Ledger.open(
        ledger_backend.url, schema=ledger_backend.schema, settings=KickoffSettings(max_attempts=2)
    )
    assert ledger.max_attempts == 2
    ledger.close()


def test_retry_after_is_honoured_when_longer_than_the_backoff(ledger: Ledger) -> None:
    a = action(1)
    [oid] = enqueue(ledger, a)
    [item] = ledger.claim_outbox("hubspot", "w", 1, now=T0)

    ledger.record_result(
        oid, result(a, ResultStatus.RETRYABLE, reason="429", retry_after=600), now=T0, claim=item
    )

    assert ledger.outbox_row(oid)["next_try_at"] == T0 + timedelta(seconds=600)


def test_the_earliest_retry_of_rows_left_pending_is_read_at_once(ledger: Ledger) -> None:
    """What a push run schedules its retry for: the first moment one of its pending rows may go
    again; rows done (or not waiting) do not count."""
    soon, later, done = action(1), action(2), action(3)
    ids = enqueue(ledger, soon, later, done)
    items = {i.id: i for i in ledger.claim_outbox("hubspot", "w", 3, now=T0)}
    for oid, a, wait in zip(ids[:2], (soon, later), (60, 600), strict=True):
        ledger.record_result(oid, result(a, ResultStatus.RETRYABLE, reason="429", retry_after=wait), now=T0,
                             claim=items[oid])
    ledger.record_result(ids[2], result(done, ResultStatus.DONE, external_id="t-3"), now=T0, claim=items[ids[2]])

    assert ledger.earliest_retry(ids) == ledger.outbox_row(ids[0])["next_try_at"] >= T0 + timedelta(seconds=60)
    assert ledger.earliest_retry(ids[1:]) == ledger.outbox_row(ids[1])["next_try_at"]
    assert ledger.earliest_retry([ids[2]]) is None and ledger.earliest_retry([]) is None


def test_permanent_failure_is_dead_at_once_with_its_reason(ledger: Ledger) -> None:
    a = action(1)
    [oid] = enqueue(ledger, a)
    [item] = ledger.claim_outbox("hubspot", "w", 1, now=T0)

    status = ledger.record_result(
        oid, result(a, ResultStatus.PERMANENT, reason="422 unknown stage"), now=T0, claim=item
    )

    assert status == "dead"
    assert [(d.id, d.last_error) for d in ledger.dead_letters()] == [(oid, "422 unknown stage")]


def test_auth_failure_pauses_the_tool_without_burning_an_attempt(ledger: Ledger) -> None:
    a, b, other = action(1), action(2), action(3, tool="asana")
    oid, _, _ = enqueue(ledger, a, b, other)
    [item] = ledger.claim_outbox("hubspot", "w", 1, now=T0)

    status = ledger.record_result(
        oid, result(a, ResultStatus.AUTH, reason="401 token expired"), now=T0, claim=item
    )

    row = ledger.outbox_row(oid)
    assert (status, row["status"], row["attempts"]) == ("pending", "pending", 0)
    assert [(p.tool, p.reason) for p in ledger.paused_tools()] == [("hubspot", "401 token expired")]
    assert ledger.status(T0).paused_tools == ["hubspot"]
    assert ledger.claim_outbox("hubspot", "w", 10, now=T0 + timedelta(hours=1)) == []
    assert len(ledger.claim_outbox("asana", "w", 10, now=T0)) == 1

    assert ledger.resume_tool("hubspot") is True
    assert ledger.resume_tool("hubspot") is False
    resumed = ledger.claim_outbox("hubspot", "w", 10, now=T0 + timedelta(hours=1))
    assert sorted(i.action.idempotency_key for i in resumed) == sorted(
        [a.idempotency_key, b.idempotency_key]
    )
    assert all(i.attempts == 0 for i in resumed)


def test_expired_outbox_lease_is_reclaimed(ledger: Ledger) -> None:
    [oid] = enqueue(ledger, action(1))
    ledger.claim_outbox("hubspot", "crashed", 1, now=T0, lease_seconds=60)
    assert ledger.claim_outbox("hubspot", "w2", 1, now=T0 + timedelta(seconds=59)) == []

    [item] = ledger.claim_outbox("hubspot", "w2", 1, now=T0 + timedelta(seconds=60))

    assert item.id == oid
    assert ledger.outbox_row(oid)["claimed_by"] == "w2"


def test_done_creation_is_linked_in_the_crosswalk_and_journalled_as_our_write(
    ledger: Ledger,
) -> None:
    create = action(
        1,
        tool="zendesk",
        kind=ActionKind.CREATE_RECORD,
        payload={"object": "ticket", "fields": {"subject": "Hi"}},
    )
    [oid] = enqueue(ledger, create)
    [item] = ledger.claim_outbox("zendesk", "w", 1, now=T0)

    status = ledger.record_result(
        oid, result(create, ResultStatus.DONE, external_id="ZD-42"), now=T0, claim=item
    )

    row = ledger.outbox_row(oid)
    assert (status, row["external_id"], row["result"]["external_id"]) == ("done", "ZD-42", "ZD-42")
    assert ledger.external_for(create.idempotency_key, "zendesk", "ticket") == "ZD-42"
    assert ledger.canonical_for("zendesk", "ZD-42") == create.idempotency_key
    fp = write_fingerprint(create.kind, create.payload)
    assert ledger.is_echo("zendesk", "ZD-42", fp, now=T0 + timedelta(minutes=1))
    assert not ledger.is_echo(
        "zendesk", "ZD-42", fp, now=T0 + timedelta(hours=2), window=timedelta(hours=1)
    )
    assert not ledger.is_echo(
        "zendesk", "ZD-42", write_fingerprint(create.kind, {"object": "ticket"}), now=T0
    )
    # a repeated report of the same success changes nothing
    assert (
        ledger.record_result(oid, result(create, ResultStatus.DONE, external_id="ZD-42"), now=T0, claim=None)
        == "done"
    )


def test_update_is_journalled_against_the_onboardings_record_in_that_tool(ledger: Ledger) -> None:
    ledger.link("ob-1", "hubspot", "deal-77", "deal", now=T0)
    stage = action(1, payload={"stage": "onboarding"})
    [oid] = enqueue(ledger, stage)
    [item] = ledger.claim_outbox("hubspot", "w", 1, now=T0)

    ledger.record_result(oid, result(stage, ResultStatus.DONE), now=T0, claim=item)

    assert ledger.is_echo(
        "hubspot", "deal-77", write_fingerprint("set_stage", {"stage": "onboarding"}), now=T0
    )
    assert not ledger.is_echo(
        "hubspot", "deal-77", write_fingerprint("set_stage", {"stage": "live"}), now=T0
    )


def test_result_for_another_action_is_refused(ledger: Ledger) -> None:
    [oid] = enqueue(ledger, action(1))
    with pytest.raises(ValueError, match="recorded on outbox row"):
        ledger.record_result(oid, result(action(2), ResultStatus.DONE), now=T0, claim=None)


def test_dead_letters_can_be_replayed(ledger: Ledger) -> None:
    a, b = action(1), action(2)
    oid_a, oid_b = enqueue(ledger, a, b)
    first, _ = ledger.claim_outbox("hubspot", "w", 2, now=T0, lease_seconds=86400)
    ledger.record_result(oid_a, result(a, ResultStatus.PERMANENT, reason="bad stage"), now=T0, claim=first)

    replayed = ledger.replay_dead([oid_a, oid_b], now=T0 + timedelta(hours=1))

    assert replayed == [oid_a]
    row = ledger.outbox_row(oid_a)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, "bad stage")
    assert ledger.dead_letters() == []
    [item] = ledger.claim_outbox("hubspot", "w", 5, now=T0 + timedelta(hours=1))
    assert item.id == oid_a
