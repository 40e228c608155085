"""Movidesk (core-implementation): a paid ticket opens the onboarding, the engine's ticket and
macros land in Movidesk in one PATCH, and the actions people post come back as session facts."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.movidesk import MovideskConnector
from connectors.ratelimit import WindowLimiter
from kickoff.events import EventType
from kickoff.model import Action, ActionKind, Event, ResultStatus
from kickoff.playbooks import decide, find_playbook
from kickoff.retry import FAST_POLICY
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, delivery, hooks, state

AGENT = {"id": "900000001"}
HOOK_URL_TOKEN = "?token=movidesk-sandbox-webhook-token"


@pytest.fixture
def movidesk(kickoff_config, seeded, tables) -> MovideskConnector:
    """The connector reading what the mapping reads, as the runtime builds it."""
    seeded.set_limits("movidesk", enabled=False)  # a few writes per test, not a rate-limit test
    return MovideskConnector(kickoff_config.tools["movidesk"], limiter=WindowLimiter({}), retry=FAST_POLICY,
                             reads=mapping_for("movidesk").reads(tables["movidesk"]))


@pytest.fixture
def ctx(ledger, tables, tenants):
    return ledger.context("core", "movidesk", tables, tenants)


def paid(seeded, receiver, movidesk) -> tuple[dict[str, Any], Any]:
    """Sales opens the customer's ticket; finance fills plan, phone and ticks "payment confirmed"."""
    seeded.set_webhook("movidesk", receiver.url + HOOK_URL_TOKEN)
    ticket = seeded.act("movidesk", "tickets", type=2, subject="Padaria Exemplo - contrato", createdBy=AGENT,
                        clients=[{"id": "900000301"}],
                        actions=[{"type": 1, "description": "Venda fechada", "createdBy": AGENT}])
    for field, value in ((202, "Basic"), (203, "+55 11 3000-0000"), (204, "Fixo"), (201, "Sim")):
        seeded.act("movidesk", f"tickets/{ticket['id']}/custom-fields", customFieldId=field, value=value)
    return ticket, hooks(movidesk, seeded, receiver, 0)[-1]


def opened(seeded, receiver, movidesk, ledger, ctx, tenants) -> tuple[Any, list[Action], str]:
    """The payment decided on, the implementation ticket created and linked like the push does."""
    _ticket, hook = paid(seeded, receiver, movidesk)
    [event] = mapping_for("movidesk").to_events(hook, ctx)
    decision = decide(None, event, NOW, find_playbook("core-implementation"), tz=tenants["core"].zone, tenant="core")
    ledger.states[decision.state.id] = decision.state
    actions = [a for a in decision.actions if a.tool == "movidesk"]
    [create] = [a for a in actions if a.kind is ActionKind.CREATE_RECORD]
    start = len(hooks(movidesk, seeded, receiver, 0))
    vendor = mapping_for("movidesk").to_vendor(create, ctx)
    [result] = movidesk.apply([vendor], NOW)
    assert result.status is ResultStatus.DONE, result.reason
    ledger.created(create, result.external_id, "ticket")
    [creation] = hooks(movidesk, seeded, receiver, start)  # the trigger fires for our own creation too
    written = mapping_for("movidesk").write_fingerprints(vendor, external_id=result.external_id)
    assert set(mapping_for("movidesk").delivery_fingerprints(creation)) <= set(written)
    return decision.state, [a for a in actions if a is not create], result.external_id


def test_M1_given_payment_confirmed_in_a_custom_field_then_payment_confirmed_once(seeded, receiver, movidesk, ledger, ctx):
    ticket, hook = paid(seeded, receiver, movidesk)
    [event] = mapping_for("movidesk").to_events(hook, ctx)
    assert event.type == EventType.PAYMENT_CONFIRMED and event.subject == f"core:{ticket['id']}"
    assert {k: event.data.get(k) for k in ("plan", "phone", "phone_type", "client_id")} == {
        "plan": "Basic", "phone": "+55 11 3000-0000", "phone_type": "landline", "client_id": "900000301"}
    assert event.data["account_name"]
    ledger.states[event.subject] = state(event.subject, "core", "core-implementation", "scheduling")
    assert mapping_for("movidesk").to_events(hook, ctx) == []  # a later change of a paid ticket starts nothing


def test_M1_M4_given_the_decision_then_one_patch_sets_the_status_and_posts_the_task_and_it_echoes(
        seeded, receiver, movidesk, ledger, ctx, tenants):
    _, actions, ticket_id = opened(seeded, receiver, movidesk, ledger, ctx, tenants)
    assert {a.kind for a in actions} == {ActionKind.SET_STAGE, ActionKind.CREATE_TASK}
    mapping = mapping_for("movidesk")
    vendor = [mapping.to_vendor(a, ctx) for a in actions]
    assert {v.kind for v in vendor} == {ActionKind.SET_STAGE, ActionKind.POST_ACTION}
    start = len(receiver.received)

    assert [r.status for r in movidesk.apply(vendor, NOW)] == [ResultStatus.DONE] * 2

    stored = seeded.get("movidesk", f"tickets/{ticket_id}")
    assert (stored["status"], stored["justification"]) == ("Aguardando", "Aguardando cliente")
    assert stored["clients"][0]["id"] == "900000301"
    [task] = [a for a in stored["actions"] if a["description"].startswith("Tarefa: GR: book the 1st CORE")]
    assert task["type"] == 1 and "Responsável: GR" in task["description"]
    [echo] = hooks(movidesk, seeded, receiver, start)
    written = {fp for v in vendor for fp in mapping.write_fingerprints(v)}
    assert set(mapping.delivery_fingerprints(echo)) <= written
    assert mapping.to_events(echo, ctx) == []  # our own macro is no fact


def test_M3_M9_given_gr_books_and_io_ends_a_session_then_meeting_booked_and_completed(
        seeded, receiver, movidesk, ledger, ctx, tenants):
    started, _, ticket_id = opened(seeded, receiver, movidesk, ledger, ctx, tenants)
    mapping = mapping_for("movidesk")
    start = len(receiver.received)
    seeded.act("movidesk", f"tickets/{ticket_id}/actions", type=2, createdBy="900000201", description=(
        "GR - Agendamento CORE\nData: 04/05/2026 14:00\nCanal: vídeo\nTipo de telefone: fixo"))
    [booking] = hooks(movidesk, seeded, receiver, start)
    [booked] = mapping.to_events(booking, ctx)
    assert booked.type == EventType.MEETING_BOOKED and booked.subject == started.id
    assert {k: booked.data[k] for k in ("start", "channel", "phone_type", "booked_by")} == {
        "start": "2026-05-04T14:00:00-03:00", "channel": "video", "phone_type": "landline", "booked_by": "gr"}
    [polled] = [d for d in movidesk.read_changes(None, now=NOW).deliveries if d.record_id == ticket_id]
    assert polled.dedup_key == booking.dedup_key  # the same change, heard twice, is one inbox row
    assert [e.model_dump() for e in mapping.to_events(polled, ctx)] == [booked.model_dump()]  # ... and one fact

    seeded.act("movidesk", f"tickets/{ticket_id}/actions", type=1, createdBy="900000202", description=(
        "IO - CORE realizado\nPróximo: 11/05/2026 14:00\nTópicos: agenda e caixa\nEncerrar onboarding: não"))
    [done] = mapping.to_events(hooks(movidesk, seeded, receiver, start + 1)[0], ctx)
    assert done.type == EventType.MEETING_COMPLETED
    assert {k: done.data[k] for k in ("next_start", "topics", "end_onboarding")} == {
        "next_start": "2026-05-11T14:00:00-03:00", "topics": "agenda e caixa", "end_onboarding": False}


def test_given_a_session_date_that_does_not_parse_then_mapping_error_names_it(ledger, ctx):
    ledger.link("core:1", "movidesk", "42", "ticket")
    ledger.states["core:1"] = state("core:1", "core", "core-implementation", "scheduling")
    ticket = {"Id": 42, "LastUpdate": "2026-05-01T12:00:00.0000000", "Actions": [
        {"Id": 3, "Description": "GR - Agendamento CORE\nData: amanhã cedo", "CreatedDate": "2026-05-01T12:00:00.0000000"}]}
    with pytest.raises(MappingError) as caught:
        mapping_for("movidesk").to_events(delivery("movidesk", ticket, record_id="42"), ctx)
    assert caught.value.field == "start"


def test_given_webhook_bodies_configured_as_notices_then_only_read_tickets_map(ledger, tables, tenants):
    table = {**tables["movidesk"]["core"], "webhook_body": "notice"}
    ctx = ledger.context("core", "movidesk", {"movidesk": {"core": table}}, tenants)
    body = {"Id": 7, "LastUpdate": "2026-05-01T12:00:00", "CustomFieldValues": [{"CustomFieldId": 201, "Value": "Sim"}],
            "Clients": [{"Id": "900000301", "BusinessName": "Padaria"}]}
    assert mapping_for("movidesk").to_events(delivery("movidesk", body, record_id="7"), ctx) == []
    [event] = mapping_for("movidesk").to_events(delivery("movidesk", body, record_id="7", kind="poll"), ctx)
    assert event.type == EventType.PAYMENT_CONFIRMED and event.data["account_name"] == "Padaria"


def test_the_ticket_fields_read_are_the_ones_the_tables_need(tables):
    """The payment rule's paths and, when a table matches actions, the actions' text and time."""
    mapping = mapping_for("movidesk")
    [fields] = mapping.reads(tables["movidesk"]).values()
    assert {"status", "customFieldValues", "clients.businessName", "actions.description",
            "actions.createdDate"} <= set(fields)
    quiet = {**tables["movidesk"]["core"], "actions": [],
             "payment": {"field_path": "customFieldValues[customFieldId=201].value",
                         "data": {"account_name": ["clients[0].businessName"], "org": ["organization.id"]}}}
    [fields] = mapping.reads({"core": quiet}).values()
    assert not [f for f in fields if f.startswith("actions")]
    assert {"clients.businessName", "organization"} <= set(fields)
    assert mapping.reads({}) == {}


def test_M4_given_gr_marks_the_task_done_in_movidesk_then_task_updated_and_the_playbook_closes_it(
        seeded, receiver, movidesk, ledger, ctx, tenants):
    """The closed loop through the sandbox: Kickoff posts GR's task, GR posts "Tarefa concluída"
    with the task's key, the mapping reads task.updated, the playbook takes the task as done (and
    so posts no completion of its own when the session is booked)."""
    started, actions, ticket_id = opened(seeded, receiver, movidesk, ledger, ctx, tenants)
    mapping = mapping_for("movidesk")
    [task] = [a for a in actions if a.kind is ActionKind.CREATE_TASK]
    [result] = movidesk.apply([mapping.to_vendor(task, ctx)], NOW)
    assert result.status is ResultStatus.DONE, result.reason
    posted = [a for a in seeded.get("movidesk", f"tickets/{ticket_id}")["actions"]
              if a["description"].startswith("Tarefa: GR: book the 1st CORE")]
    assert f"Chave: {task.idempotency_key}" in posted[0]["description"]  # what GR quotes
    assert seeded.flush_webhooks()  # our own post's webhook is out before the person acts
    start = len(receiver.received)

    seeded.act("movidesk", f"tickets/{ticket_id}/actions", type=1, createdBy="900000201",
               description=f"Tarefa concluída\nChave: {task.idempotency_key}")
    [hook] = hooks(movidesk, seeded, receiver, start)
    [done] = mapping.to_events(hook, ctx)

    assert (done.type, done.subject, done.data) == (EventType.TASK_UPDATED, started.id,
                                                    {"task_key": task.idempotency_key, "status": "completed"})
    playbook = find_playbook("core-implementation")
    after = decide(started, done, NOW, playbook, tz=tenants["core"].zone, tenant="core")
    assert after.state.facts["_done"] == [task.idempotency_key] and "book_slot" not in after.state.facts["_tasks"]
    booked = Event(id="ev-booked", type=EventType.MEETING_BOOKED, occurred_at=NOW, subject=started.id,
                   data={"meeting_id": "m-1", "start": "2026-05-04T14:00:00-03:00", "booked_by": "gr"})
    assert [a for a in decide(after.state, booked, NOW, playbook, tz=tenants["core"].zone).actions
            if a.kind is ActionKind.COMPLETE_TASK] == []

