"""Zendesk (retention-alerts): the feed's new tickets become alerts (by webhook when tags
say everything, by the export when custom fields hold the data); the engine's case writes
land on the account's ticket and come back as echoes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from connectors.zendesk import ZendeskConnector
from kickoff.events import EventType
from kickoff.model import ActionKind, ResultStatus
from kickoff.retry import FAST_POLICY
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, action, delivery, hooks, state

AM = 9100001
RETENTION = "retention-alerts"


@pytest.fixture
def zendesk(kickoff_config, seeded) -> ZendeskConnector:
    config = kickoff_config.tools["zendesk"]
    return ZendeskConnector(config.model_copy(update={"options": {"job_poll_seconds": 0.0}}), retry=FAST_POLICY)


@pytest.fixture
def ctx(ledger, tables, tenants):
    return ledger.context("retention", "zendesk", tables, tenants)


def new_alert(seeded, receiver, zendesk, **fields: Any) -> tuple[dict[str, Any], list[Any]]:
    seeded.set_webhook("zendesk", receiver.url)
    start = len(receiver.received)
    ticket = seeded.act("zendesk", "tickets", requester_email="owner@salon.example.com", **fields)
    return ticket, hooks(zendesk, seeded, receiver, start)


def test_W4_given_an_nps_answer_in_the_feed_then_nps_received_from_its_webhook(seeded, receiver, zendesk, ctx):
    ticket, [created] = new_alert(seeded, receiver, zendesk, subject="NPS", tags=["nps", "nps_score_5"],
                                  comment={"body": "Bien, mais l'agenda est lent"})
    [event] = mapping_for("zendesk").to_events(created, ctx)
    assert event.type == EventType.NPS_RECEIVED
    assert event.subject == f"retention:requester-{ticket['requester_id']}" and event.tenant == "retention"
    assert event.data == {"score": 5, "comment": "Bien, mais l'agenda est lent"}
    assert event.source.record_id == str(ticket["id"])


def test_W3_given_a_red_alert_with_its_date_in_a_field_then_the_export_brings_it_not_the_webhook(
        seeded, receiver, zendesk, ctx):
    ticket, [created] = new_alert(seeded, receiver, zendesk, subject="Alerte rouge", tags=["red_alert"],
                                  comment={"body": "RDV chez un concurrent"},
                                  custom_fields=[{"id": 360000102, "value": "Concurrent SA"},
                                                 {"id": 360000103, "value": "2026-03-20"}])
    mapping = mapping_for("zendesk")
    assert mapping.to_events(created, ctx) == []  # the webhook carries no custom field values
    seeded.set_clock(advance_seconds=120)  # the export leaves the last minute out
    [polled] = [d for d in zendesk.read_changes(None, now=NOW).deliveries if d.record_id == str(ticket["id"])]
    [event] = mapping.to_events(polled, ctx)
    assert event.type == EventType.RED_ALERT
    assert event.data == {"competitor": "Concurrent SA", "competitor_date": "2026-03-20", "low_nps": False}


def test_W6_W7_given_the_case_stage_changed_by_the_am_then_case_updated(seeded, receiver, zendesk, ledger, ctx):
    ticket, _ = new_alert(seeded, receiver, zendesk, subject="Churn", tags=["churn_risk"], comment={"body": "Part"})
    subject = f"retention:requester-{ticket['requester_id']}"
    ledger.states[subject] = state(subject, "retention", RETENTION, "new")
    start = len(receiver.received)
    seeded.act("zendesk", f"tickets/{ticket['id']}", method="PUT", custom_fields=[{"id": 360000101, "value": "waiting"}])
    [changed] = hooks(zendesk, seeded, receiver, start)
    [event] = mapping_for("zendesk").to_events(changed, ctx)
    assert (event.type, event.subject, event.data["status"]) == (EventType.CASE_UPDATED, subject, "waiting")


def test_W5_W6_given_case_writes_then_they_land_on_the_ticket_and_come_back_as_echoes(
        seeded, receiver, zendesk, ledger, ctx):
    ticket, _ = new_alert(seeded, receiver, zendesk, subject="NPS", tags=["nps", "nps_score_2"], comment={"body": "Bof"})
    subject = f"retention:requester-{ticket['requester_id']}"
    ledger.states[subject] = state(subject, "retention", RETENTION, "new")
    ledger.link(subject, "zendesk", str(ticket["id"]), "ticket")  # the alert ticket that opened the case
    mapping = mapping_for("zendesk")
    actions = [action("zendesk", ActionKind.ASSIGN_OWNER, {"owner": "am"}, onboarding=subject, rule="W5"),
               action("zendesk", ActionKind.SET_STAGE, {"stage": "in_progress"}, onboarding=subject, n=1, rule="W5")]
    vendor = [mapping.to_vendor(a, ctx) for a in actions]
    assert vendor[1].payload.model_dump(exclude_unset=True) == {"record_id": str(ticket["id"]), "status": "open",
                                 "custom_fields": [{"id": 360000101, "value": "in_progress"}],
                                 "add_tags": ["kickoff_in_progress"]}
    start = len(receiver.received)
    assert [r.status for r in zendesk.apply(vendor, NOW)] == [ResultStatus.DONE] * 2
    stored = next(t for t in seeded.get("zendesk", "records/tickets") if t["id"] == ticket["id"])
    assert (stored["assignee_id"], stored["status"]) == (AM, "open")

    echoes = hooks(zendesk, seeded, receiver, start)
    written = {fp for v in vendor for fp in mapping.write_fingerprints(v)}
    assert len(echoes) >= 3 and all(set(mapping.delivery_fingerprints(d)) <= written for d in echoes)
    assert all(mapping.to_events(d, ctx) == [] or d.payload["type"].endswith("custom_field_changed") for d in echoes)


def test_W2_given_an_opportunity_to_create_then_a_task_ticket_for_the_account(ctx):
    create = action("zendesk", ActionKind.CREATE_RECORD, {"object": "opportunity", "fields": {
        "type": "churn_risk", "description": "Risque de départ"}}, onboarding="retention:requester-42", rule="W2")
    assert mapping_for("zendesk").to_vendor(create, ctx).payload.model_dump(exclude_unset=True) == {
        "subject": "Churn risk opportunity: requester-42", "body": "Risque de départ", "type": "task",
        "priority": "high", "tags": ["churn_risk", "churn_risk_opportunity"], "requester_id": 42,
        "custom_fields": [{"id": 360000101, "value": "new"}]}


@pytest.mark.parametrize(("ticket", "field"), [
    ({"id": 5, "tags": ["nps"], "created_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z"},
     "organization_id"),
    ({"id": 6, "tags": ["nps", "nps_score_eleven"], "requester_id": 3, "created_at": "2026-03-02T09:00:00Z",
      "updated_at": "2026-03-02T09:00:00Z"}, "score"),
])
def test_given_a_feed_ticket_that_does_not_map_then_mapping_error_names_the_field(ctx, ticket, field):
    with pytest.raises(MappingError) as caught:
        mapping_for("zendesk").to_events(delivery("zendesk", {"event": "ticket.changed", "ticket": ticket}, kind="poll"),
                                         ctx)
    assert caught.value.field == field


def test_W1_given_a_trigger_webhook_then_the_tables_paths_read_its_ticket(seeded, receiver, zendesk, ctx):
    seeded.set_webhook("zendesk", receiver.url)
    ticket = seeded.act("zendesk", "tickets", requester_email="owner@salon.example.com", subject="Upsell",
                        tags=["upsell"], comment={"body": "Wants the booking module"})
    assert seeded.flush_webhooks()
    start = len(receiver.received)
    seeded.act("zendesk", f"tickets/{ticket['id']}/trigger", template={"ticket": {
        "id": "{{ticket.id}}", "created": "{{ticket.created_at}}", "updated": "{{ticket.updated_at_with_timestamp}}",
        "tags": "{{ticket.tags}}", "requester": "{{ticket.requester_id}}", "text": "{{ticket.description}}"}})
    [trigger] = hooks(zendesk, seeded, receiver, start)
    mapping = mapping_for("zendesk")
    with pytest.raises(MappingError) as unread:  # the default paths find no ticket in this template
        mapping.to_events(trigger, ctx)
    assert unread.value.field == "id"
    paths = {"id": "ticket.id", "created_at": "ticket.created", "updated_at": "ticket.updated",
             "tags": "ticket.tags", "requester_id": "ticket.requester", "description": ["ticket.text", "text"]}
    [event] = mapping.to_events(trigger, replace(ctx, table={**ctx.table, "trigger": paths}))
    assert (event.type, event.subject) == (EventType.UPSELL_REQUESTED, f"retention:requester-{ticket['requester_id']}")
    assert event.data == {"description": "Wants the booking module", "ticket_link": f"zendesk:ticket:{ticket['id']}"}
    assert event.source.record_id == str(ticket["id"])


@pytest.mark.parametrize(("status", "reported"), [("open", "open"), ("solved", "closed"), ("closed", "closed")])
def test_W2_given_a_churn_risk_opportunity_in_zendesk_then_its_status_is_reported(ledger, ctx, status, reported):
    """W2's "déjà créée": an opportunity still open in the tool, whoever made it."""
    subject = "retention:requester-42"
    ledger.states[subject] = state(subject, "retention", RETENTION, "new")
    ticket = {"id": 77, "requester_id": 42, "status": status, "subject": "Churn risk opportunity",
              "tags": ["churn_risk_opportunity"], "created_at": "2026-03-01T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z"}
    [event] = mapping_for("zendesk").to_events(
        delivery("zendesk", {"event": "ticket.changed", "ticket": ticket}, kind="poll"), ctx)
    assert (event.type, event.subject, event.data["case"], event.data["status"]) == (
        EventType.CASE_UPDATED, subject, "opportunity", reported)


def second_case(ledger) -> str:
    """An account whose first case (ticket 70) is closed and whose second (ticket 71) runs."""
    subject = "retention:requester-42"
    ledger.states[subject] = state(subject, "retention", RETENTION, "new",
                                   facts={"_cycle": {"n": 2, "started_at": "2026-09-01T08:00:00+00:00"}})
    ledger.link(subject, "zendesk", "70", "ticket")          # linked by the first case, before cycles
    ledger.link(f"{subject}#2", "zendesk", "71", "ticket")   # the ticket the second case came in on
    return subject


def test_W1_given_a_second_case_then_its_stage_and_owner_go_to_its_own_ticket(ledger, ctx):
    subject = second_case(ledger)
    mapping = mapping_for("zendesk")
    writes = [action("zendesk", ActionKind.SET_STAGE, {"stage": "in_progress"}, onboarding=subject, rule="W6"),
              action("zendesk", ActionKind.ASSIGN_OWNER, {"owner": "am"}, onboarding=subject, n=1, rule="W6"),
              action("zendesk", ActionKind.ADD_NOTE, {"body": "Red alert", "record": "contact"}, onboarding=subject,
                     n=2, rule="W3")]
    assert [mapping.to_vendor(a, ctx).payload.record_id for a in writes] == ["71", "71", "71"]


def test_W1_given_a_second_case_that_came_with_no_ticket_then_nothing_is_written_on_the_first_ones(ledger, ctx):
    subject = second_case(ledger)
    del ledger.links[("zendesk", "71")]
    with pytest.raises(MappingError) as caught:
        mapping_for("zendesk").to_vendor(
            action("zendesk", ActionKind.SET_STAGE, {"stage": "in_progress"}, onboarding=subject, rule="W6"), ctx)
    assert caught.value.field == "record_id"


@pytest.mark.parametrize(("ticket_id", "events"), [("70", 0), ("71", 1)])
def test_W1_given_a_change_on_the_first_cases_ticket_then_it_drives_nothing_of_the_second(
        ledger, ctx, ticket_id, events):
    """The old case's ticket marked lost months later does not close the case open now."""
    subject = second_case(ledger)
    ticket = {"id": int(ticket_id), "requester_id": 42, "status": "open", "tags": ["red_alert"],
              "custom_fields": [{"id": 360000101, "value": "lost"}],
              "created_at": "2026-03-01T09:00:00Z", "updated_at": "2026-09-02T09:00:00Z"}
    found = mapping_for("zendesk").to_events(delivery("zendesk", {"event": "ticket.changed", "ticket": ticket},
                                                      kind="poll"), ctx)
    assert [(e.type, e.subject, e.data["status"]) for e in found] == [
        (EventType.CASE_UPDATED, subject, "lost")] * events
