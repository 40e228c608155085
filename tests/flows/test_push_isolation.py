"""A push that meets an exception it did not expect keeps it to the rows it concerns. A row the
mapping fails on (a bug, a payload it never met) is that row's dead letter, with the reason; the
rest of the round is pushed. A connector that raises instead of answering leaves its rows to be
retried with backoff, the tool asked first. Before, either exception left the whole round
claimed, and the same rows came first again after every lease: nothing behind them went."""

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


def test_a_connector_that_raises_after_writing_leaves_its_rows_to_retry_and_nothing_is_written_twice(
        rt: Runtime, sandbox) -> None:
    """The connector broke off instead of answering (here: after writing, on an answer it could not
    read): its rows are retried with backoff, the tool asked first, and die after the last
    attempt, instead of holding the round until its lease runs out, again and again."""
    event = read_event(SIGNUP)
    rt.ledger.store_delivery(event_delivery(event, event.occurred_at))
    process.process_inbox(rt, event.occurred_at)
    connector = rt.connector("hubspot")
    written = connector.apply

    def writes_then_raises(actions, now):  # type: ignore[no-untyped-def]
        written(actions, now)
        raise KeyError("results")

    connector.apply = writes_then_raises  # type: ignore[method-assign]
    first = push.push(rt, "hubspot", event.occurred_at)

    [ticket] = [r for r in first.rows if r.action.kind is ActionKind.CREATE_RECORD]
    assert (ticket.result.status.value, ticket.new_status) == ("retryable", "pending")
    assert ticket.result.reason == "connector failed, outcome unknown: KeyError: 'results'"
    row = rt.ledger.outbox_row(ticket.outbox_id)
    assert row["attempts"] == 1 and row["claimed_by"] is None and row["next_try_at"] > event.occurred_at

    connector.apply = written  # type: ignore[method-assign]
    second = push.push(rt, "hubspot", row["next_try_at"])

    [again] = [r for r in second.rows if r.outbox_id == ticket.outbox_id]
    assert again.new_status == "done"
    assert len(sandbox.get("hubspot", "records/tickets")) == 1  # found by its key, not written again
