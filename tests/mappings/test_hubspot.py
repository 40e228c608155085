"""HubSpot (assist-se): the engine's actions become HubSpot writes the connector carries out
against the sandbox; a person's changes in the sandbox come back as canonical events; our
own writes come back with fingerprints the push journalled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from connectors.hubspot import HubSpotConnector
from kickoff.contracts.vendor import VendorAction
from kickoff.events import EventType
from kickoff.model import Action, ActionKind, ResultStatus
from kickoff.playbooks import decide, find_playbook
from kickoff.retry import FAST_POLICY
from mappings.base import MappingError, mapping_for
from mappings.common import change_fingerprint
from tests.mappings.conftest import NOW, action, delivery, hooks, state

CLIENT_SECRET = "hs-sandbox-client-secret"
STAGES = {"new": "84561201", "onboarding_in_progress": "84561202", "manual_follow_up": "84561204"}
CONTRACT = {  # Dealbuilder's flat body: the document's fields beside eventType
    "eventType": "DocumentAccepted", "id": "D-1", "acceptedAt": "2026-02-27T10:00:00+01:00",
    "Parties": [{"role": "customer", "companyName": "Exempel Bygg AB", "organizationNumber": "556000-0001",
                 "contacts": [{"role": "main_user", "name": "Maja Exempel", "email": "maja@kund.example.com"}]}],
    "customFields": [{"name": "licences", "value": "12"}, {"name": "delivery_start", "value": "2026-03-02"}]}


@pytest.fixture
def hubspot(kickoff_config, seeded, tables) -> HubSpotConnector:
    return HubSpotConnector(kickoff_config.tools["hubspot"], retry=FAST_POLICY,
                            reads=mapping_for("hubspot").reads(tables["hubspot"]))


def written(vendor: VendorAction) -> dict[str, Any]:
    """A vendor action's payload as the mapping set it."""
    return vendor.payload.model_dump(exclude_unset=True)


@pytest.fixture
def ctx(ledger, tables, tenants):
    return ledger.context("assist", "hubspot", tables, tenants)


def signed(ledger, tables, tenants) -> tuple[Any, list[Action]]:
    """The contract signed (mapped from Dealbuilder) and the engine's decision on it."""
    [event] = mapping_for("dealbuilder").to_events(delivery("dealbuilder", CONTRACT),
                                                   ledger.context("assist", "dealbuilder", tables, tenants))
    decision = decide(None, event, NOW, find_playbook("assist-se"), tz=tenants["assist"].zone, tenant="assist")
    ledger.states[decision.state.id] = decision.state
    return decision.state, [a for a in decision.actions if a.tool == "hubspot"]


def ticket_created(hubspot, seeded, receiver, ledger, ctx, tables, tenants) -> tuple[Any, list[Action], Any, int]:
    """Webhooks sent to ``receiver``, the contract signed and decided (``signed``), the ticket
    created (``push``); and how many webhooks had come by then."""
    seeded.set_webhook("hubspot", receiver.url, secret=CLIENT_SECRET)
    started, actions = signed(ledger, tables, tenants)
    [created] = push(hubspot, ledger, ctx, [a for a in actions if a.kind is ActionKind.CREATE_RECORD])
    return started, actions, created, len(hooks(hubspot, seeded, receiver))


def push(hubspot: HubSpotConnector, ledger, ctx, actions: list[Action]) -> list[Any]:
    """What the push flow does: map, apply, and link what was created."""
    mapping = mapping_for("hubspot")
    vendor = [mapping.to_vendor(a, ctx) for a in actions]
    results = hubspot.apply(vendor, NOW)
    assert [r.status for r in results] == [ResultStatus.DONE] * len(actions), [r.reason for r in results]
    for a, r in zip(actions, results, strict=True):
        if a.kind in (ActionKind.CREATE_RECORD, ActionKind.CREATE_TASK):
            ledger.created(a, r.external_id, "ticket" if a.kind is ActionKind.CREATE_RECORD else "task")
    return results


def test_A1_A3_A5_A6_given_a_signed_contract_then_the_actions_land_in_the_seeded_pipeline(
        hubspot, seeded, ledger, ctx, tables, tenants):
    _started, actions = signed(ledger, tables, tenants)
    [create] = [a for a in actions if a.kind is ActionKind.CREATE_RECORD]
    others = [a for a in actions if a is not create]
    assert {a.kind for a in others} == {ActionKind.ADD_NOTE, ActionKind.ASSIGN_OWNER, ActionKind.CREATE_TASK}

    with pytest.raises(MappingError) as caught:  # the ticket is not created yet: try later
        mapping_for("hubspot").to_vendor(others[0], ctx)
    assert caught.value.retry is True

    [created] = push(hubspot, ledger, ctx, [create])
    push(hubspot, ledger, ctx, others)

    ticket = seeded.get("hubspot", f"records/tickets/{created.external_id}")
    props = ticket["properties"]
    assert props["subject"] == "SE - Exempel Bygg AB" and props["org_number"] == "556000-0001"
    assert (props["hs_pipeline"], props["hs_pipeline_stage"]) == ("28734901", STAGES["new"])
    assert props.get("hubspot_owner_id") is None  # A5: "No owner"
    [note] = seeded.get("hubspot", "records/notes")
    assert note["properties"]["hs_note_body"].startswith("Ny kund") and "51200101" in note["properties"]["hs_note_body"]
    assert {"toObjectType": "tickets", "toObjectId": created.external_id, "typeId": 228} in note["associations"]
    [task] = seeded.get("hubspot", "records/tasks")
    assert task["properties"]["hubspot_owner_id"] == "51200102"  # A6: the onboarding team
    assert task["properties"]["hs_timestamp"].startswith("2026-03-03T07:00:00")  # 08:00 Stockholm


def test_A2_given_the_stage_write_then_its_webhook_is_recognised_as_our_echo(
        hubspot, seeded, receiver, ledger, ctx, tables, tenants):
    _started, _actions, created, start = ticket_created(hubspot, seeded, receiver, ledger, ctx, tables, tenants)
    move = action("hubspot", ActionKind.SET_STAGE, {"stage": "onboarding_in_progress"}, rule="A2")
    mapping = mapping_for("hubspot")
    vendor = mapping.to_vendor(move, ctx)
    assert written(vendor) == {"record_id": created.external_id, "stage": STAGES["onboarding_in_progress"],
                               "pipeline": "28734901"}
    push(hubspot, ledger, ctx, [move])

    [echo] = hooks(hubspot, seeded, receiver, start)

    ours = set(mapping.write_fingerprints(vendor))
    assert echo.payload["changeSource"] == "INTEGRATION"
    assert set(mapping.delivery_fingerprints(echo)) <= ours


def test_A11_A15_given_a_person_pauses_then_restarts_in_hubspot_then_paused_and_restarted(
        hubspot, seeded, receiver, ledger, ctx, tables, tenants):
    started, actions, created, start = ticket_created(hubspot, seeded, receiver, ledger, ctx, tables, tenants)
    ticket = created.external_id
    mapping = mapping_for("hubspot")

    seeded.act("hubspot", f"tickets/{ticket}", method="PATCH", properties={"hs_pipeline_stage": STAGES["manual_follow_up"]})
    [moved] = hooks(hubspot, seeded, receiver, start)
    [paused] = mapping.to_events(moved, ctx)
    assert (paused.type, paused.subject, paused.source.record_id) == (EventType.ONBOARDING_PAUSED, started.id, ticket)
    ours = {fp for a in actions for fp in mapping.write_fingerprints(mapping.to_vendor(a, ctx), "1")}
    assert not set(mapping.delivery_fingerprints(moved)) & ours

    seeded.act("hubspot", f"tickets/{ticket}", method="PATCH", properties={"restart_onboarding": "Yes"})
    [restart] = hooks(hubspot, seeded, receiver, start + 1)
    [restarted] = mapping.to_events(restart, ctx)
    assert restarted.type == EventType.ONBOARDING_RESTARTED and restarted.subject == started.id


def test_A13_A15_given_a_meeting_booked_then_missed_then_booked_and_no_show_and_the_outcome_written_back(
        hubspot, seeded, receiver, ledger, ctx, tables, tenants):
    started, _actions, created, start = ticket_created(hubspot, seeded, receiver, ledger, ctx, tables, tenants)
    mapping = mapping_for("hubspot")

    meeting = seeded.act("hubspot", "meetings", ticket_id=created.external_id, properties={
        "hs_timestamp": "2026-03-05T09:00:00Z", "hs_meeting_title": "Uppstartsmöte",
        "hs_meeting_start_time": "2026-03-05T09:00:00Z"})
    [booked_hook] = hooks(hubspot, seeded, receiver, start)
    with pytest.raises(MappingError) as caught:  # a bare event names no ticket
        mapping.to_events(booked_hook, ctx)
    assert caught.value.field == "associations"
    read = seeded.get("hubspot", f"records/meetings/{meeting['id']}")
    enriched = booked_hook.model_copy(update={"payload": {**booked_hook.payload, "associations": read["associations"]}})
    [booked] = mapping.to_events(enriched, ctx)
    assert (booked.type, booked.subject, booked.data["meeting_id"]) == (EventType.MEETING_BOOKED, started.id, meeting["id"])

    seeded.act("hubspot", f"meetings/{meeting['id']}", method="PATCH", properties={"hs_meeting_outcome": "NO_SHOW"})
    [missed_hook] = hooks(hubspot, seeded, receiver, start + 1)
    missed = missed_hook.model_copy(update={"payload": {**missed_hook.payload, "associations": read["associations"]}})
    [no_show] = mapping.to_events(missed, ctx)
    assert no_show.type == EventType.MEETING_NO_SHOW and no_show.data["meeting_id"] == meeting["id"]

    write_back = action("hubspot", ActionKind.SET_STAGE, {"stage": "no_show", "record": "meeting",
                                                          "record_id": meeting["id"]}, rule="A15")
    assert written(mapping.to_vendor(write_back, ctx)) == {"record_id": meeting["id"], "object": "meetings",
                                                           "property": "hs_meeting_outcome", "stage": "NO_SHOW"}


def test_A7_A8_given_calls_and_tasks_read_with_their_ticket_then_call_logged_and_task_updated(ledger, ctx):
    ledger.link("assist:D-1", "hubspot", "9001", "ticket")
    ledger.states["assist:D-1"] = state("assist:D-1", "assist", "assist-se", "onboarding_in_progress")
    mapping = mapping_for("hubspot")
    call = {"objectType": "calls", "id": "777", "associations": {"tickets": {"results": [{"id": "9001"}]}},
            "properties": {"hs_call_disposition": "73a0d17f-1163-4015-bdd5-ec830791da20", "hs_call_body": "Inget svar",
                           "hs_lastmodifieddate": "2026-03-03T12:00:00Z"}}
    [logged] = mapping.to_events(delivery("hubspot", call, kind="poll"), ctx)
    assert logged.type == EventType.CALL_LOGGED and logged.data == {"outcome": "no_answer", "note": "Inget svar"}
    task_action = action("hubspot", ActionKind.CREATE_TASK, {"subject": "Ring", "due_at": NOW.isoformat()}, rule="A7")
    ledger.created(task_action, "555", "task")
    task_event = {"eventId": 3, "portalId": 146000001, "objectId": 555, "occurredAt": 1772539200000,
                  "subscriptionType": "task.propertyChange", "propertyName": "hs_task_status", "propertyValue": "COMPLETED"}
    [done] = mapping.to_events(delivery("hubspot", task_event), ctx)
    assert done.type == EventType.TASK_UPDATED and done.data == {"task_key": task_action.idempotency_key,
                                                                 "status": "completed"}


@pytest.mark.parametrize(("payload", "field"), [
    ({"subscriptionType": "meeting.propertyChange", "objectId": 5, "portalId": 1, "eventId": 1,
      "occurredAt": 1772539200000, "propertyName": "hs_meeting_outcome", "propertyValue": "WEIRD",
      "associations": [{"toObjectType": "tickets", "toObjectId": "9001"}]}, "hs_meeting_outcome"),
    ({"objectType": "calls", "id": "8", "properties": {"hs_call_disposition": "unknown-guid"}}, "hs_call_disposition"),
    ({"subscriptionType": "ticket.propertyChange", "portalId": 1}, "objectId"),
])
def test_given_a_payload_that_does_not_map_then_mapping_error_names_the_field(ledger, ctx, payload, field):
    ledger.link("assist:D-1", "hubspot", "9001", "ticket")
    ledger.states["assist:D-1"] = state("assist:D-1", "assist", "assist-se", "closed")
    with pytest.raises(MappingError) as caught:
        mapping_for("hubspot").to_events(delivery("hubspot", json.loads(json.dumps(payload))), ctx)
    assert caught.value.field == field and caught.value.retry is False


def test_given_an_unknown_stage_or_role_then_mapping_error_names_it(ctx, ledger):
    ledger.link("assist:D-1", "hubspot", "9001", "ticket")
    for kind, payload, field in [(ActionKind.SET_STAGE, {"stage": "limbo"}, "stage"),
                                 (ActionKind.ASSIGN_OWNER, {"owner": "ceo"}, "owner")]:
        with pytest.raises(MappingError) as caught:
            mapping_for("hubspot").to_vendor(action("hubspot", kind, payload), ctx)
        assert caught.value.field == field and "known:" in caught.value.reason


def test_E1_E4_given_a_network_onboarding_then_its_contact_is_a_ticket_of_the_network_pipeline(ledger, tables, tenants):
    ctx = ledger.context("network", "hubspot", tables, tenants)
    mapping = mapping_for("hubspot")
    contact = action("hubspot", ActionKind.CREATE_RECORD, {"object": "contact", "fields": {
        "name": "Gîte Exemple", "email": "gite@pro.example.com", "network": "Réseau Sud", "origin": "diy"}},
        onboarding="network:S-1", rule="E1")
    assert written(mapping.to_vendor(contact, ctx)) == {"object": "tickets", "properties": {
        "subject": "Gîte Exemple", "network_contact_email": "gite@pro.example.com", "hs_pipeline": "28734902",
        "hs_pipeline_stage": "84562201"}}
    ledger.link("network:S-1", "hubspot", "9100", "contact")  # how the push flow links the first record
    booked = action("hubspot", ActionKind.SET_STAGE, {"stage": "appointment_booked"}, onboarding="network:S-1",
                    rule="E4")
    assert written(mapping.to_vendor(booked, ctx)) == {"record_id": "9100", "stage": "84562202",
                                                       "pipeline": "28734902"}


def test_reads_are_the_properties_the_mapping_reads_with_every_tenants_own(tables):
    custom = {**tables["hubspot"], "other": {**tables["hubspot"]["assist"], "restart_property": "starta_om",
                                              "resume_property": "pause_until"}}
    reads = mapping_for("hubspot").reads(custom)
    assert {"hs_pipeline_stage", "hubspot_owner_id", "hs_pipeline", "hs_lastmodifieddate", "kickoff_key",
            "restart_onboarding", "starta_om", "pause_until"} <= set(reads["tickets"])
    assert {"hs_meeting_outcome", "hs_meeting_start_time", "restart_onboarding", "starta_om"} <= set(reads["meetings"])
    assert {"hs_call_disposition", "hs_call_body"} <= set(reads["calls"])
    assert all(len(names) == len(set(names)) for names in reads.values())


def test_given_a_table_value_hubspot_does_not_have_then_the_table_is_refused(tables):
    table = {**tables["hubspot"]["assist"], "priorities": {"high": "URGENT"}}
    with pytest.raises(ValidationError) as refused:
        mapping_for("hubspot").Table.model_validate(table)
    assert refused.value.errors()[0]["loc"] == ("priorities", "high")


def test_given_typed_payloads_then_fingerprints_are_those_of_the_written_properties(ledger, ctx):
    ledger.link("assist:D-1", "hubspot", "9001", "ticket")
    mapping = mapping_for("hubspot")
    stage = mapping.to_vendor(action("hubspot", ActionKind.SET_STAGE, {"stage": "onboarding_in_progress"}), ctx)
    owner = mapping.to_vendor(action("hubspot", ActionKind.ASSIGN_OWNER, {"owner": "no_owner"}, n=1), ctx)
    assert written(owner) == {"record_id": "9001", "owner": ""}
    assert mapping.write_fingerprints(stage) == [
        ("9001", change_fingerprint("9001", "hs_pipeline_stage", STAGES["onboarding_in_progress"])),
        ("9001", change_fingerprint("9001", "hs_pipeline", "28734901"))]
    assert mapping.write_fingerprints(owner) == [("9001", change_fingerprint("9001", "hubspot_owner_id", ""))]
    note = mapping.to_vendor(action("hubspot", ActionKind.ADD_NOTE, {"body": "Hej"}, n=2), ctx)
    assert mapping.write_fingerprints(note) == []  # a creation is known by its id only after the push
    assert mapping.write_fingerprints(note, "77") == [("77", change_fingerprint("77", "(created)", ""))]
