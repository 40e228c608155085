"""Bad input stops at the edge: an action on a record whose creation is dead ends dead itself,
blocked by that creation, and replaying the creation replays it. The network playbook's E5
call task is written on the sign-up's HubSpot ticket; the sandbox refuses the ticket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flows.runtime import Runtime
from flows.steps import process, push
from gateway.canonical import event_delivery
from kickoff.event_input import read_event
from tests.conftest import REPO
from tests.gateway import signing
from tests.gateway.conftest import EVENTS_TOKEN, Gateway

SIGNUP = {"type": "account.created", "occurred_at": "2026-03-02T14:00:00+01:00", "subject": "network:edge-customer",
          "tenant": "network", "data": {"account_name": "Edge Customer", "origin": "diy", "network": "edge-network",
                                        "email": "pro@edge-customer.example.com"}}


def signed_up(rt: Runtime) -> datetime:
    """The sign-up stored and decided; returns when it happened."""
    event = read_event(SIGNUP)
    rt.ledger.store_delivery(event_delivery(event, event.occurred_at))
    process.process_inbox(rt, event.occurred_at)
    return event.occurred_at


def hubspot_rows(rt: Runtime) -> dict[str, dict]:
    """The onboarding's HubSpot outbox rows by kind (one ticket, one call task)."""
    rows = [r for r in rt.ledger.outbox_rows() if r["tool"] == "hubspot"]
    return {r["kind"]: r for r in rows}


def test_a_call_task_on_a_ticket_whose_creation_is_dead_ends_dead_blocked_and_comes_back_with_its_ticket(
        rt: Runtime, sandbox) -> None:
    at = signed_up(rt)
    sandbox.add_fault(vendor="hubspot", method="POST", path="objects/tickets", kind="error", status=400)
    push.push(rt, "hubspot", at)  # the call task is tried before its ticket dies: not ready yet
    ticket = hubspot_rows(rt)["create_record"]
    assert ticket["status"] == "dead"
    assert hubspot_rows(rt)["create_task"]["status"] == "pending"

    call_due = at + timedelta(minutes=5)
    report = push.push(rt, "hubspot", call_due)
    call = hubspot_rows(rt)["create_task"]
    assert [r.new_status for r in report.rows] == ["dead"]  # at once, not after its 8 attempts
    assert (call["status"], call["attempts"]) == ("dead", 2)
    assert call["last_error"] == f"blocked: {ticket['idempotency_key']} is dead"
    assert call["blocked_by"] == ticket["idempotency_key"]

    sandbox.clear_faults()
    replayed = rt.ledger.replay_dead([ticket["id"]], now=call_due)
    assert replayed == sorted([ticket["id"], call["id"]])
    push.push(rt, "hubspot", call_due)
    push.push(rt, "hubspot", call_due + timedelta(minutes=5))  # the task once its ticket exists
    rows = hubspot_rows(rt)
    assert (rows["create_record"]["status"], rows["create_task"]["status"]) == ("done", "done")
    tasks = [t for t in sandbox.get("hubspot", "records/tasks")
             if any(str(a.get("toObjectId")) == str(rows["create_record"]["external_id"])
                    for a in t.get("associations") or [])]
    assert len(tasks) == 1


def test_a_call_task_waiting_for_a_ticket_still_being_tried_stays_retryable(rt: Runtime, sandbox) -> None:
    at = signed_up(rt)
    sandbox.add_fault(vendor="hubspot", method="POST", path="objects/tickets", kind="error", status=503)
    push.push(rt, "hubspot", at)
    ticket = hubspot_rows(rt)["create_record"]
    assert ticket["status"] == "pending"

    for minutes in (5, 10):
        push.push(rt, "hubspot", at + timedelta(minutes=minutes))
    call = hubspot_rows(rt)["create_task"]
    assert (call["status"], call["blocked_by"]) == ("pending", ticket["idempotency_key"])
    assert "not created yet" in call["last_error"]


# --- events refused where they come in, per what the tenant's playbook writes on -----------
MEETING_DONE = {"type": "meeting.completed", "occurred_at": "2026-03-12T11:00:00+01:00", "subject": "edge-customer",
                "tenant": "assist", "data": {"meeting_id": "m-1", "kind": "kickoff"}}


def post_event(gateway: Gateway, event: dict):
    return gateway.post(signing.canonical(EVENTS_TOKEN, event))


def test_a_meeting_event_without_the_meeting_the_playbook_writes_on_is_answered_422_and_kept_as_failed(
        gateway: Gateway) -> None:
    event = {**MEETING_DONE, "data": {"kind": "kickoff"}}
    answer = post_event(gateway, event)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error == "event 0: data.meeting_id: missing: assist's playbook writes on it (rule A14)"
    [row] = gateway.rows()
    assert (row["status"], row["error"], row["id"]) == ("failed", error, answer.json()["kept_as_inbox_id"])
    assert gateway.announced_ids() == []


def test_the_same_meeting_event_naming_its_meeting_or_for_a_playbook_that_writes_nothing_on_it_is_accepted(
        gateway: Gateway) -> None:
    assert post_event(gateway, MEETING_DONE).status_code == 200
    other_tenant = {**MEETING_DONE, "tenant": "core", "data": {"kind": "core"}}  # core's playbook needs no id
    assert post_event(gateway, other_tenant).status_code == 200
    assert [r["status"] for r in gateway.rows()] == ["pending", "pending"]


def test_what_each_playbook_writes_on_is_read_from_its_triggers() -> None:
    from kickoff.playbooks.loader import load_playbook, playbook_files
    from kickoff.playbooks.needs import data_needs

    needs = {path.stem: data_needs(load_playbook(path)) for path in playbook_files(REPO / "config" / "playbooks")}
    assert needs["assist-se"] == {"meeting.completed": {"meeting_id": "A14"}, "meeting.no_show": {"meeting_id": "A15"},
                                  "meeting.cancelled": {"meeting_id": "A15"},
                                  "meeting.rescheduled": {"meeting_id": "A15"}}
    assert needs["network-onboarding"] == {}  # its account.created needs its e-mail: the event format's own rule



def test_replaying_a_dead_creation_replays_what_died_blocked_by_it_and_by_those_in_turn(ledger) -> None:
    from kickoff.model import (
        Action,
        ActionKind,
        ActionResult,
        Decision,
        Onboarding,
        ResultStatus,
        idempotency_key,
    )

    at = datetime(2026, 3, 2, 13, tzinfo=UTC)
    ticket, task, completion = (
        Action(kind=kind, tool="hubspot", onboarding_id="network:edge", rule="E5", due_at=at, payload=payload,
               idempotency_key=idempotency_key("network:edge", "E5", n))
        for n, kind, payload in ((1, ActionKind.CREATE_RECORD, {"object": "ticket"}),
                                 (2, ActionKind.CREATE_TASK, {"subject": "Phone the professional"}),
                                 (3, ActionKind.COMPLETE_TASK, {"task_key": "the call"})))
    state = Onboarding(id="network:edge", tenant="network", playbook="network-onboarding", stage="signed_up")
    ids = ledger.commit_decision(Decision(state=state, actions=[ticket, task, completion], audit=["E5"]),
                                 now=at).outbox_ids
    ledger.claim_outbox("hubspot", "w", 3, now=at)
    ledger.record_result(ids[0], ActionResult(idempotency_key=ticket.idempotency_key,
                                              status=ResultStatus.PERMANENT, reason="400"), now=at, claim=None)
    for row_id, action, parent in ((ids[1], task, ticket), (ids[2], completion, task)):
        ledger.record_result(row_id, ActionResult(idempotency_key=action.idempotency_key,
                                                  status=ResultStatus.RETRYABLE, reason="not created yet",
                                                  waits_for=parent.idempotency_key), now=at, claim=None)
    assert [ledger.outbox_row(i)["status"] for i in ids] == ["dead", "dead", "dead"]
    assert ledger.outbox_row(ids[2])["last_error"] == f"blocked: {task.idempotency_key} is dead"

    assert ledger.replay_dead([ids[0]], now=at + timedelta(hours=1)) == sorted(ids)
    assert [ledger.outbox_row(i)["status"] for i in ids] == ["pending", "pending", "pending"]
