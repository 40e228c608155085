"""A push that meets an exception it did not expect keeps it to the rows it concerns. A row the
mapping fails on (a bug, a payload it never met) is that row's dead letter, with the reason; the
rest of the round is pushed. A connector that raises instead of answering leaves its rows to be
retried with backoff, the tool asked first. Before, either exception left the whole round
claimed, and the same rows came first again after every lease: nothing behind them went."""

from __future__ import annotations

from datetime import timedelta
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


def test_a_connector_call_that_raises_leaves_only_its_own_rows_unknown_and_the_rest_of_the_round_is_recorded(
        rt: Runtime, sandbox) -> None:
    """A round is written in more than one call (rows tried before go through ``apply_again``,
    each account has its own connector): a call that raises leaves its own rows' outcomes
    unknown, and what the other calls answered is recorded as answered, not tried again."""
    earlier = read_event(SIGNUP)
    rt.ledger.store_delivery(event_delivery(earlier, earlier.occurred_at))
    process.process_inbox(rt, earlier.occurred_at)
    connector = rt.connector("hubspot")
    written, asked = connector.apply, connector.apply_again

    def raises(actions, now):  # type: ignore[no-untyped-def]
        raise KeyError("results")

    connector.apply = raises  # type: ignore[method-assign]
    tried = push.push(rt, "hubspot", earlier.occurred_at).rows
    retry_at = max(rt.ledger.outbox_row(r.outbox_id)["next_try_at"] for r in tried)
    later = read_event({**SIGNUP, "subject": "network:even-row",
                        "data": {**SIGNUP["data"], "account_name": "Even Row", "email": "pro@even-row.example.com"}})
    rt.ledger.store_delivery(event_delivery(later, later.occurred_at))
    process.process_inbox(rt, later.occurred_at)
    connector.apply, connector.apply_again = written, raises  # type: ignore[method-assign]

    rows = push.push(rt, "hubspot", retry_at).rows

    records = {r.action.onboarding_id: r for r in rows if r.action.kind is ActionKind.CREATE_RECORD}
    fresh, tried_before = records["network:even-row"], records["network:odd-row"]
    assert (fresh.result.status.value, fresh.new_status) == ("done", "done")  # apply answered
    assert (tried_before.result.status.value, tried_before.new_status) == ("retryable", "pending")  # apply_again raised
    assert tried_before.result.reason == "connector failed, outcome unknown: KeyError: 'results'"
    assert rt.ledger.outbox_row(tried_before.outbox_id)["attempts"] == 2
    connector.apply_again = asked  # type: ignore[method-assign]
    later_rows = push.push(rt, "hubspot", retry_at + timedelta(hours=1)).rows
    assert [r.new_status for r in later_rows if r.outbox_id == tried_before.outbox_id] == ["done"]
    assert len(sandbox.get("hubspot", "records/tickets")) == 2  # one each: none written twice
