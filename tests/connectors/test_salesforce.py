"""The Salesforce connector against the sandbox, through the unmodified simple-salesforce."""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest

from connectors.salesforce import SalesforceConnector, soap_ack
from kickoff.contracts.vendor import PayloadRefused, VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus
from kickoff.retry import FAST_POLICY, RetryPolicy
from kickoff.settings import Config
from kickoff.tools import spec
from sandbox.control import SandboxControl
from sandbox.vendors.salesforce import id18

COLLECTION = "PATCH composite/sobjects"
UPSERT = "PATCH composite/sobjects/Task/Kickoff_Key__c"
QUERY_ALL = "GET queryAll/"
QUERY_MORE = "GET queryAll/<locator>"
DUE = datetime(2026, 6, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 5, 4, 10, tzinfo=UTC)
CASES = {"Case": ["Subject", "Status", "OwnerId", "AccountId"]}
"""Standard fields only: the tenant's custom fields exist only in an org seeded with
sandbox/fixtures/default.yaml, which these tests do not load."""


def _connector(config: Config, *, retry: RetryPolicy = FAST_POLICY,
               reads: dict[str, list[str]] | None = None, **options: Any) -> SalesforceConnector:
    """The connector reading ``reads`` (what the mapping would ask for; default: cases)."""
    tool = config.tools["salesforce"]
    tool = tool.model_copy(update={"options": {**tool.options, **options}})
    return SalesforceConnector(tool, retry=retry, reads=CASES if reads is None else reads)


def _action(kind: ActionKind, key: str, **payload: Any) -> VendorAction:
    return VendorAction.of(Action(kind=kind, tool="salesforce", onboarding_id="onb-1", payload={},
                                  idempotency_key=key, rule="T1", due_at=DUE), payload)


def _calls(sandbox: SandboxControl) -> dict[str, int]:
    """Calls per "METHOD path after /services/data/vXX.X/" (query locators folded), from the request log."""
    seen: Counter[str] = Counter()
    for r in sandbox.requests("salesforce"):
        path = r["path"].split("/", 4)[-1] if r["path"].startswith("/services/data/") else r["path"]
        endpoint, _, locator = path.partition("/")
        if endpoint in ("query", "queryAll") and locator:
            path = f"{endpoint}/<locator>"
        seen[f"{r['method']} {path}"] += 1
    return dict(seen)


def _seed_cases(sandbox: SandboxControl, n: int) -> list[str]:
    sandbox.seed({"salesforce": {"records": {"Case": [{"Subject": f"Onboarding {i}"} for i in range(n)]}}})
    return [c["Id"] for c in sandbox.get("salesforce", "records/Case")]


def _tasks(n: int, prefix: str = "task", **payload: Any) -> list[VendorAction]:
    return [_action(ActionKind.CREATE_TASK, f"{prefix}-key-{i:04d}", subject=f"Call {i}", due_at=DUE.isoformat(),
                     **payload) for i in range(n)]


# --- writes ----------------------------------------------------------------------------------

def test_given_450_case_stage_changes_when_applied_then_three_collection_calls(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    ids = _seed_cases(sandbox, 450)
    actions = [_action(ActionKind.SET_STAGE, f"stage-key-{i:04d}", record_id=rid, stage="Working")
               for i, rid in enumerate(ids)]
    results = _connector(kickoff_config).apply(actions, NOW)
    assert [r.status for r in results] == [ResultStatus.DONE] * 450
    assert [r.external_id for r in results] == ids
    assert _calls(sandbox) == {COLLECTION: 3}
    assert {c["Status"] for c in sandbox.get("salesforce", "records/Case")} == {"Working"}


def test_given_stage_and_owner_for_one_case_when_applied_then_one_row_answers_both(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    (case,) = _seed_cases(sandbox, 1)
    owner = id18("0055g00000AlexE")
    sandbox.seed({"salesforce": {"users": [{"Id": owner, "Name": "Alex Example"}]}})
    actions = [_action(ActionKind.SET_STAGE, "stage-key-1", record_id=case, stage="Escalated"),
               _action(ActionKind.ASSIGN_OWNER, "owner-key-1", record_id=case, owner=owner)]
    assert [r.status for r in _connector(kickoff_config).apply(actions, NOW)] == [ResultStatus.DONE] * 2
    assert _calls(sandbox) == {COLLECTION: 1}
    changed = sandbox.get("salesforce", f"records/Case/{case}")
    assert (changed["Status"], changed["OwnerId"]) == ("Escalated", owner)


def test_given_some_records_refused_when_applied_then_they_fail_with_vendor_reason_and_accepted_are_not_resent(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    ids = _seed_cases(sandbox, 3)
    actions = [_action(ActionKind.SET_STAGE, f"stage-key-{i}", record_id=rid, stage=stage)
               for i, (rid, stage) in enumerate(zip(ids, ["Working", "Someday", "Closed"], strict=True))]
    actions += _tasks(2) + [_action(ActionKind.CREATE_TASK, "task-key-bad", subject="x", status="Maybe")]
    results = _connector(kickoff_config).apply(actions, NOW)
    assert [r.status for r in results] == [ResultStatus.DONE, ResultStatus.PERMANENT, ResultStatus.DONE,
                                           ResultStatus.DONE, ResultStatus.DONE, ResultStatus.PERMANENT]
    assert results[1].reason == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: bad value for restricted picklist field: Someday"
    assert results[5].reason.startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    assert _calls(sandbox) == {COLLECTION: 1, UPSERT: 1}  # nothing sent twice
    assert sorted(t["Kickoff_Key__c"] for t in sandbox.get("salesforce", "records/Task")) == [
        "task-key-0000", "task-key-0001"]


def test_given_creations_when_applied_then_keyed_by_idempotency_key_and_repeats_do_not_duplicate(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    (case,) = _seed_cases(sandbox, 1)
    actions = [*_tasks(2, record_id=case),
               _action(ActionKind.ADD_NOTE, "note-key-0001", record_id=case, body="Customer prefers mornings"),
               _action(ActionKind.CREATE_RECORD, "case-key-0001", object="Case", fields={"Subject": "Go-live"})]
    connector = _connector(kickoff_config)
    first = connector.apply(actions, NOW)
    again = connector.apply(actions, NOW)
    assert [r.status for r in first] == [ResultStatus.DONE] * 4
    assert [r.external_id for r in again] == [r.external_id for r in first]
    tasks = sandbox.get("salesforce", "records/Task")
    assert len(tasks) == 3 and {t["WhatId"] for t in tasks} == {case}
    note = next(t for t in tasks if t["Kickoff_Key__c"] == "note-key-0001")
    assert (note["Status"], note["Description"]) == ("Completed", "Customer prefers mornings")
    assert next(t for t in tasks if t["Kickoff_Key__c"] == "task-key-0000")["ActivityDate"] == "2026-06-01"
    assert len(sandbox.get("salesforce", "records/Case")) == 2


def test_given_creation_applied_but_answer_lost_when_retried_then_found_by_key_and_not_duplicated(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    sandbox.add_fault(vendor="salesforce", method="PATCH", path="composite/sobjects/Task", kind="no_answer", times=1)
    results = _connector(kickoff_config).apply(_tasks(3), NOW)
    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    tasks = sandbox.get("salesforce", "records/Task")
    assert len(tasks) == 3
    assert {r.external_id for r in results} == {t["Id"] for t in tasks}
    counts = _calls(sandbox)
    assert counts[UPSERT] == 1 and counts[QUERY_ALL] == 1  # looked up by Kickoff_Key__c, not re-sent


def test_given_429_storm_when_updating_cases_then_waits_out_retry_after_and_finishes(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    ids = _seed_cases(sandbox, 5)
    sandbox.add_fault(vendor="salesforce", path="composite/sobjects", kind="error", status=429, times=2)
    started = time.monotonic()
    results = _connector(kickoff_config).apply(
        [_action(ActionKind.SET_STAGE, f"stage-key-{i}", record_id=rid, stage="Working") for i, rid in enumerate(ids)],
        NOW)
    assert time.monotonic() - started >= 2.0  # Retry-After: 1, twice
    assert [r.status for r in results] == [ResultStatus.DONE] * 5
    assert [(r["method"], r["status"]) for r in sandbox.requests("salesforce")] == [
        ("PATCH", 429), ("PATCH", 429), ("PATCH", 200)]


def test_given_daily_allocation_spent_when_pushing_then_stops_and_reports_retry_later(
        kickoff_config: Config, sandbox: SandboxControl, caplog: pytest.LogCaptureFixture) -> None:
    ids = _seed_cases(sandbox, 450)
    sandbox.set_limits("salesforce", daily=1)
    actions = [_action(ActionKind.SET_STAGE, f"stage-key-{i:04d}", record_id=rid, stage="Working")
               for i, rid in enumerate(ids)] + _tasks(2)
    with caplog.at_level(logging.WARNING, logger="kickoff.connectors.salesforce"):
        results = _connector(kickoff_config).apply(actions, NOW)
    assert [r.status for r in results[:200]] == [ResultStatus.DONE] * 200
    rest = results[200:]
    assert {r.status for r in rest} == {ResultStatus.RETRYABLE}
    assert {r.retry_after for r in rest} == {3600.0}
    assert {r.reason for r in rest} == {"REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded."}
    assert _calls(sandbox) == {COLLECTION: 2}  # the third batch and the tasks were not sent
    assert "pushes stopped" in caplog.text


def test_given_wrong_session_when_pushing_then_auth_result_and_no_retry(
        kickoff_config: Config, sandbox: SandboxControl, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALESFORCE_SESSION_ID", "00Dexpired!session")
    ids = _seed_cases(sandbox, 2)
    results = _connector(kickoff_config).apply(
        [_action(ActionKind.SET_STAGE, f"stage-key-{i}", record_id=rid, stage="Working") for i, rid in enumerate(ids)]
        + _tasks(1), NOW)
    assert {r.status for r in results} == {ResultStatus.AUTH}
    assert results[0].reason == "INVALID_SESSION_ID: Session expired or invalid"
    assert _calls(sandbox) == {COLLECTION: 1}


@pytest.mark.parametrize(("kind", "payload", "field"), [
    (ActionKind.SET_STAGE, {"stage": "Working"}, "record_id"),
    (ActionKind.SET_STAGE, {"record_id": "a0B5g000000001AAAA", "stage": "Working"}, "payload"),
    (ActionKind.ASSIGN_OWNER, {"record_id": "5005g000000001AAAA", "owner": "am"}, "owner"),
    (ActionKind.CREATE_RECORD, {"object": "Case", "fields": {"Kickoff_Key__c": "x"}}, "payload"),
    (ActionKind.CREATE_TASK, {"subject": "x", "colour": "red"}, "colour"),
    (ActionKind.NOTIFY, {"body": "hi"}, "kind"),
])
def test_given_bad_payloads_then_refused_where_they_are_made_and_never_sent(
        kind: ActionKind, payload: dict[str, Any], field: str) -> None:
    """The declaration's models refuse a payload the connector could not write, or would
    write wrong, before it exists: no vendor call can follow."""
    with pytest.raises(PayloadRefused) as refused:
        _action(kind, "bad-key-0001", **payload)
    assert refused.value.field == field


def test_the_ack_is_the_declared_one() -> None:
    assert soap_ack() == spec("salesforce").webhooks.ack_body


# --- reads ---------------------------------------------------------------------------------------

def test_given_changes_when_polling_then_one_delivery_per_change_and_cursor_advances(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    connector = _connector(kickoff_config, reads={**CASES, "Account": ["Name", "Self_Onboarding__c"]})
    case = sandbox.act("salesforce", "records/Case", Subject="Kickoff")
    sandbox.act("salesforce", "records/Account", Name="Acme AS", Self_Onboarding__c=True)
    first = connector.read_changes(None, now=NOW)
    assert [d.payload["object"] for d in first.deliveries] == ["Case", "Account"]
    assert first.deliveries[0].dedup_key == f"salesforce:{case['Id']}:{case['SystemModstamp'][:23]}Z"
    assert {d.kind for d in first.deliveries} == {"poll"}
    assert connector.read_changes(first.next_cursor, now=NOW).deliveries == []
    sandbox.set_clock(advance_seconds=60)
    sandbox.act("salesforce", f"records/Case/{case['Id']}", method="PATCH", Status="Working")
    later = connector.read_changes(first.next_cursor, now=NOW)
    assert [(d.record_id, d.payload["Status"]) for d in later.deliveries] == [(case["Id"], "Working")]
    queries = [r["path"] for r in sandbox.requests("salesforce")]
    assert all(p.endswith("/queryAll/") for p in queries)  # deletions come along as IsDeleted
    assert {d.received_at for d in first.deliveries + later.deliveries} == {NOW}


def test_given_reads_when_polling_then_only_those_objects_and_fields_are_read(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    """What a row carries is what the mapping asked for, plus what the cursor and tombstones need."""
    sandbox.act("salesforce", "records/Case", Subject="Kickoff")
    sandbox.act("salesforce", "records/Account", Name="Acme AS")
    (row,) = _connector(kickoff_config, reads={"Case": ["Status"]}).read_changes(None, now=NOW).deliveries
    assert set(row.payload) == {"Id", "IsDeleted", "SystemModstamp", "Status", "object"}
    assert _calls(sandbox) == {QUERY_ALL: 1}
    assert _connector(kickoff_config, reads={}).read_changes(None, now=NOW).deliveries == []


def test_given_records_stamped_at_the_cursor_when_polled_again_then_none_skipped_none_repeated(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    """Airbyte #27146: a record committed with the same SystemModstamp as the cursor after the read."""
    connector = _connector(kickoff_config)
    sandbox.set_clock(at="2026-05-04T10:00:00.250000+00:00", frozen=True)
    first_case = sandbox.act("salesforce", "records/Case", Subject="first")
    first = connector.read_changes(None, now=NOW)
    same_stamp = sandbox.act("salesforce", "records/Case", Subject="same stamp")
    sandbox.set_clock(at="2026-05-04T09:59:58+00:00", frozen=True)  # a slow transaction, stamped earlier
    late = sandbox.act("salesforce", "records/Case", Subject="late commit")
    assert same_stamp["SystemModstamp"] == first_case["SystemModstamp"]
    second = connector.read_changes(first.next_cursor, now=NOW)
    assert sorted(d.record_id for d in second.deliveries) == sorted([same_stamp["Id"], late["Id"]])
    assert connector.read_changes(second.next_cursor, now=NOW).deliveries == []


def test_given_more_rows_than_a_page_when_polling_then_pages_by_next_records_url(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    sandbox.set_limits("salesforce", extra={"query_page_size": 3})
    _seed_cases(sandbox, 7)
    result = _connector(kickoff_config).read_changes(None, now=NOW)
    assert len({d.record_id for d in result.deliveries}) == 7
    assert _calls(sandbox) == {QUERY_ALL: 1, QUERY_MORE: 2}


def test_given_a_limit_when_polling_then_the_rest_comes_next_time(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    sandbox.set_clock(at="2026-05-04T10:00:00+00:00", frozen=True)
    ids = _seed_cases(sandbox, 5)  # all five share one SystemModstamp
    connector = _connector(kickoff_config)
    first = connector.read_changes(None, now=NOW, limit=2)
    second = connector.read_changes(first.next_cursor, now=NOW, limit=10)
    assert len(first.deliveries) == 2
    assert sorted(d.record_id for d in first.deliveries + second.deliveries) == sorted(ids)


def test_given_a_deleted_record_when_polling_then_a_tombstone_arrives(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    (case,) = _seed_cases(sandbox, 1)
    connector = _connector(kickoff_config)
    cursor = connector.read_changes(None, now=NOW).next_cursor
    sandbox.set_clock(advance_seconds=30)
    sandbox.act("salesforce", f"records/Case/{case}", method="DELETE")
    (tombstone,) = connector.read_changes(cursor, now=NOW).deliveries
    assert tombstone.record_id == case and tombstone.payload["IsDeleted"] is True


# --- Outbound Messages ------------------------------------------------------------------------------

def _outbound(sandbox: SandboxControl, change: Any) -> list[bytes]:
    """The SOAP bodies the sandbox posts for a person's change (to a closed port; the body is kept)."""
    sandbox.set_webhook("salesforce", "http://127.0.0.1:9/outbound", retries=0)
    change()
    assert sandbox.flush_webhooks()
    return [d["body"].encode() for d in sandbox.webhook_deliveries("salesforce")]


def _request(body: bytes) -> WebhookRequest:
    return WebhookRequest("POST", "https://kickoff.example.com/hooks/salesforce",
                          {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}, body)


def test_given_outbound_message_when_parsed_then_one_delivery_per_notification_keyed_like_polls(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    ids = _seed_cases(sandbox, 3)
    (body,) = _outbound(sandbox, lambda: sandbox.act("salesforce", "changes", changes=[
        {"sobject": "Case", "id": rid, "fields": {"Status": "Working"}} for rid in ids]))
    connector = _connector(kickoff_config)
    connector.verify_webhook(_request(body), datetime.now(UTC))
    deliveries = connector.parse_webhook(_request(body), NOW)
    assert [d.record_id for d in deliveries] == ids
    assert {d.received_at for d in deliveries} == {NOW}
    assert {d.payload["object"] for d in deliveries} == {"Case"}
    assert deliveries[0].payload["fields"]["Status"] == "Working"
    assert len({d.payload["notification_id"] for d in deliveries}) == 3
    polled = {d.dedup_key for d in connector.read_changes(None, now=NOW).deliveries}
    assert {d.dedup_key for d in deliveries} == polled  # the same change heard twice is one inbox row


def test_given_the_same_record_changed_twice_when_parsed_then_two_dedup_keys(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    (case,) = _seed_cases(sandbox, 1)

    def two_changes() -> None:
        sandbox.act("salesforce", f"records/Case/{case}", method="PATCH", Status="Working")
        sandbox.set_clock(advance_seconds=5)
        sandbox.act("salesforce", f"records/Case/{case}", method="PATCH", Status="Escalated")

    bodies = _outbound(sandbox, two_changes)
    connector = _connector(kickoff_config)
    keys = [d.dedup_key for body in bodies for d in connector.parse_webhook(_request(body), NOW)]
    assert len(keys) == 2 and len(set(keys)) == 2 and all(case in k for k in keys)  # n8n #21028


def test_given_other_orgs_message_when_verified_then_401(kickoff_config: Config, sandbox: SandboxControl) -> None:
    (case,) = _seed_cases(sandbox, 1)
    (body,) = _outbound(sandbox, lambda: sandbox.act("salesforce", f"records/Case/{case}", method="PATCH",
                                                     Status="Working"))
    connector = _connector(kickoff_config)
    org = ElementTree.fromstring(body).find(".//{http://soap.sforce.com/2005/09/outbound}OrganizationId").text
    forged = body.replace(org.encode(), b"00D000000000001AAA")
    with pytest.raises(WebhookRejected) as info:
        connector.verify_webhook(_request(forged), datetime.now(UTC))
    assert info.value.status == 401
    missing = body.replace(f"<OrganizationId>{org}</OrganizationId>".encode(), b"")
    with pytest.raises(WebhookRejected) as info:
        connector.verify_webhook(_request(missing), datetime.now(UTC))
    assert info.value.status == 401


def test_given_an_old_replayed_message_when_verified_then_accepted_and_dedup_catches_it(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    """Outbound Messages carry no timestamp (Salesforce retries for 24 h): freshness cannot be
    checked, so a replay passes verification and yields the same dedup keys."""
    (case,) = _seed_cases(sandbox, 1)
    (body,) = _outbound(sandbox, lambda: sandbox.act("salesforce", f"records/Case/{case}", method="PATCH",
                                                     Status="Working"))
    connector = _connector(kickoff_config)
    connector.verify_webhook(_request(body), datetime.now(UTC) + timedelta(days=2))
    assert [d.dedup_key for d in connector.parse_webhook(_request(body), NOW)] == [
        d.dedup_key for d in connector.parse_webhook(_request(body), NOW)]


def _soap(inner: bytes) -> bytes:
    return (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
            b'<notifications xmlns="http://soap.sforce.com/2005/09/outbound">' + inner
            + b"</notifications></soapenv:Body></soapenv:Envelope>")


@pytest.mark.parametrize(("body", "reason"), [
    (b"not xml at all", "malformed XML"),
    (b"<a><b/></a>", "notifications element"),
    (b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>', "DOCTYPE"),
    (_soap(b"<OrganizationId>x</OrganizationId>"), "no Notification"),
    (_soap(b'<Notification><Id>04l1</Id><sObject xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
           b"<sf:Name>x</sf:Name></sObject></Notification>"), "no sObject Id"),
])
def test_given_malformed_outbound_message_when_parsed_then_400_with_reason(
        kickoff_config: Config, body: bytes, reason: str) -> None:
    with pytest.raises(WebhookRejected) as info:
        _connector(kickoff_config).parse_webhook(_request(body), NOW)
    assert info.value.status == 400 and reason in info.value.reason


def test_soap_ack_is_the_notifications_response_salesforce_expects() -> None:
    root = ElementTree.fromstring(soap_ack())
    ack = root.find("{http://schemas.xmlsoap.org/soap/envelope/}Body/"
                    "{http://soap.sforce.com/2005/09/outbound}notificationsResponse/"
                    "{http://soap.sforce.com/2005/09/outbound}Ack")
    assert ack is not None and ack.text == "true"


# --- auth modes and secrets ---------------------------------------------------------------------------

def test_given_client_credentials_when_reading_then_logs_in_through_oauth(
        kickoff_config: Config, sandbox: SandboxControl) -> None:
    tool = kickoff_config.tools["salesforce"].model_copy(update={
        "credentials": {"consumer_key": "env:SALESFORCE_CONSUMER_KEY", "consumer_secret": "env:SALESFORCE_CONSUMER_SECRET",
                        "org_id": "env:SALESFORCE_ORG_ID"},
        "options": {"domain": "sandbox.my"}})
    _seed_cases(sandbox, 2)
    connector = SalesforceConnector(tool, retry=FAST_POLICY, reads=CASES)
    assert len(connector.read_changes(None, now=NOW).deliveries) == 2
    assert _calls(sandbox)["POST /services/oauth2/token"] == 1


def test_given_a_run_when_logging_at_debug_then_no_secret_appears(
        kickoff_config: Config, sandbox: SandboxControl, sandbox_env: dict[str, str],
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _seed_cases(sandbox, 3)
    sandbox.add_fault(vendor="salesforce", kind="error", status=503, times=1)
    with caplog.at_level(logging.DEBUG):
        connector = _connector(kickoff_config)
        connector.read_changes(None, now=NOW)
        results = connector.apply([_action(ActionKind.SET_STAGE, f"stage-key-{i}", record_id=rid, stage="Working")
                                   for i, rid in enumerate(ids)] + _tasks(1), NOW)
        monkeypatch.setenv("SALESFORCE_SESSION_ID", "00Dwrong!session-value")
        failed = _connector(kickoff_config).apply(_tasks(1, prefix="again"), NOW)
    secrets = [sandbox_env["SALESFORCE_SESSION_ID"], sandbox_env["SALESFORCE_CONSUMER_SECRET"],
               sandbox_env["SALESFORCE_PASSWORD"], "00Dwrong!session-value"]
    assert "retrying" in caplog.text  # the run did log
    text = caplog.text + " ".join(str(r.reason) for r in results + failed)
    assert not [s for s in secrets if s in text]
