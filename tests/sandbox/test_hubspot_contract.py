"""The HubSpot sandbox, driven through the unmodified ``hubspot-api-client``: every endpoint
Kickoff uses answers in HubSpot's shapes, limits and errors, and its webhooks are signed the
way HubSpot signs them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any, get_args

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    PublicObjectSearchRequest,
)
from hubspot.crm.objects.exceptions import ApiException
from urllib3.util.retry import Retry

from kickoff.tools.hubspot import (
    ASSOCIATION_TYPES,
    MEETING_OUTCOMES,
    NOTE_BODY_MAX,
    TaskPriority,
    TaskStatus,
    TaskType,
)
from sandbox.vendors.hubspot import signature_v1, signature_v2, signature_v3
from tests.webhook_receiver import WebhookReceiver

TOKEN = "hs-sandbox-token"
SECRET = "hs-sandbox-client-secret"
PIPELINE = "28734901"
STAGE_NY, STAGE_ONBOARDING = "84561201", "84561202"


@pytest.fixture
def client(sandbox, sandbox_server) -> HubSpot:
    """The official client pointed at the sandbox (its Configuration host), no urllib3 retries."""
    return HubSpot(access_token=TOKEN, host=sandbox_server.url, retry=Retry(0))


def events(receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [e for body in receiver.bodies for e in json.loads(body)]


@pytest.fixture
def receiver(sandbox) -> Iterator[WebhookReceiver]:
    with WebhookReceiver("/hooks/hubspot?tenant=avonova%3Ase", status=204) as hook:
        sandbox.set_webhook("hubspot", hook.url, secret=SECRET)
        yield hook


def ticket(client: HubSpot, subject: str = "SE Exempel AB", stage: str = STAGE_NY, **extra: str) -> Any:
    props = {"subject": subject, "hs_pipeline": PIPELINE, "hs_pipeline_stage": stage, **extra}
    return client.crm.tickets.basic_api.create({"properties": props})


def task_input(ticket_id: str, subject: str = "Ring huvudanvändaren", **extra: str) -> dict[str, Any]:
    return {"properties": {"hs_timestamp": "2026-03-02T08:00:00Z", "hs_task_subject": subject, **extra},
            "associations": [{"to": {"id": ticket_id},
                              "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 230}]}]}


def error_body(exc: ApiException) -> dict[str, Any]:
    return json.loads(exc.body)


def search(client: HubSpot, object_type: str = "tickets", **request: Any) -> Any:
    return client.crm.objects.search_api.do_search(object_type, PublicObjectSearchRequest(**request))


# --- configuration the connector and mappings read ----------------------------------------
def test_given_portal_when_reading_ticket_pipelines_then_onboarding_pipeline_has_stage_ids(client):
    pipelines = {p.label: p for p in client.crm.pipelines.pipelines_api.get_all("tickets").results}
    stages = {s.label: s.id for s in pipelines["Solutions Order/Faktura"].stages}
    assert list(stages) == ["Ny", "Onboarding – Pågår", "Må följas upp", "Manuell uppföljning",
                            "Inaktiva kunder", "Avslutad"]
    assert all(stage_id.isdigit() for stage_id in stages.values())
    assert "Support Pipeline" in pipelines


def test_given_portal_when_listing_owners_then_invented_people_with_ids(client):
    owners = client.crm.owners.owners_api.get_page().results
    assert owners and all(o.email.endswith("@example.com") and o.id.isdigit() for o in owners)


def test_given_wrong_or_missing_token_when_calling_then_hubspot_401_body(sandbox_server, sandbox):
    bad = HubSpot(access_token="not-the-token", host=sandbox_server.url, retry=Retry(0))
    with pytest.raises(Exception) as caught:
        bad.crm.tickets.basic_api.get_page()
    assert caught.value.status == 401
    assert json.loads(caught.value.body)["category"] == "INVALID_AUTHENTICATION"
    missing = requests.get(f"{sandbox_server.url}/crm/v3/objects/tickets", timeout=5)
    assert missing.status_code == 401 and missing.json()["status"] == "error"


# --- objects and batches --------------------------------------------------------------------
def test_given_ticket_when_created_then_timestamps_come_from_sandbox_clock(client, sandbox):
    sandbox.set_clock(at="2026-03-01T09:00:00+00:00", frozen=True)
    created = ticket(client)
    assert created.properties["createdate"] == "2026-03-01T09:00:00.000Z"
    sandbox.set_clock(advance_seconds=90)
    changed = client.crm.tickets.basic_api.update(created.id, {"properties": {"hs_pipeline_stage": STAGE_ONBOARDING}})
    assert changed.properties["hs_lastmodifieddate"] == "2026-03-01T09:01:30.000Z"


def test_given_a_portal_workflow_when_a_ticket_is_created_in_its_pipeline_then_it_gets_the_owner(client, sandbox):
    """The demo's portal gives new Solutions tickets the contracts team, so A5 must clear it."""
    sandbox.seed({"hubspot": {"workflows": [{"object": "tickets", "pipeline": PIPELINE,
                                             "set": {"hubspot_owner_id": "51200103"}}]}})
    assert ticket(client).properties["hubspot_owner_id"] == "51200103"
    assert ticket(client, hubspot_owner_id="51200101").properties["hubspot_owner_id"] == "51200101"
    other = client.crm.tickets.basic_api.create({"properties": {"subject": "Support", "hs_pipeline": "0",
                                                                "hs_pipeline_stage": "1"}})
    [kept] = [t for t in sandbox.get("hubspot", "records/tickets") if t["id"] == other.id]
    assert kept["properties"].get("hubspot_owner_id") is None


def test_given_101_inputs_when_batch_creating_then_refused_like_hubspot_and_nothing_created(client, sandbox):
    parent = ticket(client)
    inputs = [task_input(parent.id, f"Task {n}") for n in range(101)]
    with pytest.raises(ApiException) as caught:
        client.crm.objects.batch_api.create("tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    assert caught.value.status == 400
    body = error_body(caught.value)
    assert body["category"] == "VALIDATION_ERROR" and "100" in body["message"]
    assert sandbox.get("hubspot", "records/tasks") == []
    created = client.crm.objects.batch_api.create(
        "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs[:100]))
    assert len(created.results) == 100


def test_given_one_invalid_input_when_batch_creating_then_whole_batch_refused(client, sandbox):
    parent = ticket(client)
    inputs = [task_input(parent.id, "ok"), task_input(parent.id, "bad", hs_task_priority="URGENT")]
    with pytest.raises(ApiException) as caught:
        client.crm.objects.batch_api.create("tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
    body = error_body(caught.value)
    assert caught.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert "hs_task_priority" in body["message"] and "URGENT" in body["message"]
    assert sandbox.get("hubspot", "records/tasks") == []


def test_given_unknown_id_when_batch_updating_then_207_names_it_and_others_change(client):
    first, second = ticket(client), ticket(client)
    inputs = [{"id": first.id, "properties": {"hs_pipeline_stage": STAGE_ONBOARDING}},
              {"id": "999999999", "properties": {"hs_pipeline_stage": STAGE_ONBOARDING}},
              {"id": second.id, "properties": {"hubspot_owner_id": "51200101"}}]
    answer = client.crm.objects.batch_api.update("tickets", BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["999999999"]}
    assert {r.id for r in answer.results} == {first.id, second.id}


def test_given_stage_of_another_pipeline_when_updating_then_invalid_option(client):
    created = ticket(client)
    with pytest.raises(ApiException) as caught:
        client.crm.objects.basic_api.update("tickets", created.id, {"properties": {"hs_pipeline_stage": "4"}})
    assert caught.value.status == 400 and "INVALID_OPTION" in error_body(caught.value)["message"]


def test_given_tasks_and_notes_with_inline_associations_when_read_through_v4_then_both_directions(client):
    company = client.crm.companies.basic_api.create({"properties": {"name": "Exempel AB"}})
    parent = ticket(client)
    task = task_input(parent.id)
    task["associations"].append({"to": {"id": company.id}, "types": [
        {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 192}]})
    task_id = client.crm.objects.batch_api.create(
        "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task])).results[0].id
    note = {"properties": {"hs_timestamp": "2026-03-02T08:00:00Z", "hs_note_body": "Ny kund"},
            "associations": [{"to": {"id": parent.id}, "types": [
                {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 228}]}]}
    note_id = client.crm.objects.batch_api.create(
        "notes", BatchInputSimplePublicObjectBatchInputForCreate(inputs=[note])).results[0].id

    v4 = client.crm.associations.v4
    from_task = {r.to_object_id: [t.type_id for t in r.association_types]
                 for r in v4.basic_api.get_page("tasks", task_id, "tickets").results}
    assert from_task == {parent.id: [230]}
    assert [t.type_id for r in v4.basic_api.get_page("tasks", task_id, "companies").results
            for t in r.association_types] == [192]
    from_ticket = v4.batch_api.get_page("tickets", "tasks", {"inputs": [{"id": parent.id}]}).results
    assert [(r._from.id, r.to[0].to_object_id, r.to[0].association_types[0].type_id) for r in from_ticket] == [
        (parent.id, task_id, 229)]
    notes = v4.basic_api.get_page("tickets", parent.id, "notes").results
    assert [(r.to_object_id, r.association_types[0].type_id) for r in notes] == [(note_id, 227)]


def test_given_association_to_missing_record_when_creating_then_refused(client):
    with pytest.raises(ApiException) as caught:
        client.crm.objects.batch_api.create(
            "tasks", BatchInputSimplePublicObjectBatchInputForCreate(inputs=[task_input("424242")]))
    assert caught.value.status == 400 and "424242" in error_body(caught.value)["message"]


# --- search ---------------------------------------------------------------------------------
def test_given_changes_at_different_times_when_searching_modified_since_then_filtered_and_sorted(client, sandbox):
    sandbox.set_clock(at="2026-03-01T09:00:00+00:00", frozen=True)
    old = ticket(client, "SE Gammal")
    sandbox.set_clock(advance_seconds=60)
    cursor_ms = str(1772355660000)  # 2026-03-01T09:01:00Z
    newer = ticket(client, "SE Ny")
    sandbox.set_clock(advance_seconds=60)
    client.crm.tickets.basic_api.update(old.id, {"properties": {"hs_pipeline_stage": STAGE_ONBOARDING}})

    filters = [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": cursor_ms}]}]
    ascending = search(client, filter_groups=filters, limit=200, properties=["subject"],
                       sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}])
    assert [r.id for r in ascending.results] == [newer.id, old.id] and ascending.total == 2
    descending = search(client, filter_groups=filters, limit=200,
                        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "DESCENDING"}])
    assert [r.id for r in descending.results] == [old.id, newer.id]
    strictly_after = search(client, limit=200, filter_groups=[{"filters": [
        {"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "2026-03-01T09:01:00.000Z"}]}])
    assert [r.id for r in strictly_after.results] == [old.id]


def test_given_custom_key_property_when_searching_with_in_then_found(client):
    keyed = ticket(client, kickoff_key="key-one")
    ticket(client, kickoff_key="key-two")
    ticket(client)
    found = search(client, limit=200, properties=["kickoff_key"], filter_groups=[{"filters": [
        {"propertyName": "kickoff_key", "operator": "IN", "values": ["key-one", "key-three"]}]}])
    assert [(r.id, r.properties["kickoff_key"]) for r in found.results] == [(keyed.id, "key-one")]
    has = search(client, limit=200, filter_groups=[{"filters": [
        {"propertyName": "kickoff_key", "operator": "HAS_PROPERTY"}]}])
    assert has.total == 2


def test_given_limit_above_200_when_searching_then_400(client):
    with pytest.raises(ApiException) as caught:
        search(client, limit=201)
    assert caught.value.status == 400 and error_body(caught.value)["category"] == "VALIDATION_ERROR"


def test_given_more_than_10000_matches_when_paging_past_10000_then_400(client, sandbox):
    sandbox.seed({"hubspot": {"generate": {"tickets": {"count": 10_050, "step_ms": 1, "properties": {
        "subject": "SE Bulk {n}", "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_NY}}}}})
    request = {"limit": 200, "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
               "filter_groups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                               "value": "0"}]}]}
    last_page = search(client, after="9800", **request)
    assert last_page.total == 10_050 and len(last_page.results) == 200
    assert last_page.paging.next.after == "10000"
    with pytest.raises(ApiException) as caught:
        search(client, after=last_page.paging.next.after, **request)
    assert caught.value.status == 400 and error_body(caught.value)["category"] == "VALIDATION_ERROR"


# --- limits ---------------------------------------------------------------------------------
def test_given_ten_second_budget_spent_when_calling_again_then_429_with_hubspot_body_and_headers(
        sandbox_server, sandbox):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    url = f"{sandbox_server.url}/crm/v3/owners/"
    sandbox.set_time_scale(0.1)  # the 10 s window lasts 100 s of wall time: a slow machine cannot slide it
    try:
        answers = [session.get(url, timeout=5) for _ in range(101)]
    finally:
        sandbox.set_time_scale(1.0)
    assert all(a.status_code == 200 for a in answers[:100])
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "100"
    assert answers[0].headers["X-HubSpot-RateLimit-Remaining"] == "99"
    assert answers[99].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    refused = answers[100]
    assert refused.status_code == 429
    body = refused.json()
    assert body["status"] == "error" and body["errorType"] == "RATE_LIMIT"
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["correlationId"]
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert refused.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert int(refused.headers["X-HubSpot-RateLimit-Daily-Remaining"]) == 250_000 - 100


def test_given_daily_budget_spent_when_calling_then_429_daily_policy(client, sandbox):
    sandbox.set_limits("hubspot", daily=2)
    client.crm.owners.owners_api.get_page()
    client.crm.owners.owners_api.get_page()
    with pytest.raises(Exception) as caught:
        client.crm.owners.owners_api.get_page()
    assert caught.value.status == 429
    assert json.loads(caught.value.body)["policyName"] == "DAILY"
    assert caught.value.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_given_the_portals_time_zone_the_daily_budget_comes_back_at_midnight_there_not_at_midnight_utc(
        client, sandbox, sandbox_server):
    """HubSpot's usage guidelines: daily limits reset at midnight in the account's time zone;
    the account details (``GET /account-info/v3/details``) say which zone."""
    sandbox.seed({"hubspot": {"portal": {"time_zone": "Europe/Stockholm"}}})
    sandbox.set_limits("hubspot", daily=1)
    sandbox.set_clock(at="2026-03-02T22:30:00+00:00", frozen=True)  # 23:30 in Stockholm
    details = client.api_request({"method": "GET", "path": "/account-info/v3/details",
                                  "base_url": sandbox_server.url}).json()
    assert (details["timeZone"], details["utcOffset"], details["utcOffsetMilliseconds"]) == (
        "Europe/Stockholm", "+01:00", 3_600_000)
    with pytest.raises(Exception) as caught:  # the owners API's own ApiException class
        client.crm.owners.owners_api.get_page()
    assert caught.value.status == 429 and json.loads(caught.value.body)["policyName"] == "DAILY"
    sandbox.set_clock(at="2026-03-02T23:00:00+00:00", frozen=True)  # midnight there, 23:00 UTC
    assert client.crm.owners.owners_api.get_page().results is not None


def test_given_six_searches_in_one_second_when_searching_then_sixth_refused_by_search_limit(client):
    outcomes = []
    for _ in range(6):
        try:
            search(client, limit=1)
            outcomes.append(200)
        except ApiException as exc:
            outcomes.append((exc.status, error_body(exc)["policyName"]))
    assert outcomes == [200] * 5 + [(429, "SECONDLY")]


# --- webhooks -------------------------------------------------------------------------------
def test_given_published_vectors_when_signing_v1_and_v2_then_hubspot_values():
    secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
    body = (b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
            b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM",'
            b'"changeFlag":"NEW","appId":54321}]')
    assert signature_v1(secret, body) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
    assert signature_v2(secret, "GET", "https://www.example.com/webhook_uri", b"") == (
        "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e")
    assert signature_v3(secret, "POST", "https://www.example.com/webhook_uri", body, 1564113600000) != (
        signature_v3(secret, "POST", "https://www.example.com/webhook_uri", body, 1564113600001))


def expected_v3(method: str, url: str, body: bytes, timestamp: str) -> str:
    """HubSpot's formula, written out independently of the sandbox's signer."""
    uri = url
    for escape, char in {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
                         "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}.items():
        uri = uri.replace(escape, char)
    message = f"{method}{uri}{body.decode()}{timestamp}".encode()
    return base64.b64encode(hmac.new(SECRET.encode(), message, hashlib.sha256).digest()).decode()


def test_given_person_creates_and_moves_ticket_when_webhooks_sent_then_signed_event_arrays(sandbox, receiver):
    created = sandbox.act("hubspot", "tickets", properties={
        "subject": "SE Exempel AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_NY})
    sandbox.act("hubspot", f"tickets/{created['id']}", method="PATCH",
                properties={"hs_pipeline_stage": STAGE_ONBOARDING, "hubspot_owner_id": "51200102"})
    assert sandbox.flush_webhooks()

    assert len(receiver.received) == 2
    for post in receiver.received:
        assert post.header("x-hubspot-signature-v3") == expected_v3(
            "POST", receiver.url, post.body, post.header("x-hubspot-request-timestamp"))
        assert post.header("x-hubspot-signature") == hashlib.sha256(SECRET.encode() + post.body).hexdigest()
    creation, *changes = events(receiver)
    assert creation["subscriptionType"] == "ticket.creation" and creation["objectId"] == int(created["id"])
    assert {k for k in creation} >= {"eventId", "subscriptionId", "portalId", "appId", "occurredAt",
                                     "attemptNumber", "changeSource"}
    assert sorted((e["subscriptionType"], e["propertyName"], e["propertyValue"]) for e in changes) == [
        ("ticket.propertyChange", "hs_pipeline_stage", STAGE_ONBOARDING),
        ("ticket.propertyChange", "hubspot_owner_id", "51200102")]
    assert len({e["eventId"] for e in events(receiver)}) == 3


def test_given_person_books_meeting_when_webhook_sent_then_meeting_event_and_associations(client, sandbox, receiver):
    company = client.crm.companies.basic_api.create({"properties": {"name": "Exempel AB"}})
    parent = ticket(client)
    meeting = sandbox.act("hubspot", "meetings", ticket_id=parent.id, company_id=company.id,
                          properties={"hs_meeting_title": "Kick-off", "hs_timestamp": "2026-03-05T09:00:00Z"})
    sandbox.act("hubspot", f"meetings/{meeting['id']}", method="PATCH",
                properties={"hs_meeting_outcome": "NO_SHOW"})
    assert sandbox.flush_webhooks()

    kinds = [(e["subscriptionType"], e.get("propertyValue")) for e in events(receiver)]
    assert ("meeting.creation", None) in kinds and ("meeting.propertyChange", "NO_SHOW") in kinds
    linked = client.crm.associations.v4.basic_api.get_page("tickets", parent.id, "meetings").results
    assert [r.to_object_id for r in linked] == [meeting["id"]]
    stored = sandbox.get("hubspot", f"records/meetings/{meeting['id']}")
    assert stored["properties"]["hs_meeting_outcome"] == "NO_SHOW"
    assert {(a["toObjectType"], a["typeId"]) for a in stored["associations"]} == {("tickets", 206),
                                                                                  ("companies", 188)}


# --- what Kickoff's declaration says of HubSpot ---------------------------------------------
def test_given_the_declarations_enumerations_and_association_ids_then_hubspot_takes_every_one(client):
    """The payload models allow only these values, so each must be one HubSpot accepts."""
    company = client.crm.companies.basic_api.create({"properties": {"name": "Exempel AB"}}).id
    parent = ticket(client).id

    def linked(kind: str) -> list[dict[str, Any]]:
        return [{"to": {"id": to_id}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                  "associationTypeId": ASSOCIATION_TYPES[(kind, to_type)]}]}
                for to_type, to_id in (("tickets", parent), ("companies", company))]

    tasks = [{"properties": {"hs_timestamp": "2026-03-02T08:00:00Z", "hs_task_subject": f"{kind} {priority}",
                             "hs_task_type": kind, "hs_task_priority": priority, "hs_task_status": status},
              "associations": linked("tasks")}
             for kind in get_args(TaskType) for priority in get_args(TaskPriority) for status in get_args(TaskStatus)]
    note = {"properties": {"hs_timestamp": "2026-03-02T08:00:00Z", "hs_note_body": "x" * NOTE_BODY_MAX},
            "associations": linked("notes")}
    new_ticket = {"properties": {"subject": "SE Exempel AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_NY},
                  "associations": [{"to": {"id": company}, "types": [{
                      "associationCategory": "HUBSPOT_DEFINED",
                      "associationTypeId": ASSOCIATION_TYPES[("tickets", "companies")]}]}]}
    for kind, inputs in (("tasks", tasks), ("notes", [note]), ("tickets", [new_ticket])):
        created = client.crm.objects.batch_api.create(
            kind, BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs))
        assert len(created.results) == len(inputs)
    for outcome in MEETING_OUTCOMES:
        client.crm.objects.basic_api.create("meetings", {"properties": {
            "hs_timestamp": "2026-03-05T09:00:00Z", "hs_meeting_outcome": outcome}})
