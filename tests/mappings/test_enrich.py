"""Webhooks that are only notices, made whole by ``Connector.enrich``: one read of the record,
then the pure mapping turns them into events. Against the sandbox through the official
clients; what each step costs is read from the sandbox's request log."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests

from connectors.asana import AsanaConnector
from connectors.hubspot import HubSpotConnector
from connectors.zendesk import ZendeskConnector
from kickoff.events import EventType
from kickoff.model import ActionKind, Delivery, Event, ResultStatus
from kickoff.playbooks import decide, find_playbook, simulate
from kickoff.retry import FAST_POLICY
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, FakeLedger, action, hooks, state

HS_SECRET, HS_TOKEN = "hs-sandbox-client-secret", "hs-sandbox-token"
PIPELINE, STAGE_ONBOARDING = "28734901", "84561202"
SAM_ADVISOR = "51200104"
ONBOARDING = "assist:D-1"
ASANA_PROJECT = "1209500000000100"


@pytest.fixture
def hubspot(kickoff_config, seeded, tables) -> HubSpotConnector:
    return HubSpotConnector(kickoff_config.tools["hubspot"], retry=FAST_POLICY,
                            reads=mapping_for("hubspot").reads(tables["hubspot"]))


@pytest.fixture
def zendesk(kickoff_config, seeded, tables) -> ZendeskConnector:
    config = kickoff_config.tools["zendesk"]
    return ZendeskConnector(config.model_copy(update={"options": {"job_poll_seconds": 0.0}}), retry=FAST_POLICY,
                            reads=mapping_for("zendesk").reads(tables["zendesk"]))


def log_since(sandbox, vendor: str, seq: int) -> list[tuple[str, str]]:
    """(method, path) of the API calls the vendor answered after ``seq`` (admin routes excluded)."""
    return [(e["method"], e["path"]) for e in sandbox.requests(vendor, since=seq)
            if not e["path"].startswith("/_sandbox")]


def onboarding_ticket(sandbox, ledger: FakeLedger) -> tuple[str, str]:
    """A company and its onboarding ticket, linked in the crosswalk to a stored onboarding."""
    company = sandbox.act("hubspot", "records/companies", properties={"name": "Exempel Bygg AB"})["id"]
    ticket = sandbox.act("hubspot", "tickets", company_id=company, properties={
        "subject": "SE - Exempel Bygg AB", "hs_pipeline": PIPELINE, "hs_pipeline_stage": STAGE_ONBOARDING})["id"]
    ledger.link(ONBOARDING, "hubspot", ticket, "ticket")
    ledger.link(ONBOARDING, "hubspot", company, "company")
    ledger.states[ONBOARDING] = state(ONBOARDING, "assist", "assist-se", "onboarding_in_progress")
    assert sandbox.flush_webhooks()  # their creation webhooks are out before the test counts
    return company, ticket


# --- HubSpot --------------------------------------------------------------------------------
def test_A13_given_a_meeting_booked_on_the_ticket_when_enriched_then_one_read_and_meeting_booked(
        hubspot, seeded, receiver, ledger, tables, tenants):
    seeded.set_webhook("hubspot", receiver.url, secret=HS_SECRET)
    company, ticket = onboarding_ticket(seeded, ledger)
    start = len(receiver.received)
    ctx = ledger.context("assist", "hubspot", tables, tenants)
    mapping = mapping_for("hubspot")

    meeting = seeded.act("hubspot", "meetings", ticket_id=ticket, company_id=company, properties={
        "hs_timestamp": "2026-03-05T09:00:00Z", "hs_meeting_title": "Uppstartsmöte",
        "hs_meeting_start_time": "2026-03-05T09:00:00Z"})
    [notice] = hooks(hubspot, seeded, receiver, start)
    assert notice.payload["subscriptionType"] == "meeting.creation"
    with pytest.raises(MappingError) as bare:
        mapping.to_events(notice, ctx)
    assert bare.value.field == "associations"

    seq = seeded.last_seq()
    whole = hubspot.enrich(notice, NOW)

    assert log_since(seeded, "hubspot", seq) == [("GET", f"/crm/v3/objects/meetings/{meeting['id']}")]
    assert (whole.tool, whole.dedup_key, whole.kind, whole.record_id) == (
        notice.tool, notice.dedup_key, "webhook", notice.record_id)
    assert whole.payload["associations"]["tickets"]["results"][0]["id"] == ticket
    assert [r["id"] for r in whole.payload["associations"]["companies"]["results"]] == [company]
    [booked] = mapping.to_events(whole, ctx)
    assert (booked.type, booked.subject, booked.data["meeting_id"]) == (EventType.MEETING_BOOKED, ONBOARDING,
                                                                       meeting["id"])
    assert booked.data["start"].startswith("2026-03-05T09:00:00")
    assert booked.source.delivery_id == notice.dedup_key

    start = len(receiver.received)
    seeded.act("hubspot", f"meetings/{meeting['id']}", method="PATCH", properties={"hs_meeting_outcome": "COMPLETED"})
    [outcome] = hooks(hubspot, seeded, receiver, start)
    seq = seeded.last_seq()
    [completed] = mapping.to_events(hubspot.enrich(outcome, NOW), ctx)
    assert len(log_since(seeded, "hubspot", seq)) == 1
    assert completed.type == EventType.MEETING_COMPLETED and completed.subject == ONBOARDING
    assert completed.data["start"].startswith("2026-03-05T09:00:00")  # read, not in the one-property event


def test_given_notices_the_mapping_does_not_need_then_enrich_reads_nothing(hubspot, seeded, receiver, ledger):
    seeded.set_webhook("hubspot", receiver.url, secret=HS_SECRET)
    _company, ticket = onboarding_ticket(seeded, ledger)
    meeting = seeded.act("hubspot", "meetings", ticket_id=ticket, properties={"hs_timestamp": "2026-03-05T09:00:00Z"})
    assert seeded.flush_webhooks()
    start = len(receiver.received)
    seeded.act("hubspot", f"meetings/{meeting['id']}", method="PATCH", properties={"hs_meeting_title": "Nytt namn"})
    seeded.act("hubspot", f"tickets/{ticket}", method="PATCH", properties={"subject": "SE - Nytt namn"})
    notices = hooks(hubspot, seeded, receiver, start)
    assert {d.payload["subscriptionType"] for d in notices} == {"meeting.propertyChange", "ticket.propertyChange"}

    seq = seeded.last_seq()
    assert [hubspot.enrich(d, NOW) for d in notices] == notices
    assert log_since(seeded, "hubspot", seq) == []


def test_given_a_meeting_deleted_before_processing_then_the_delivery_comes_back_unchanged(
        hubspot, seeded, receiver, ledger, tables, tenants, kickoff_config):
    seeded.set_webhook("hubspot", receiver.url, secret=HS_SECRET)
    _company, ticket = onboarding_ticket(seeded, ledger)
    start = len(receiver.received)
    meeting = seeded.act("hubspot", "meetings", ticket_id=ticket, properties={"hs_timestamp": "2026-03-05T09:00:00Z"})
    [notice] = hooks(hubspot, seeded, receiver, start)
    base = kickoff_config.tools["hubspot"].base_url.rstrip("/")
    gone = requests.delete(f"{base}/crm/v3/objects/meetings/{meeting['id']}",
                           headers={"Authorization": f"Bearer {HS_TOKEN}"}, timeout=10)
    assert gone.status_code == 204

    seq = seeded.last_seq()
    assert hubspot.enrich(notice, NOW) == notice
    assert [(m, p) for m, p in log_since(seeded, "hubspot", seq)] == [("GET", f"/crm/v3/objects/meetings/{meeting['id']}")]
    with pytest.raises(MappingError) as failed:  # the mapping fails it with its reason
        mapping_for("hubspot").to_events(notice, ledger.context("assist", "hubspot", tables, tenants))
    assert failed.value.field == "associations"


def test_A14_given_the_meeting_outcome_and_the_company_owner_then_one_batch_update_each(
        hubspot, seeded, ledger, tables, tenants):
    company, ticket = onboarding_ticket(seeded, ledger)
    meetings = [seeded.act("hubspot", "meetings", ticket_id=ticket, properties={
        "hs_timestamp": f"2026-03-0{n}T09:00:00Z"})["id"] for n in (5, 6)]
    ctx = ledger.context("assist", "hubspot", tables, tenants)
    mapping = mapping_for("hubspot")
    actions = [action("hubspot", ActionKind.SET_STAGE, {"stage": "completed", "record": "meeting", "record_id": meetings[0]},
                      n=0, rule="A14"),
               action("hubspot", ActionKind.ASSIGN_OWNER, {"owner": "sam_advisor", "record": "company"}, n=1, rule="A14"),
               action("hubspot", ActionKind.SET_STAGE, {"stage": "no_show", "record": "meeting", "record_id": meetings[1]},
                      n=2, rule="A15")]
    vendor = [mapping.to_vendor(a, ctx) for a in actions]
    assert vendor[1].payload.model_dump(exclude_unset=True) == {"record_id": company, "owner": SAM_ADVISOR,
                                                                "object": "companies"}
    assert vendor[0].payload.model_dump(exclude_unset=True) == {
        "record_id": meetings[0], "object": "meetings", "property": "hs_meeting_outcome", "stage": "COMPLETED"}

    ticket_owner = seeded.get("hubspot", f"records/tickets/{ticket}")["properties"].get("hubspot_owner_id")
    seq = seeded.last_seq()
    results = hubspot.apply(vendor, NOW)

    assert [r.status for r in results] == [ResultStatus.DONE] * 3, [r.reason for r in results]
    assert [r.external_id for r in results] == [meetings[0], company, meetings[1]]
    assert sorted(log_since(seeded, "hubspot", seq)) == [("POST", "/crm/v3/objects/companies/batch/update"),
                                                          ("POST", "/crm/v3/objects/meetings/batch/update")]
    stored = {m["id"]: m["properties"] for m in seeded.get("hubspot", "records/meetings")}
    assert (stored[meetings[0]]["hs_meeting_outcome"], stored[meetings[1]]["hs_meeting_outcome"]) == ("COMPLETED",
                                                                                                      "NO_SHOW")
    assert seeded.get("hubspot", f"records/companies/{company}")["properties"]["hubspot_owner_id"] == SAM_ADVISOR
    assert seeded.get("hubspot", f"records/tickets/{ticket}")["properties"].get("hubspot_owner_id") == ticket_owner
    assert mapping.write_fingerprints(vendor[1])  # the company's owner change is recognised as our echo


# --- Zendesk --------------------------------------------------------------------------------
def new_ticket(sandbox, receiver, zendesk, **fields: Any) -> tuple[dict[str, Any], Delivery]:
    sandbox.set_webhook("zendesk", receiver.url)
    assert sandbox.flush_webhooks()
    start = len(receiver.received)
    ticket = sandbox.act("zendesk", "tickets", requester_email="owner@salon.example.com", **fields)
    [created] = hooks(zendesk, sandbox, receiver, start)
    return ticket, created


SEARCH = ("GET", "/api/v2/search.json")


def test_W3_given_a_red_alert_webhook_when_enriched_then_one_read_one_search_and_red_alert_with_its_date(
        zendesk, seeded, receiver, ledger, tables, tenants):
    ticket, created = new_ticket(seeded, receiver, zendesk, subject="Alerte rouge", tags=["red_alert"],
                                 comment={"body": "RDV chez un concurrent"},
                                 custom_fields=[{"id": 360000102, "value": "Concurrent SA"},
                                                {"id": 360000103, "value": "2026-03-20"}])
    ctx = ledger.context("retention", "zendesk", tables, tenants)
    mapping = mapping_for("zendesk")
    assert mapping.to_events(created, ctx) == []  # the bare event has no custom field values

    seq = seeded.last_seq()
    whole = zendesk.enrich(created, NOW)

    assert log_since(seeded, "zendesk", seq) == [("GET", f"/api/v2/tickets/{ticket['id']}.json"), SEARCH]
    assert (whole.dedup_key, whole.kind, whole.record_id) == (created.dedup_key, "webhook", created.record_id)
    [event] = mapping.to_events(whole, ctx)
    assert event.type == EventType.RED_ALERT
    assert event.subject == f"retention:requester-{ticket['requester_id']}"
    assert event.data == {"competitor": "Concurrent SA", "competitor_date": "2026-03-20", "low_nps": False,
                          "open_opportunity": False}  # W2: the account has no open opportunity
    assert mapping.delivery_fingerprints(whole) == mapping.delivery_fingerprints(created)


def test_given_zendesk_changes_or_a_deleted_ticket_then_enrich_leaves_the_delivery_as_it_came(
        zendesk, seeded, receiver):
    ticket, created = new_ticket(seeded, receiver, zendesk, subject="Alerte rouge", tags=["red_alert"],
                                 comment={"body": "x"}, custom_fields=[{"id": 360000103, "value": "2026-03-20"}])
    start = len(receiver.received)
    seeded.act("zendesk", f"tickets/{ticket['id']}", method="PUT", status="open")
    changes = hooks(zendesk, seeded, receiver, start)
    seq = seeded.last_seq()
    assert [zendesk.enrich(d, NOW) for d in changes] == changes
    assert log_since(seeded, "zendesk", seq) == []

    seeded.act("zendesk", f"tickets/{ticket['id']}", method="DELETE")
    seq = seeded.last_seq()
    assert zendesk.enrich(created, NOW) == created
    assert log_since(seeded, "zendesk", seq) == [("GET", f"/api/v2/tickets/{ticket['id']}.json")]


def test_given_the_zendesk_custom_fields_the_mapping_reads_then_enrich_reads_those_or_nothing(
        zendesk, kickoff_config, seeded, receiver, tables):
    ticket, created = new_ticket(seeded, receiver, zendesk, subject="Alerte rouge", tags=["red_alert"],
                                 comment={"body": "x"}, custom_fields=[{"id": 360000103, "value": "2026-03-20"},
                                                                       {"id": 360000999, "value": "not read"}])
    assert mapping_for("zendesk").reads(tables["zendesk"]) == {
        "custom_fields": ["360000101", "360000102", "360000103"],
        "opportunity_alerts": ["churn_risk", "downsell_risk", "red_alert"],
        "opportunity_tags": ["churn_risk_opportunity"], "accounts": ["organization_id", "requester_id"]}
    seq = seeded.last_seq()
    whole = zendesk.enrich(created, NOW)
    assert whole.payload["detail"]["custom_fields"] == [{"id": 360000103, "value": "2026-03-20"}]  # only what is read

    tags_only = {"retention": {**tables["zendesk"]["retention"], "case_field": None,
                               "alerts": [{"event": "upsell.requested", "tags_any": ["upsell"]}]}}
    bare = ZendeskConnector(kickoff_config.tools["zendesk"], retry=FAST_POLICY,
                            reads=mapping_for("zendesk").reads(tags_only))
    assert bare.enrich(created, NOW) == created
    assert log_since(seeded, "zendesk", seq) == [("GET", f"/api/v2/tickets/{ticket['id']}.json"),
                                                 SEARCH]  # the first only


@pytest.mark.parametrize(("status", "open_opportunity"), [("open", True), ("solved", False)])
def test_W2_given_a_churn_risk_when_enriched_then_one_search_reads_whether_the_account_has_an_open_opportunity(
        zendesk, seeded, receiver, ledger, tables, tenants, status, open_opportunity):
    """W2's "déjà créée": an opportunity a person opened for the account, read from Zendesk
    when the alert comes, whoever made it; one solved since does not count, nor one of
    another account."""
    made = seeded.act("zendesk", "tickets", requester_email="owner@salon.example.com", subject="Opportunité",
                      tags=["churn_risk_opportunity"], comment={"body": "Ouverte à la main"})
    seeded.act("zendesk", f"tickets/{made['id']}", method="PUT", status=status)
    seeded.act("zendesk", "tickets", requester_email="someone-else@example.com", subject="Opportunité",
               tags=["churn_risk_opportunity"], comment={"body": "Another account's"})
    ticket, created = new_ticket(seeded, receiver, zendesk, subject="Risque de churn", tags=["churn_risk"],
                                 comment={"body": "Parle de résilier"})

    seq = seeded.last_seq()
    whole = zendesk.enrich(created, NOW)

    assert log_since(seeded, "zendesk", seq) == [("GET", f"/api/v2/tickets/{ticket['id']}.json"), SEARCH]
    [event] = mapping_for("zendesk").to_events(whole, ledger.context("retention", "zendesk", tables, tenants))
    assert (event.type, event.data["open_opportunity"]) == (EventType.CHURN_RISK, open_opportunity)


# --- Asana ----------------------------------------------------------------------------------
@pytest.fixture
def asana(kickoff_config, seeded, tables) -> AsanaConnector:
    return AsanaConnector(kickoff_config.tools["asana"], retry=FAST_POLICY,
                          reads=mapping_for("asana").reads(tables["asana"]))


def test_W1_given_a_person_completes_a_kickoff_task_when_enriched_then_one_read_and_task_updated(
        asana, seeded, receiver, ledger, tables, tenants):
    subject = "retention:requester-42"
    task_action = action("asana", ActionKind.CREATE_TASK, {"subject": "Ring kunden", "due_at": "2026-03-03T08:00:00Z"},
                         onboarding=subject, rule="W3")
    task = seeded.act("asana", "tasks", name="Ring kunden", projects=[ASANA_PROJECT],
                      notes=f"Ring kunden\n\nkickoff-key: {task_action.idempotency_key}")
    ledger.created(task_action, task["gid"], "task")
    seeded.set_webhook("asana", receiver.url, secret="hook-secret")
    assert seeded.flush_webhooks()
    start = len(receiver.received)
    seeded.act("asana", f"tasks/{task['gid']}", method="PUT", completed=True)
    [notice] = hooks(asana, seeded, receiver, start)
    assert notice.payload["change"]["field"] == "completed"
    ctx = ledger.context("retention", "asana", tables, tenants)
    mapping = mapping_for("asana")
    assert mapping.to_events(notice, ctx) == []  # gids only

    seq = seeded.last_seq()
    whole = asana.enrich(notice, NOW)

    assert log_since(seeded, "asana", seq) == [("GET", f"/api/1.0/tasks/{task['gid']}")]
    assert (whole.dedup_key, whole.kind, whole.record_id) == (notice.dedup_key, "webhook", notice.record_id)
    [done] = mapping.to_events(whole, ctx)
    assert (done.type, done.subject, done.data) == (EventType.TASK_UPDATED, subject,
                                                    {"task_key": task_action.idempotency_key, "status": "completed"})


# --- tasks done in their tool: the closed loop ------------------------------------------------
def test_A6_given_the_pre_onboarding_task_done_in_hubspot_then_task_updated_and_the_call_follows(
        hubspot, seeded, receiver, ledger, tables, tenants):
    """Kickoff writes A6's task on the ticket, a person marks it done in HubSpot, the poll of
    tasks reads it as task.updated with the task's key, and the playbook brings A7's call (seed 002:
    "Pre-onboarding ... Ring huvudbrukare")."""
    seeded.set_webhook("hubspot", receiver.url, secret=HS_SECRET)
    _company, _ticket = onboarding_ticket(seeded, ledger)
    playbook, zone = find_playbook("assist-se"), tenants["assist"].zone
    contract = Event(id="ev-signed", type=EventType.CONTRACT_SIGNED, occurred_at=NOW - timedelta(days=10),
                     subject=ONBOARDING, data={"account_name": "Exempel Bygg AB", "signed_on": "2026-02-20",
                                               "start_on": "2026-02-26", "main_user_email": "anna@example.com"})
    moved = simulate(playbook, [contract], until=NOW, tz=zone, tenant="assist")
    state = moved.states[ONBOARDING]
    assert state.stage == "onboarding_in_progress" and not [a for a in moved.actions if a.action.rule == "A7"]
    ledger.states[ONBOARDING] = state
    [task] = [a.action for a in moved.actions if a.action.rule == "A6"]
    ctx = ledger.context("assist", "hubspot", tables, tenants)
    mapping = mapping_for("hubspot")
    [written] = hubspot.apply([mapping.to_vendor(task, ctx)], NOW)
    assert written.status is ResultStatus.DONE, written.reason
    ledger.created(task, written.external_id, "task")
    assert seeded.flush_webhooks()
    start, before = len(receiver.received), hubspot.read_changes(None, now=NOW)
    assert [e for d in before.deliveries for e in mapping.to_events(d, ctx) if e.type == EventType.TASK_UPDATED] == []

    seeded.act("hubspot", f"tasks/{written.external_id}", method="PATCH", properties={"hs_task_status": "COMPLETED"})
    assert hooks(hubspot, seeded, receiver, start) == []  # HubSpot sends no webhook for tasks: they are polled
    polled = hubspot.read_changes(before.next_cursor, now=NOW)
    assert "|tasks=" in polled.next_cursor
    [done] = [e for d in polled.deliveries for e in mapping.to_events(d, ctx)]

    assert (done.type, done.subject, done.data) == (EventType.TASK_UPDATED, ONBOARDING,
                                                    {"task_key": task.idempotency_key, "status": "completed"})
    decision = decide(state, done, NOW, playbook, tz=zone, tenant="assist")
    [call] = [a for a in decision.actions if a.rule == "A7"]
    assert call.kind is ActionKind.CREATE_TASK and call.payload["subject"].startswith("Call the main user")
    again = decide(decision.state, done, NOW, playbook, tz=zone, tenant="assist")
    assert again.actions == []  # the same completion heard twice calls once
