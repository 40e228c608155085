"""A row the mapping fails on unexpectedly (a bug, a payload it never met) is that row's dead
letter, with the reason; the rest of the round is pushed. Before, the exception left the whole
round claimed, and the same row came first again after every lease: nothing behind it went."""

from __future__ import annotations

from typing import Any

from flows.runtime import Runtime
from flows.steps import process, push
from gateway.canonical import event_delivery
from kickoff.contracts.vendor import VendorAction
from kickoff.event_input import read_event
from kickoff.model import Action, ActionKind
from mappings.base import ToolMapping, mapping_for

SIGNUP = {"type": "account.created", "occurred_at": "2026-03-02T14:00:00+01:00", "subject": "network:odd-row",
          "tenant": "network", "data": {"account_name": "Odd Row", "origin": "diy", "network": "edge-network",
                                        "email": "pro@odd-row.example.com"}}


class FailsOnTasks(type(mapping_for("hubspot"))):  # type: ignore[misc]
    """HubSpot's mapping with a bug in one kind of action."""

    def to_vendor(self, action: Action, ctx: Any) -> VendorAction:
        if action.kind is ActionKind.CREATE_TASK:
            raise KeyError("task_type")
        return super().to_vendor(action, ctx)


def test_a_row_the_mapping_fails_on_is_a_dead_letter_and_the_rest_of_the_round_is_pushed(rt: Runtime, sandbox) -> None:
    event = read_event(SIGNUP)
    rt.ledger.store_delivery(event_delivery(event, event.occurred_at))
    process.process_inbox(rt, event.occurred_at)
    broken: ToolMapping = FailsOnTasks()
    rt.mapping = lambda tool: broken if tool == "hubspot" else mapping_for(tool)  # type: ignore[method-assign]

    report = push.push(rt, "hubspot", event.occurred_at)

    by_kind = {r.action.kind: r for r in report.rows}
    task, ticket = by_kind[ActionKind.CREATE_TASK], by_kind[ActionKind.CREATE_RECORD]
    assert (task.result.status.value, task.new_status) == ("permanent", "dead")
    assert task.result.reason == "mapping failed: KeyError: 'task_type'"
    assert rt.ledger.outbox_row(task.outbox_id)["last_error"] == task.result.reason
    assert (ticket.new_status, ticket.result.status.value) == ("done", "done")
    assert len(sandbox.get("hubspot", "records/tickets")) == 1
