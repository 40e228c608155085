"""A row whose onboarding the ledger does not hold is mapped with its tool's tenant only when
one tenant alone uses that tool; otherwise it ends dead, saying why, and nothing is written
with another company's tables (its owners, its account)."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.runtime import Runtime
from flows.steps import push
from kickoff.ledger import outbox
from kickoff.model import Action, ActionKind

NOW = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)


def test_given_a_hubspot_row_of_no_known_onboarding_then_it_is_dead_for_want_of_a_tenant(rt: Runtime, sandbox) -> None:
    stray = Action(kind=ActionKind.CREATE_TASK, tool="hubspot", onboarding_id="network:gone", rule="E5",
                   payload={"subject": "Call the customer", "due_at": NOW.isoformat()},
                   idempotency_key="stray-task", due_at=NOW)
    with rt.ledger.transaction() as conn:
        outbox.enqueue(conn, stray, NOW)

    [row] = push.push(rt, "hubspot", NOW).rows

    assert (row.result.status.value, row.new_status) == ("permanent", "dead")
    assert "network:gone" in (row.result.reason or "") and "not one tenant's alone" in (row.result.reason or "")
    assert sandbox.get("hubspot", "records/tasks") == []  # nothing written in either tenant's HubSpot
