"""The HubSpot connector against the sandbox, through the official client over real HTTP.
Call counts are read from the sandbox's request log."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hubspot.crm.objects.exceptions import ApiException

from connectors.hubspot import HubSpotConnector, vendor_error
from kickoff.contracts.vendor import PayloadRefused, VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus, idempotency_key
from kickoff.retry import FAST_POLICY
from mappings.base import load_tables, mapping_for
from tests.webhook_receiver import WebhookReceiver

PIPELINE, STAGE_NY, STAGE_ONBOARDING, STAGE_CLOSED = "28734901", "84561201", "84561202", "84561206"
OWNER = "51200102"
TOKEN, CLIENT_SECRET = "hs-sandbox-token", "hs-sandbox-client-secret"
BATCH_CREATE = "/crm/v3/objects/{object_type}/batch/{operation}"
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
CONFIG = Path(__file__).resolve().parents[2] / "config"


def mapping_reads() -> dict[str, list[str]]:
    """What the HubSpot mapping reads, from the project's tables: what the factory passes."""
    return mapping_for("hubspot").reads(load_tables(CONFIG)["hubspot"])


def connector_for(kickoff_config, reads: dict[str, list[str]] | None = None, **options: Any) -> HubSpotConnector:
    tool = kickoff_config.tools["hubspot"].model_copy(update={"options": options})
    return HubSpotConnector(tool, retry=FAST_POLICY, reads=mapping_reads() if reads is None else reads)


@pytest.fixture
def hubspot(kickoff_config, sandbox) -> HubSpotConnector:
    return connector_for(kickoff_config)


def act(kind: ActionKind, payload: dict[str, Any], n: int = 0) -> VendorAction:
    """An action with its payload in HubSpot's terms, validated by the declared model."""
    action = Action(kind=kind, tool="hubspot", onboarding_id="onb-se-1", payload={},
                    idempotency_key=idempotency_key("onb-se-1", kind.value, n), rule="A8",
                    due_at=datetime(2026, 3, 2, 8, tzinfo=UTC))
    return VendorAction.of(action, payload)


def task(ticket_id: str, n: int = 0, **extra: Any) -> VendorAction:
    return act(ActionKind.CREATE_TASK, {"record_id": ticket_id, "subject": f"Ring huvudanvändaren #{n}",
                                        "due_at": "2026-03-02T08:00:00+00:00", "task_type": "CALL",
                                        "priority": "HIGH", "owner": OWNER, **extra}, n)


def new_ticket(sandbox, subject: str = "SE Exempel AB", stage: str = STAGE_NY) -> str:
    return sandbox.act("hubspot", "tickets", properties={"subject": subject, "hs_pipeline": PIPELINE,
                                                        "hs_pipeline_stage": stage})["id"]


def calls(sandbox, method: str, path_end: str, status: int | None = None) -> int:
    """Requests the sandbox answered for this method and path ending (faulted ones included)."""
    return sum(1 for e in sandbox.requests("hubspot")
               if e["method"] == method and e["path"].endswith(path_end) and (status is None or e["status"] == status))


def generated_tickets(kickoff_config, sandbox, subject: str, *, count: int, step_ms: int,
                      cap: int) -> HubSpotConnector:
    """``count`` tickets seeded ``step_ms`` apart, a search capped at ``cap`` results (in the
    sandbox and in the connector), and the connector to read them with."""
    sandbox.set_limits("hubspot", extra={"search_result_cap": cap})
    sandbox.seed({"hubspot": {"generate": {"tickets": {"count": count, "step_ms": step_ms, "properties": {
        "subject": subject, "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_NY}}}}})
    return connector_for(kickoff_config, search_result_cap=cap)


def records(sandbox, object_type: str) -> list[dict[str, Any]]:
    return sandbox.get("hubspot", f"records/{object_type}")


# --- writes ---------------------------------------------------------------------------------
def test_given_250_task_creations_when_applied_then_three_batch_calls(hubspot, sandbox):
    ticket_id = new_ticket(sandbox)
    actions = [task(ticket_id, n) for n in range(250)]

    results = hubspot.apply(actions, NOW)

    assert [r.status for r in results] == [ResultStatus.DONE] * 250
    assert [r.idempotency_key for r in results] == [a.idempotency_key for a in actions]
    assert calls(sandbox, "POST", "/tasks/batch/create") == 3
    assert calls(sandbox, "POST", "/search") == 0
    stored = {t["id"]: t for t in records(sandbox, "tasks")}
    assert {r.external_id for r in results} == set(stored)
    first = stored[results[0].external_id]
    assert first["properties"]["kickoff_key"] == actions[0].idempotency_key
    assert first["properties"]["hs_task_type"] == "CALL" and first["properties"]["hubspot_owner_id"] == OWNER
    assert {"toObjectType": "tickets", "toObjectId": ticket_id, "typeId": 230} in first["associations"]


def test_given_stage_and_owner_for_150_tickets_when_applied_then_two_merged_batch_updates(hubspot, sandbox):
    sandbox.seed({"hubspot": {"generate": {"tickets": {"count": 150, "properties": {
        "subject": "SE Kund {n}", "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_NY}}}}})
    ids = [t["id"] for t in records(sandbox, "tickets")]
    actions = [a for i, t in enumerate(ids) for a in (
        act(ActionKind.SET_STAGE, {"record_id": t, "stage": STAGE_ONBOARDING}, i),
        act(ActionKind.ASSIGN_OWNER, {"record_id": t, "owner": OWNER}, i))]

    results = hubspot.apply(actions, NOW)

    assert {r.status for r in results} == {ResultStatus.DONE}
    assert [r.external_id for r in results[:2]] == [ids[0], ids[0]]
    assert calls(sandbox, "POST", "/tickets/batch/update") == 2
    assert {(t["properties"]["hs_pipeline_stage"], t["properties"]["hubspot_owner_id"])
            for t in records(sandbox, "tickets")} == {(STAGE_ONBOARDING, OWNER)}


def test_given_no_owner_when_assigning_then_owner_cleared(hubspot, sandbox):
    ticket_id = new_ticket(sandbox)
    hubspot.apply([act(ActionKind.ASSIGN_OWNER, {"record_id": ticket_id, "owner": OWNER}, 1)], NOW)
    [result] = hubspot.apply([act(ActionKind.ASSIGN_OWNER, {"record_id": ticket_id, "owner": ""}, 2)], NOW)
    assert result.status is ResultStatus.DONE
    assert sandbox.get("hubspot", f"records/tickets/{ticket_id}")["properties"]["hubspot_owner_id"] is None


def test_given_unknown_ticket_in_batch_update_when_applied_then_only_it_fails(hubspot, sandbox):
    ticket_id = new_ticket(sandbox)
    results = hubspot.apply([act(ActionKind.SET_STAGE, {"record_id": ticket_id, "stage": STAGE_CLOSED}, 1),
                             act(ActionKind.SET_STAGE, {"record_id": "999999999", "stage": STAGE_CLOSED}, 2)], NOW)
    assert [r.status for r in results] == [ResultStatus.DONE, ResultStatus.PERMANENT]
    assert "Could not get some TICKET objects" in results[1].reason
    assert calls(sandbox, "POST", "/tickets/batch/update") == 1


def test_given_one_refused_input_when_batch_creating_then_others_created_once_and_it_fails_with_hubspot_message(
        hubspot, sandbox):
    ticket_id = new_ticket(sandbox)
    gone = "99999999"  # an owner id of the right shape that the portal does not know
    actions = [task(ticket_id, n, **({"owner": gone} if n == 6 else {})) for n in range(10)]

    results = hubspot.apply(actions, NOW)

    assert [r.status for r in results] == [ResultStatus.DONE] * 6 + [ResultStatus.PERMANENT] + [ResultStatus.DONE] * 3
    assert "VALIDATION_ERROR" in results[6].reason and "hubspot_owner_id" in results[6].reason
    assert gone in results[6].reason
    keys = [t["properties"]["kickoff_key"] for t in records(sandbox, "tasks")]
    assert sorted(keys) == sorted(a.idempotency_key for i, a in enumerate(actions) if i != 6)
    refused = calls(sandbox, "POST", "/tasks/batch/create", status=400)
    accepted = calls(sandbox, "POST", "/tasks/batch/create", status=201)
    # 10 refused -> 0-4 created, 5-9 refused -> 5-6 refused, 7-9 created -> 5 created, 6 refused
    assert (refused, accepted) == (4, 3)


def test_given_429_storm_when_creating_tasks_then_waits_and_finishes(hubspot, sandbox):
    sandbox.set_limits("hubspot", window_seconds=0.2)  # HubSpot's interval header then says 200 ms
    sandbox.add_fault(vendor="hubspot", kind="error", status=429, path="/batch/create", times=4)
    ticket_id = new_ticket(sandbox)

    results = hubspot.apply([task(ticket_id, n) for n in range(150)], NOW)

    assert {r.status for r in results} == {ResultStatus.DONE}
    assert calls(sandbox, "POST", "/tasks/batch/create", status=429) == 4
    assert calls(sandbox, "POST", "/tasks/batch/create", status=201) == 2
    assert len(records(sandbox, "tasks")) == 150


def test_given_ten_second_window_spent_when_creating_then_honours_hubspot_interval_of_one_second(
        kickoff_config, sandbox):
    hubspot = connector_for(kickoff_config)
    sandbox.set_limits("hubspot", requests=2, window_seconds=1)
    ticket_id = new_ticket(sandbox)
    started = time.monotonic()

    results = hubspot.apply([task(ticket_id, n) for n in range(250)], NOW)

    assert {r.status for r in results} == {ResultStatus.DONE}
    assert calls(sandbox, "POST", "/tasks/batch/create", status=429) >= 1
    assert time.monotonic() - started >= 0.9
    assert len(records(sandbox, "tasks")) == 250


def test_given_no_answer_on_task_creation_when_retried_then_found_by_key_and_not_created_twice(hubspot, sandbox):
    ticket_id = new_ticket(sandbox)
    sandbox.add_fault(vendor="hubspot", kind="no_answer", path="/tasks/batch/create", times=1)

    results = hubspot.apply([task(ticket_id, n) for n in range(3)], NOW)

    assert {r.status for r in results} == {ResultStatus.DONE}
    stored = records(sandbox, "tasks")
    assert len(stored) == 3
    assert {r.external_id for r in results} == {t["id"] for t in stored}
    assert calls(sandbox, "POST", "/tasks/batch/create") == 1
    assert calls(sandbox, "POST", "/tasks/search") == 1


def test_given_server_error_on_creation_when_retried_then_only_missing_keys_created(hubspot, sandbox):
    ticket_id = new_ticket(sandbox)
    sandbox.add_fault(vendor="hubspot", kind="error", status=502, path="/notes/batch/create", times=1)
    note = act(ActionKind.ADD_NOTE, {"record_id": ticket_id, "body": "Ny kund @koordinator"}, 1)

    [result] = hubspot.apply([note], NOW)

    assert result.status is ResultStatus.DONE
    assert calls(sandbox, "POST", "/notes/search") == 1
    assert [n["properties"]["kickoff_key"] for n in records(sandbox, "notes")] == [note.idempotency_key]


def test_given_note_ticket_and_completion_when_applied_then_written_with_associations(hubspot, sandbox):
    company_id = sandbox.act("hubspot", "records/companies", properties={"name": "Exempel AB"})["id"]
    ticket_id = new_ticket(sandbox)
    created = hubspot.apply([
        act(ActionKind.ADD_NOTE, {"record_id": ticket_id, "body": "Ny kund", "company_id": company_id}, 1),
        act(ActionKind.CREATE_RECORD, {"object": "ticket", "company_id": company_id, "properties": {
            "subject": "SE Exempel AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_NY}}, 2),
        task(ticket_id, 3, company_id=company_id)], NOW)
    assert {r.status for r in created} == {ResultStatus.DONE}
    note, new_ticket_id, task_id = (r.external_id for r in created)

    [completed] = hubspot.apply([act(ActionKind.COMPLETE_TASK, {"record_id": task_id}, 4)], NOW)

    assert completed.status is ResultStatus.DONE
    assert sandbox.get("hubspot", f"records/tasks/{task_id}")["properties"]["hs_task_status"] == "COMPLETED"
    links = {(a["toObjectType"], a["typeId"]) for a in sandbox.get("hubspot", f"records/notes/{note}")["associations"]}
    assert links == {("tickets", 228), ("companies", 190)}
    ticket_links = sandbox.get("hubspot", f"records/tickets/{new_ticket_id}")["associations"]
    assert {"toObjectType": "companies", "toObjectId": company_id, "typeId": 339} in ticket_links


@pytest.mark.parametrize(("kind", "payload", "field", "reason"), [
    (ActionKind.SET_STAGE, {"stage": STAGE_NY}, "record_id", "Field required"),
    (ActionKind.SET_STAGE, {"record_id": "7", "stage": "LATE", "object": "meeting"}, "payload", "names no 'property'"),
    (ActionKind.SET_STAGE, {"record_id": "7", "stage": "LATE", "object": "meetings", "property": "hs_meeting_outcome"},
     "payload", "not a meeting outcome"),
    (ActionKind.ASSIGN_OWNER, {"record_id": "7", "owner": "Anna"}, "owner", "pattern"),
    (ActionKind.ASSIGN_OWNER, {"record_id": "7", "owner": "1", "object": "deals"}, "object", "'tickets'"),
    (ActionKind.CREATE_TASK, {"record_id": "7", "subject": "Ring", "priority": "URGENT"}, "priority", "'HIGH'"),
    (ActionKind.CREATE_TASK, {"record_id": "7", "subject": "Ring", "task_type": "LINKED_IN"}, "task_type", "'TODO'"),
    (ActionKind.ADD_NOTE, {"record_id": "7", "body": "x" * 65_537}, "body", "65536"),
    (ActionKind.CREATE_RECORD, {"object": "contact", "properties": {}}, "object", "'tickets'"),
    (ActionKind.CREATE_TASK, {"record_id": "7", "subject": "Ring", "fields": {}}, "fields", "Extra inputs"),
    (ActionKind.NOTIFY, {"to": ["#onboarding"]}, "kind", "no such action"),
])
def test_given_a_payload_that_does_not_fit_hubspot_then_refused_before_any_call(sandbox, kind, payload, field, reason):
    with pytest.raises(PayloadRefused) as refused:
        act(kind, payload)
    assert (refused.value.tool, refused.value.field) == ("hubspot", field) and reason in refused.value.reason
    assert sandbox.requests("hubspot") == []


def test_given_a_meeting_outcome_and_a_company_owner_then_names_and_type_ids_are_read_as_object_types():
    outcome = act(ActionKind.SET_STAGE, {"record_id": 7, "stage": "NO_SHOW", "object": "0-47",
                                         "property": "hs_meeting_outcome"})
    owner = act(ActionKind.ASSIGN_OWNER, {"record_id": "8", "owner": "", "object": "company"})
    assert (outcome.payload.object, outcome.payload.record_id) == ("meetings", "7")
    assert outcome.payload.writes() == {"hs_meeting_outcome": "NO_SHOW"}
    assert (owner.payload.object, owner.payload.owner) == ("companies", "")


def test_given_wrong_token_when_applied_then_auth_results(kickoff_config, sandbox, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "revoked-token")
    results = connector_for(kickoff_config).apply([act(ActionKind.SET_STAGE, {"record_id": "1", "stage": "2"})],
                                                  NOW)
    assert results[0].status is ResultStatus.AUTH and "INVALID_AUTHENTICATION" in results[0].reason


# --- reads ----------------------------------------------------------------------------------
def test_given_ticket_changes_when_reading_incrementally_then_each_change_once(hubspot, sandbox):
    sandbox.set_clock(at="2026-03-01T09:00:00+00:00", frozen=True)
    first = new_ticket(sandbox, "SE Första")
    sandbox.set_clock(advance_seconds=1)
    second = new_ticket(sandbox, "SE Andra")

    initial = hubspot.read_changes(None, now=NOW)
    assert [d.record_id for d in initial.deliveries] == [first, second]
    assert {d.kind for d in initial.deliveries} == {"poll"}
    assert hubspot.read_changes(initial.next_cursor, now=NOW).deliveries == []

    sandbox.set_clock(advance_seconds=1)
    sandbox.act("hubspot", f"tickets/{first}", method="PATCH", properties={"hs_pipeline_stage": STAGE_ONBOARDING})
    changed = hubspot.read_changes(initial.next_cursor, now=NOW)
    assert [d.record_id for d in changed.deliveries] == [first]
    assert changed.deliveries[0].payload["properties"]["hs_pipeline_stage"] == STAGE_ONBOARDING
    assert changed.deliveries[0].dedup_key != initial.deliveries[0].dedup_key
    assert changed.next_cursor.startswith("1772355602000:")


def test_given_two_changes_in_the_same_millisecond_when_read_one_at_a_time_then_neither_lost_nor_repeated(
        hubspot, sandbox):
    sandbox.set_clock(at="2026-03-01T09:00:00+00:00", frozen=True)
    tickets = [new_ticket(sandbox, f"SE Samtidig {n}") for n in range(3)]

    seen, cursor = [], None
    for _ in range(3):
        result = hubspot.read_changes(cursor, limit=1, now=NOW)
        seen += [d.record_id for d in result.deliveries]
        cursor = result.next_cursor
    assert sorted(seen) == sorted(tickets)
    assert hubspot.read_changes(cursor, now=NOW).deliveries == []


def test_given_more_changes_than_the_search_cap_when_reading_then_restarts_and_misses_none(kickoff_config, sandbox):
    hubspot = generated_tickets(kickoff_config, sandbox, "SE Bulk {n}", count=1_000, step_ms=1, cap=300)

    result = hubspot.read_changes(None, now=NOW)

    assert len({d.record_id for d in result.deliveries}) == len(result.deliveries) == 1_000
    assert calls(sandbox, "POST", "/tickets/search", status=400) == 0
    assert calls(sandbox, "POST", "/tickets/search") == 6  # 200 a page, each restarting at its last timestamp


def test_given_more_ties_than_a_page_when_reading_then_steps_through_the_millisecond(kickoff_config, sandbox):
    hubspot = generated_tickets(kickoff_config, sandbox, "SE Import {n}", count=450, step_ms=0, cap=500)

    result = hubspot.read_changes(None, now=NOW)

    assert len({d.record_id for d in result.deliveries}) == 450
    assert calls(sandbox, "POST", "/tickets/search", status=400) == 0
    assert hubspot.read_changes(result.next_cursor, now=NOW).deliveries == []


def test_given_what_the_mapping_reads_then_polls_read_those_properties_and_the_connectors_own(
        kickoff_config, sandbox):
    sandbox.set_clock(at="2026-03-01T09:00:00+00:00", frozen=True)
    ticket_id = new_ticket(sandbox)
    sandbox.act("hubspot", f"tickets/{ticket_id}", method="PATCH", properties={"restart_onboarding": "Yes"})
    reads = mapping_reads()
    assert {"hs_pipeline_stage", "hubspot_owner_id", "restart_onboarding"} <= set(reads["tickets"])

    [full] = connector_for(kickoff_config).read_changes(None, now=NOW).deliveries
    [bare] = connector_for(kickoff_config, reads={}).read_changes(None, now=NOW).deliveries

    assert full.payload["properties"]["restart_onboarding"] == "Yes"
    assert full.payload["properties"]["hs_pipeline_stage"] == STAGE_NY
    # nothing but the connector's own (cursor; its key is unset, so left out as HubSpot's schema
    # has it) and what HubSpot adds to every read
    assert set(bare.payload["properties"]) == {"hs_lastmodifieddate", "createdate", "hs_object_id"}


def test_given_a_read_at_a_moment_then_deliveries_are_received_then_not_at_the_wall_clock(hubspot, sandbox):
    new_ticket(sandbox)
    moment = datetime(2031, 1, 2, 3, 4, tzinfo=UTC)
    [delivery] = hubspot.read_changes(None, now=moment).deliveries
    assert delivery.received_at == moment


@pytest.mark.parametrize(("policy", "now", "zone", "wait"), [
    ("DAILY", datetime(2026, 3, 2, 23, 0, tzinfo=UTC), "UTC", 3600.0),
    ("DAILY", datetime(2026, 3, 3, 0, 30, tzinfo=UTC), "UTC", 23.5 * 3600),
    # the portal's midnight: 23:00 UTC in Stockholm's winter, 04:00 UTC in New York's summer
    ("DAILY", datetime(2026, 3, 2, 22, 0, tzinfo=UTC), "Europe/Stockholm", 3600.0),
    ("DAILY", datetime(2026, 7, 1, 23, 0, tzinfo=UTC), "US/Eastern", 5 * 3600.0),
    ("SECONDLY", datetime(2026, 3, 2, 23, 0, tzinfo=UTC), "UTC", 1.0),
])
def test_given_a_429_then_the_wait_is_computed_from_the_time_passed_in(policy, now, zone, wait):
    exc = ApiException(status=429, reason="Too Many Requests")
    exc.body = json.dumps({"status": "error", "message": "You have reached your limit.", "errorType": "RATE_LIMIT",
                           "policyName": policy})
    exc.headers = {}
    error = vendor_error(exc, now, ZoneInfo(zone))
    assert error.retry_after == pytest.approx(wait) and "RATE_LIMIT" in error.reason


@pytest.mark.parametrize(("zone", "now", "reset"), [
    ("US/Eastern", datetime(2026, 3, 2, 9, 0, tzinfo=UTC), datetime(2026, 3, 3, 5, 0, tzinfo=UTC)),   # EST
    ("US/Eastern", datetime(2026, 7, 1, 9, 0, tzinfo=UTC), datetime(2026, 7, 2, 4, 0, tzinfo=UTC)),   # EDT
    ("Europe/Stockholm", datetime(2026, 3, 2, 23, 30, tzinfo=UTC), datetime(2026, 3, 3, 23, 0, tzinfo=UTC)),
])
def test_daily_limit_resets_at_midnight_in_the_portals_time_zone_read_once_from_its_account_details(
        kickoff_config, sandbox, zone, now, reset):
    """HubSpot's usage guidelines: the daily limits reset at midnight in the account's time zone
    setting (not UTC); the zone comes from ``GET /account-info/v3/details``, asked once."""
    sandbox.seed({"hubspot": {"portal": {"time_zone": zone}}})
    hubspot = connector_for(kickoff_config)
    since = sandbox.last_seq()
    assert hubspot.daily_resets_at(now) == reset
    assert hubspot.daily_resets_at(now + timedelta(hours=1)) == reset
    asked = [e for e in sandbox.requests("hubspot", since=since) if e["path"] == "/account-info/v3/details"]
    assert len(asked) == 1


def test_daily_limit_of_a_portal_whose_details_cannot_be_read_resets_at_midnight_utc(kickoff_config, sandbox, caplog):
    sandbox.add_fault(vendor="hubspot", kind="error", status=403, path="/account-info/v3/details", times=1)
    hubspot = connector_for(kickoff_config)
    assert hubspot.daily_resets_at(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) == datetime(2026, 3, 3, tzinfo=UTC)
    assert "time zone could not be read" in caplog.text


# --- webhooks -------------------------------------------------------------------------------
@pytest.fixture
def receiver(sandbox) -> Iterator[WebhookReceiver]:
    with WebhookReceiver("/webhooks/hubspot?tenant=avonova%3Ase") as hook:
        sandbox.set_webhook("hubspot", hook.url, secret=CLIENT_SECRET)
        yield hook


def person_moves_a_ticket(sandbox, receiver: WebhookReceiver) -> str:
    ticket_id = new_ticket(sandbox)
    sandbox.act("hubspot", f"tickets/{ticket_id}", method="PATCH", properties={"hs_pipeline_stage": STAGE_CLOSED})
    assert sandbox.flush_webhooks() and len(receiver.received) == 2
    return ticket_id


def test_given_hubspot_event_arrays_when_parsed_then_one_delivery_per_event(hubspot, sandbox, receiver):
    ticket_id = person_moves_a_ticket(sandbox, receiver)

    deliveries = [d for i in range(2) for d in hubspot.parse_webhook(receiver.request(i), NOW)]

    assert [d.payload["subscriptionType"] for d in deliveries] == ["ticket.creation", "ticket.propertyChange"]
    assert {d.record_id for d in deliveries} == {ticket_id}
    assert {d.received_at for d in deliveries} == {NOW}
    assert deliveries[1].payload["propertyValue"] == STAGE_CLOSED
    assert len({d.dedup_key for d in deliveries}) == 2 and all(d.kind == "webhook" for d in deliveries)


def test_given_legacy_event_type_when_parsed_then_read_as_subscription_type(hubspot):
    body = (b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
            b'"eventType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","appId":54321}]')
    [delivery] = hubspot.parse_webhook(WebhookRequest("POST", "https://example.com/h", {}, body), NOW)
    assert delivery.payload["subscriptionType"] == "contact.creation"
    assert (delivery.dedup_key, delivery.record_id) == ("62515:1", "123")


GOOD_EVENT = {"eventId": 7, "portalId": 62515, "objectId": 9, "occurredAt": 1564113600000,
              "subscriptionType": "ticket.propertyChange"}


@pytest.mark.parametrize(("body", "reason"), [
    (json.dumps(GOOD_EVENT).encode(), "not a JSON array"),
    (b"[1]", "event 0 is not an object"),
    (json.dumps([GOOD_EVENT, {**GOOD_EVENT, "subscriptionType": None}]).encode(), "event 1 has no subscriptionType"),
    (json.dumps([{**GOOD_EVENT, "eventId": "7"}]).encode(), "eventId is missing or not a number"),
    (json.dumps([{k: v for k, v in GOOD_EVENT.items() if k != "objectId"}]).encode(), "objectId"),
])
def test_given_malformed_body_when_parsed_then_400_with_reason(hubspot, body, reason):
    with pytest.raises(WebhookRejected) as caught:
        hubspot.parse_webhook(WebhookRequest("POST", "https://example.com/h", {}, body), NOW)
    assert caught.value.status == 400 and reason in caught.value.reason


def test_given_signed_delivery_when_verified_then_accepted(hubspot, sandbox, receiver):
    person_moves_a_ticket(sandbox, receiver)
    hubspot.verify_webhook(receiver.request(1), datetime.now(UTC))


def test_given_forged_body_or_url_when_verified_then_401(hubspot, sandbox, receiver):
    person_moves_a_ticket(sandbox, receiver)
    forged = receiver.received[1].body.replace(STAGE_CLOSED.encode(), STAGE_NY.encode())
    for request in (receiver.request(1, body=forged), receiver.request(1, url=receiver.url + "&x=1"),
                    receiver.request(1, method="PUT")):
        with pytest.raises(WebhookRejected) as caught:
            hubspot.verify_webhook(request, datetime.now(UTC))
        assert caught.value.status == 401


def test_given_stale_or_unsigned_delivery_when_verified_then_401(hubspot, sandbox, receiver):
    person_moves_a_ticket(sandbox, receiver)
    with pytest.raises(WebhookRejected, match="stale"):
        hubspot.verify_webhook(receiver.request(1), datetime.now(UTC) + timedelta(minutes=5, seconds=5))
    unsigned = {k: v for k, v in receiver.received[1].headers.items() if k.lower() != "x-hubspot-signature-v3"}
    with pytest.raises(WebhookRejected, match="X-HubSpot-Signature-v3"):
        hubspot.verify_webhook(receiver.request(1, headers=unsigned), datetime.now(UTC))


# --- secrets --------------------------------------------------------------------------------
def test_given_a_run_with_retries_and_rejections_when_logging_at_debug_then_no_secret_in_logs(
        hubspot, sandbox, receiver, caplog):
    caplog.set_level(logging.DEBUG)
    ticket_id = person_moves_a_ticket(sandbox, receiver)
    sandbox.add_fault(vendor="hubspot", kind="error", status=503, path="/tickets/batch/update", times=1)
    results = hubspot.apply([act(ActionKind.SET_STAGE, {"record_id": ticket_id, "stage": STAGE_ONBOARDING}),
                             task(ticket_id, 1)], NOW)
    hubspot.read_changes(None, now=NOW)
    with pytest.raises(WebhookRejected):
        hubspot.verify_webhook(receiver.request(1, body=b"[]"), datetime.now(UTC))

    assert {r.status for r in results} == {ResultStatus.DONE}
    assert "retrying" in caplog.text  # the run did log
    for secret in (TOKEN, CLIENT_SECRET):
        assert secret not in caplog.text
        assert all(secret not in (r.reason or "") for r in results)


def test_search_limit_is_shared_by_every_connector_on_one_limiter(kickoff_config, sandbox) -> None:
    """HubSpot's search API allows 5 calls a second per account, on top of the ten-secondly
    limit. Two workers (two connectors, one shared limiter: what the Prefect limit is across
    processes) searching at once stay under it together: no 429 from the search endpoint."""
    from connectors.ratelimit import WindowLimiter, configured_limits

    assert "hubspot.search" in configured_limits(kickoff_config.tools)
    shared = WindowLimiter(configured_limits(kickoff_config.tools))
    workers = [HubSpotConnector(kickoff_config.tools["hubspot"], retry=FAST_POLICY, limiter=shared) for _ in range(2)]
    errors: list[Exception] = []

    def search_keys(connector: HubSpotConnector) -> None:
        try:
            for n in range(6):
                connector._find_keys("tasks", [f"no-such-key-{n}"])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=search_keys, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert calls(sandbox, "POST", "/tasks/search") == 12
    assert calls(sandbox, "POST", "/tasks/search", status=429) == 0
