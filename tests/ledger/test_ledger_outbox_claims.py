"""Outbox results: only the row's current claim, with a live lease, records the tool's answer.

A worker whose lease ran out (it hung) may come back with an answer after another worker took
its row over. Its answer is refused ("stale", nothing changed): the new claimant pushes the
row with ``apply_again`` (it is handed out as ``reclaimed``), which looks the idempotency key
up in the tool, so a write the stale worker made is found there, not written again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from ledger_builders import T0, action, decision, state
from sqlalchemy import func, select

from kickoff.ledger import Ledger, write_fingerprint
from kickoff.ledger.schema import crosswalk, writes
from kickoff.model import Action, ActionKind, ActionResult, ResultStatus

LEASE = 60
TAKEN_OVER = T0 + timedelta(seconds=LEASE + 1)


def creation() -> Action:
    return action(1, tool="zendesk", kind=ActionKind.CREATE_RECORD,
                  payload={"object": "ticket", "fields": {"subject": "Welcome"}})


def enqueue(ledger: Ledger, a: Action) -> int:
    [oid] = ledger.commit_decision(decision(state(), actions=[a]), now=T0).outbox_ids
    return oid


def answer(a: Action, status: ResultStatus, **kw: Any) -> ActionResult:
    return ActionResult(idempotency_key=a.idempotency_key, status=status, **kw)


def counts(ledger: Ledger) -> tuple[int, int]:
    """Crosswalk links and journalled writes held: what a doubled record would double."""
    with ledger.transaction() as conn:
        return (conn.execute(select(func.count()).select_from(crosswalk)).scalar_one(),
                conn.execute(select(func.count()).select_from(writes)).scalar_one())


def test_a_worker_whose_lease_ran_out_and_whose_row_was_reclaimed_cannot_record_done(
    ledger: Ledger, caplog: pytest.LogCaptureFixture,
) -> None:
    a = creation()
    oid = enqueue(ledger, a)
    [stale] = ledger.claim_outbox("zendesk", "push", 1, now=T0, lease_seconds=LEASE)
    [current] = ledger.claim_outbox("zendesk", "push", 1, now=TAKEN_OVER, lease_seconds=LEASE)  # same name
    assert (current.id, current.reclaimed) == (oid, True)  # pushed with apply_again: looked up first
    before = ledger.outbox_row(oid)

    with caplog.at_level(logging.WARNING, logger="kickoff.ledger"):
        status = ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id="ZD-1"),
                                      now=TAKEN_OVER, claim=stale)

    assert status == "stale"
    assert ledger.outbox_row(oid) == before  # still the current claimant's, nothing recorded
    assert ledger.external_for(a.idempotency_key, "zendesk", "ticket") is None
    assert counts(ledger) == (0, 0)
    assert f"outbox row {oid}: done answer of push refused" in caplog.text


def test_the_current_claimant_records_done_and_the_stale_one_doubles_nothing(ledger: Ledger) -> None:
    a = creation()
    oid = enqueue(ledger, a)
    [stale] = ledger.claim_outbox("zendesk", "push-run-1", 1, now=T0, lease_seconds=LEASE)
    [current] = ledger.claim_outbox("zendesk", "push-run-2", 1, now=TAKEN_OVER, lease_seconds=LEASE)

    assert ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id="ZD-1"),
                                now=TAKEN_OVER, claim=current) == "done"
    # the stale worker comes back afterwards, with the same write or one of its own
    for late in ("ZD-1", "ZD-2"):
        assert ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id=late),
                                    now=TAKEN_OVER, claim=stale) == "stale"

    row = ledger.outbox_row(oid)
    assert (row["status"], row["external_id"], row["claimed_by"]) == ("done", "ZD-1", None)
    assert ledger.external_for(a.idempotency_key, "zendesk", "ticket") == "ZD-1"
    assert ledger.canonical_for("zendesk", "ZD-2") is None
    assert counts(ledger) == (1, 1)  # one link, one journalled write
    assert ledger.is_echo("zendesk", "ZD-1", write_fingerprint(a.kind, a.payload), now=TAKEN_OVER)


@pytest.mark.parametrize("status", [ResultStatus.RETRYABLE, ResultStatus.PERMANENT, ResultStatus.AUTH])
def test_a_stale_workers_failure_neither_burns_an_attempt_nor_kills_nor_pauses(
    ledger: Ledger, status: ResultStatus,
) -> None:
    a = creation()
    oid = enqueue(ledger, a)
    [stale] = ledger.claim_outbox("zendesk", "push-run-1", 1, now=T0, lease_seconds=LEASE)
    [current] = ledger.claim_outbox("zendesk", "push-run-2", 1, now=TAKEN_OVER, lease_seconds=LEASE)
    before = ledger.outbox_row(oid)

    assert ledger.record_result(oid, answer(a, status, reason="503"), now=TAKEN_OVER, claim=stale) == "stale"

    assert ledger.outbox_row(oid) == before
    assert ledger.paused_tools() == [] and ledger.dead_letters() == []
    assert ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id="ZD-1"),
                                now=TAKEN_OVER, claim=current) == "done"


def test_a_lease_that_ran_out_refuses_the_answer_even_before_anyone_took_the_row(ledger: Ledger) -> None:
    a = creation()
    oid = enqueue(ledger, a)
    [hung] = ledger.claim_outbox("zendesk", "push", 1, now=T0, lease_seconds=LEASE)
    ran_out = T0 + timedelta(seconds=LEASE)

    assert ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id="ZD-1"),
                                now=ran_out, claim=hung) == "stale"

    assert ledger.outbox_row(oid)["status"] == "claimed"
    [next_one] = ledger.claim_outbox("zendesk", "push", 1, now=ran_out, lease_seconds=LEASE)
    assert (next_one.id, next_one.reclaimed) == (oid, True)  # the write, if made, is looked up


def test_the_claimant_records_while_its_lease_is_live(ledger: Ledger) -> None:
    a = creation()
    oid = enqueue(ledger, a)
    [item] = ledger.claim_outbox("zendesk", "push", 1, now=T0, lease_seconds=LEASE)

    assert ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id="ZD-1"),
                                now=T0 + timedelta(seconds=LEASE - 1), claim=item) == "done"
    assert ledger.outbox_row(oid)["external_id"] == "ZD-1"


def test_recording_needs_the_caller_to_say_whose_claim_it_is(ledger: Ledger) -> None:
    a = creation()
    oid = enqueue(ledger, a)
    ledger.claim_outbox("zendesk", "push", 1, now=T0, lease_seconds=LEASE)

    with pytest.raises(TypeError, match="claim"):
        ledger.record_result(oid, answer(a, ResultStatus.DONE), now=T0)  # type: ignore[call-arg]
    # a caller holding no claim (a tool, a test) says so, and records whoever holds the row
    assert ledger.record_result(oid, answer(a, ResultStatus.DONE, external_id="ZD-1"),
                                now=TAKEN_OVER, claim=None) == "done"
