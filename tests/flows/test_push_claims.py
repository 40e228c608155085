"""A push that outlives its lease: the run that took its rows over decides, nothing doubled.

The first push writes the sign-up's HubSpot ticket, then hangs past its lease; meanwhile a
second push takes the row over, finds the ticket in HubSpot by its key (``apply_again``) and
records it. When the first push comes back, its answer is refused as stale.
"""

from __future__ import annotations

from datetime import timedelta

from flows.runtime import Runtime
from flows.steps import process, push
from gateway.canonical import event_delivery
from kickoff.event_input import read_event
from kickoff.ledger.ledger import DEFAULT_LEASE_SECONDS

SIGNUP = {"type": "account.created", "occurred_at": "2026-03-02T14:00:00+01:00", "subject": "network:late-push",
          "tenant": "network", "data": {"account_name": "Late Push", "origin": "diy", "network": "edge-network",
                                        "email": "pro@late-push.example.com"}}


def test_a_push_whose_lease_ran_out_and_was_taken_over_cannot_record_and_nothing_is_written_twice(
        rt: Runtime, sandbox) -> None:
    event = read_event(SIGNUP)
    rt.ledger.store_delivery(event_delivery(event, event.occurred_at))
    at = event.occurred_at
    process.process_inbox(rt, at)
    connector = rt.connector("hubspot")
    written = connector.apply
    took_over: list[push.PushReport] = []

    def hangs_past_its_lease(actions, now):  # type: ignore[no-untyped-def]
        results = written(actions, now)  # in HubSpot, not yet in the ledger
        connector.apply = written  # type: ignore[method-assign]
        took_over.append(push.push(rt, "hubspot", now + timedelta(seconds=DEFAULT_LEASE_SECONDS), worker="push-2"))
        return results

    connector.apply = hangs_past_its_lease  # type: ignore[method-assign]
    first = push.push(rt, "hubspot", at, worker="push-1")

    [late] = [r for r in first.rows if r.action.kind.value == "create_record"]
    [current] = [r for r in took_over[0].rows if r.outbox_id == late.outbox_id]
    assert (late.result.status.value, late.new_status) == ("done", "stale")
    assert current.new_status == "done" and current.result.external_id == late.result.external_id
    row = rt.ledger.outbox_row(late.outbox_id)
    assert (row["status"], row["external_id"]) == ("done", late.result.external_id)
    keys = [t["properties"].get("kickoff_key") for t in sandbox.get("hubspot", "records/tickets")]
    assert keys.count(late.action.idempotency_key) == 1
