"""Salesforce (marketplace-classic): the Account a salesperson switches to classic onboarding
comes in as ``contract.signed`` (by Outbound Message and by poll alike); the engine's actions
land on the account and its cases; case changes come back as ``case.updated``."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.salesforce import SalesforceConnector
from kickoff.events import EventType
from kickoff.model import Action, ActionKind, Decision, ResultStatus
from kickoff.playbooks import decide, event_occasion, find_playbook
from kickoff.retry import FAST_POLICY
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, delivery, state

AM, TEAM_LEADER = "0055g00000001oxAAA", "0055g00000001owAAA"


@pytest.fixture
def salesforce(kickoff_config, seeded, tables) -> SalesforceConnector:
    """The connector reading what the mapping says it reads, as the runtime builds it."""
    return SalesforceConnector(kickoff_config.tools["salesforce"], retry=FAST_POLICY,
                               reads=mapping_for("salesforce").reads(tables["salesforce"]))


@pytest.fixture
def ctx(ledger, tables, tenants):
    return ledger.context("marketplace", "salesforce", tables, tenants)


def sign(seeded, receiver, salesforce) -> tuple[dict[str, Any], Any]:
    """A salesperson records the signed partner with self-onboarding unticked (T2)."""
    seeded.set_webhook("salesforce", receiver.url)
    account = seeded.act("salesforce", "records/Account", Name="Salon Exemple", Self_Onboarding__c=False,
                         Starting_Date__c="2026-03-12", Signature_Date__c="2026-03-02", Plan__c="Advanced",
                         Org_Number__c="FR-000-001")
    assert seeded.flush_webhooks()
    [hook] = salesforce.parse_webhook(receiver.request(len(receiver.received) - 1), NOW)
    return account, hook


def signed_and_decided(seeded, receiver, salesforce, ledger, ctx, tenants) -> tuple[dict[str, Any], Decision]:
    """The signed account (``sign``) and the playbook's decision on its event, the new state stored."""
    account, hook = sign(seeded, receiver, salesforce)
    [event] = mapping_for("salesforce").to_events(hook, ctx)
    decision = decide(None, event, NOW, find_playbook("marketplace-classic"), tz=tenants["marketplace"].zone,
                      tenant="marketplace")
    ledger.states[decision.state.id] = decision.state
    return account, decision


def push(salesforce: SalesforceConnector, ledger, ctx, actions: list[Action]) -> dict[str, str]:
    """Map and apply like the push flow: actions whose record is not created yet wait a round."""
    mapping, waiting, ids = mapping_for("salesforce"), list(actions), {}
    while waiting:
        ready, later = [], []
        for a in waiting:
            try:
                ready.append((a, mapping.to_vendor(a, ctx)))
            except MappingError as exc:
                assert exc.retry, exc
                later.append(a)
        assert ready, "nothing could be mapped"
        results = salesforce.apply([v for _, v in ready], NOW)
        assert [r.status for r in results] == [ResultStatus.DONE] * len(ready), [r.reason for r in results]
        for (a, _), r in zip(ready, results, strict=True):
            ids[a.idempotency_key] = r.external_id
            if a.kind in (ActionKind.CREATE_RECORD, ActionKind.CREATE_TASK):
                ledger.created(a, r.external_id, str(a.payload.get("object", "task")))
        waiting = later
    return ids


def test_T2_given_self_onboarding_unticked_then_contract_signed_alike_by_outbound_message_and_poll(
        seeded, receiver, salesforce, ctx):
    account, hook = sign(seeded, receiver, salesforce)
    mapping = mapping_for("salesforce")

    [by_hook] = mapping.to_events(hook, ctx)
    [by_poll] = [e for d in salesforce.read_changes(None, now=NOW).deliveries if d.record_id == account["Id"]
                 for e in mapping.to_events(d, ctx)]

    assert by_hook.type == EventType.CONTRACT_SIGNED and by_hook.subject == f"marketplace:{account['Id']}"
    assert by_hook.data == {"account_name": "Salon Exemple", "signed_on": "2026-03-02", "start_on": "2026-03-12",
                            "self_onboarding": False, "plan": "Advanced", "org_number": "FR-000-001"}
    assert by_poll.data == by_hook.data
    assert event_occasion(by_poll) == event_occasion(by_hook)  # the engine writes its actions once


def test_T1_T2_T6_T7_given_the_decision_then_account_cases_fee_and_tasks_are_written(
        seeded, receiver, salesforce, ledger, ctx, tenants):
    account, decision = signed_and_decided(seeded, receiver, salesforce, ledger, ctx, tenants)
    actions = [a for a in decision.actions if a.tool == "salesforce"]

    push(salesforce, ledger, ctx, actions)

    stored = seeded.get("salesforce", f"records/Account/{account['Id']}")
    assert (stored["Onboarding_Stage__c"], stored["OwnerId"]) == ("Training", AM)
    [case] = [c for c in seeded.get("salesforce", "records/Case") if c["AccountId"] == account["Id"]]
    assert (case["Subject"], case["OwnerId"], case["Status"]) == ("To train", AM, "New")
    [fee] = seeded.get("salesforce", "records/Opportunity")
    assert (fee["Amount"], fee["StageName"], fee["AccountId"]) == (149.0, "Closed Won", account["Id"])
    tasks = seeded.get("salesforce", "records/Task")
    on_case = [t for t in tasks if t.get("WhatId") == case["Id"]]
    assert {t["Subject"].split(":")[0] for t in on_case} == {"To train"}
    assert {t["OwnerId"] for t in on_case} == {AM} and len(on_case) == 3


def test_T9_T11_given_a_case_sent_for_validation_then_case_updated_and_our_close_is_an_echo(
        seeded, receiver, salesforce, ledger, ctx, tenants):
    _account, decision = signed_and_decided(seeded, receiver, salesforce, ledger, ctx, tenants)
    create_case = next(a for a in decision.actions if a.payload.get("object") == "case")
    ids = push(salesforce, ledger, ctx, [create_case])
    case_id = ids[create_case.idempotency_key]
    mapping = mapping_for("salesforce")

    seeded.act("salesforce", f"records/Case/{case_id}", method="PATCH", Status="Validation Requested",
               Description="1. ok\n2. ok")
    assert seeded.flush_webhooks()
    [changed] = salesforce.parse_webhook(receiver.request(len(receiver.received) - 1), NOW)
    [updated] = mapping.to_events(changed, ctx)
    assert updated.type == EventType.CASE_UPDATED and updated.subject == decision.state.id
    assert {k: updated.data[k] for k in ("case", "status", "owner")} == {
        "case": "to_train", "status": "validation_requested", "owner": "am"}

    close = Action(kind=ActionKind.SET_STAGE, tool="salesforce", onboarding_id=decision.state.id,
                   payload={"stage": "completed", "target": create_case.idempotency_key},
                   idempotency_key="close-to-train-0001", rule="T7", due_at=NOW)
    vendor_close = mapping.to_vendor(close, ctx)
    assert vendor_close.payload.model_dump(exclude_unset=True) == {
        "record_id": case_id, "object": "Case", "field": "Status", "stage": "Closed"}
    push(salesforce, ledger, ctx, [close])
    assert seeded.flush_webhooks()
    [echo] = salesforce.parse_webhook(receiver.request(len(receiver.received) - 1), NOW)
    written = set(mapping.write_fingerprints(vendor_close)) | set(
        mapping.write_fingerprints(mapping.to_vendor(create_case, ctx), external_id=case_id))
    assert set(mapping.delivery_fingerprints(echo)) <= written
    assert not set(mapping.delivery_fingerprints(changed)) <= written  # a person's change is not an echo


def test_given_a_known_account_with_the_same_starting_date_then_no_second_signature(ctx, ledger):
    fields = {"Id": "0015g00000000AAAAA", "Name": "Salon", "Self_Onboarding__c": "false",
              "Starting_Date__c": "2026-03-12", "SystemModstamp": "2026-03-02T09:00:00.000Z"}
    ledger.states["marketplace:0015g00000000AAAAA"] = state(
        "marketplace:0015g00000000AAAAA", "marketplace", "marketplace-classic", "training",
        start_on="2026-03-12")
    mapping = mapping_for("salesforce")
    assert mapping.to_events(delivery("salesforce", {"object": "Account", "fields": fields}), ctx) == []
    moved = {**fields, "Starting_Date__c": "2026-03-14"}
    [again] = mapping.to_events(delivery("salesforce", {"object": "Account", "fields": moved}), ctx)
    assert again.type == EventType.CONTRACT_SIGNED and again.data["start_on"] == "2026-03-14"


@pytest.mark.parametrize(("fields", "field"), [
    ({"Self_Onboarding__c": "false", "Starting_Date__c": "bientôt", "Name": "X"}, "Starting_Date__c"),
    ({"Self_Onboarding__c": "false", "Starting_Date__c": "2026-03-12"}, "Name"),
])
def test_given_an_account_that_does_not_map_then_mapping_error_names_the_field(ctx, fields, field):
    body = {"object": "Account", "fields": {"Id": "0015g00000000BBBBB", **fields}}
    with pytest.raises(MappingError) as caught:
        mapping_for("salesforce").to_events(delivery("salesforce", body), ctx)
    assert caught.value.field == field


def test_the_fields_read_are_the_ones_the_tables_name(tables):
    """The connector reads what the tenants' tables name (not a list kept in tools.yaml)."""
    mapping = mapping_for("salesforce")
    reads = mapping.reads(tables["salesforce"])
    assert set(reads) == {"Account", "Case", "Task"}
    assert {"Self_Onboarding__c", "Starting_Date__c", "Onboarding_Stage__c", "Appointments__c",
            "Venue_Online__c"} <= set(reads["Account"])
    assert {"Subject", "Status", "OwnerId", "AccountId"} <= set(reads["Case"])
    assert "Kickoff_Key__c" in reads["Task"]
    renamed = {**tables["salesforce"]["marketplace"]}
    renamed["account"] = {**renamed["account"], "starting_date": "Go_Live__c"}
    account = mapping.reads({"marketplace": renamed})["Account"]
    assert "Go_Live__c" in account and "Starting_Date__c" not in account
    assert mapping.reads({}) == {}


def test_given_a_stage_the_table_does_not_know_then_mapping_error_and_no_payload(ctx, ledger):
    ledger.states["marketplace:0015g00000000AAAAA"] = state(
        "marketplace:0015g00000000AAAAA", "marketplace", "marketplace-classic", "training")
    action = Action(kind=ActionKind.SET_STAGE, tool="salesforce", onboarding_id="marketplace:0015g00000000AAAAA",
                    payload={"stage": "nowhere"}, idempotency_key="stage-nowhere-0001", rule="T7", due_at=NOW)
    with pytest.raises(MappingError) as caught:
        mapping_for("salesforce").to_vendor(action, ctx)
    assert caught.value.field == "stage"
    owner = action.model_copy(update={"kind": ActionKind.ASSIGN_OWNER, "payload": {"owner": "am",
                                                                                 "record_id": "not-an-id"}})
    with pytest.raises(MappingError) as caught:
        mapping_for("salesforce").to_vendor(owner, ctx)
    assert caught.value.field == "payload.record_id"


def test_T4_given_sales_mark_the_webinar_registration_done_then_task_updated_and_to_train_says_so(
        seeded, receiver, salesforce, ledger, ctx, tenants):
    """The closed loop through the sandbox: Kickoff's T4 Task, completed by sales in Salesforce,
    is polled back as task.updated with its key, and the playbook notes it on To train."""
    _account, decision = signed_and_decided(seeded, receiver, salesforce, ledger, ctx, tenants)
    ids = push(salesforce, ledger, ctx, [a for a in decision.actions if a.tool == "salesforce"])
    [register] = [a for a in decision.actions if a.rule == "T4"]
    mapping = mapping_for("salesforce")
    before = salesforce.read_changes(None, now=NOW)
    keys = [e.data["task_key"] for d in before.deliveries for e in mapping.to_events(d, ctx)
            if e.type == EventType.TASK_UPDATED]
    assert register.idempotency_key not in keys  # only Kickoff's notes (completed Tasks) so far

    seeded.act("salesforce", f"records/Task/{ids[register.idempotency_key]}", method="PATCH", Status="Completed")
    done = [e for d in salesforce.read_changes(before.next_cursor, now=NOW).deliveries
            for e in mapping.to_events(d, ctx) if e.type == EventType.TASK_UPDATED]

    assert [(e.subject, e.data) for e in done] == [
        (decision.state.id, {"task_key": register.idempotency_key, "status": "completed"})]
    after = decide(decision.state, done[0], NOW, find_playbook("marketplace-classic"),
                   tz=tenants["marketplace"].zone, tenant="marketplace")
    [note] = [a for a in after.actions if a.rule == "T4"]
    assert note.kind is ActionKind.ADD_NOTE and note.payload["body"].startswith("Registered for the training webinar")
    assert after.state.facts["webinar_registered"] is True


@pytest.mark.parametrize(("case_id", "events"), [("500CYCLE1", 0), ("500CYCLE2", 1)])
def test_T11_given_the_first_onboardings_case_closed_again_then_it_drives_nothing_of_the_second(
        ledger, ctx, case_id, events):
    """A partner who came back (cycle 2, checking usage): closing the first onboarding's
    'Enable Marketplace' case again does not complete the second onboarding; its own does."""
    subject = "marketplace:001EXAMPLE"
    ledger.states[subject] = state(subject, "marketplace", "marketplace-classic", "check_usage", facts={
        "_cycle": {"n": 2}, "_records": {"enable_marketplace": "key-of-cycle-2"}})
    for record, key in (("500CYCLE1", "key-of-cycle-1"), ("500CYCLE2", "key-of-cycle-2")):
        ledger.link(key, "salesforce", record, "case")
        ledger.action_owner[key] = subject
    row = {"attributes": {"type": "Case"}, "Id": case_id, "Subject": "Enable Marketplace", "Status": "Closed",
           "AccountId": "001EXAMPLE", "SystemModstamp": "2026-09-10T09:00:00Z"}
    found = mapping_for("salesforce").to_events(delivery("salesforce", row, kind="poll", record_id=case_id), ctx)
    assert [(e.type, e.subject, e.data["case"], e.data["status"]) for e in found] == [
        (EventType.CASE_UPDATED, subject, "enable_marketplace", "completed")] * events
