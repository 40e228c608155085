"""The Salesforce sandbox behaves as Salesforce does, seen through the unmodified simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.http import make_session
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.webhook_receiver import WebhookReceiver

INSTANCE = "https://sandbox.my.salesforce.com"
SESSION = "sf-sandbox-session-token"
NS = {"soap": "http://schemas.xmlsoap.org/soap/envelope/", "o": "http://soap.sforce.com/2005/09/outbound",
      "sf": "urn:sobject.enterprise.soap.sforce.com"}


def _sf(server: SandboxServer, session_id: str = SESSION) -> Salesforce:
    return Salesforce(instance_url=INSTANCE, session_id=session_id, session=make_session(server.url))


@pytest.fixture
def sf(sandbox: SandboxControl, sandbox_server: SandboxServer) -> Salesforce:
    return _sf(sandbox_server)


def _collection(sf: Salesforce, method: str, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    return sf.restful("composite/sobjects", method=method, json={"allOrNone": all_or_none, "records": records})


def _cases(n: int, **fields: Any) -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Case"}, "Subject": f"Onboarding {i}", **fields} for i in range(n)]


# --- reads -------------------------------------------------------------------------------------

def test_query_pages_by_next_records_url_until_done(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.set_limits("salesforce", extra={"query_page_size": 3})
    _collection(sf, "POST", _cases(7))
    first = sf.query("SELECT Id, Subject FROM Case")
    assert first["totalSize"] == 7 and first["done"] is False and len(first["records"]) == 3
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-3")
    every = list(sf.query_all_iter("SELECT Id, Subject FROM Case"))
    assert len({r["Id"] for r in every}) == 7
    assert sum(1 for c in sandbox.requests("salesforce") if "/query/01g" in c["path"]) == 2


def test_query_filters_on_system_modstamp_and_orders_by_it(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.set_clock(at="2026-03-01T10:00:00+00:00", frozen=True)
    early = sf.Case.create({"Subject": "early"})["id"]
    sandbox.set_clock(at="2026-03-01T12:00:00+00:00", frozen=True)
    late = sf.Case.create({"Subject": "late"})["id"]
    sandbox.set_clock(at="2026-03-01T11:00:00+00:00", frozen=True)
    sf.Case.update(early, {"Status": "Working"})  # moves early's stamp to 11:00

    rows = sf.query_all("SELECT Id, SystemModstamp FROM Case WHERE SystemModstamp > 2026-03-01T10:30:00Z "
                        "ORDER BY SystemModstamp DESC")["records"]
    assert [r["Id"] for r in rows] == [late, early]
    assert rows[1]["SystemModstamp"] == "2026-03-01T11:00:00.000+0000"
    at_edge = sf.query_all("SELECT Id FROM Case WHERE SystemModstamp >= 2026-03-01T12:00:00Z")["records"]
    assert [r["Id"] for r in at_edge] == [late]
    assert sf.query_all("SELECT Id FROM Case WHERE SystemModstamp > 2026-03-01T12:00:00Z")["totalSize"] == 0


def test_query_where_supports_and_or_in_null_and_booleans(sf: Salesforce) -> None:
    acme = sf.Account.create({"Name": "Acme AS", "Self_Onboarding__c": True})["id"]
    beta = sf.Account.create({"Name": "Beta AS", "Self_Onboarding__c": False, "Industry": "Retail"})["id"]
    q = "SELECT Id FROM Account WHERE "
    assert [r["Id"] for r in sf.query_all(q + "Self_Onboarding__c = true")["records"]] == [acme]
    assert [r["Id"] for r in sf.query_all(q + "Industry = null")["records"]] == [acme]
    both = sf.query_all(q + f"Id IN ('{acme}', '{beta[:15]}') AND (Name = 'acme as' OR Industry != null) ORDER BY Name")
    assert [r["Id"] for r in both["records"]] == [acme, beta]
    assert sf.query(q + "Name LIKE 'Be%' LIMIT 1")["records"][0]["Id"] == beta


def test_malformed_query_is_refused_with_malformed_query(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FRM Case")
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token" in info.value.content[0]["message"]


def test_quoted_datetime_and_unknown_column_are_refused_like_salesforce(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as quoted:
        sf.query("SELECT Id FROM Case WHERE SystemModstamp > '2026-01-01T00:00:00Z'")
    assert quoted.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "should not be enclosed in quotes" in quoted.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as column:
        sf.query("SELECT Id, Nope FROM Case")
    assert "No such column 'Nope'" in column.value.content[0]["message"]


def test_query_all_includes_deleted_records(sf: Salesforce) -> None:
    case = sf.Case.create({"Subject": "to delete"})["id"]
    assert sf.Case.delete(case) == 204
    assert sf.query("SELECT Id FROM Case")["totalSize"] == 0
    rows = sf.query_all("SELECT Id, IsDeleted FROM Case", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(case, True)]


# --- sObject rows ------------------------------------------------------------------------------

def test_records_get_realistic_ids_timestamps_and_case_numbers(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.set_clock(at="2026-02-02T08:30:00+00:00", frozen=True)
    account = sf.Account.create({"Name": "Acme AS"})["id"]
    case = sf.Case.create({"Subject": "Kickoff", "AccountId": account})["id"]
    task = sf.Task.create({"Subject": "Call", "WhatId": case})["id"]
    opp = sf.Opportunity.create({"Name": "Acme deal", "StageName": "Prospecting", "CloseDate": "2026-03-01"})["id"]
    contact = sf.Contact.create({"FirstName": "Kari", "LastName": "Nordmann", "AccountId": account})["id"]
    prefixes = {account: "001", case: "500", task: "00T", opp: "006", contact: "003"}
    for rid, prefix in prefixes.items():
        assert len(rid) == 18 and rid.startswith(prefix)
    got = sf.Case.get(case[:15])  # 15-char ids work too
    assert got["Id"] == case and got["CaseNumber"].isdigit() and len(got["CaseNumber"]) == 8
    assert got["CreatedDate"] == got["SystemModstamp"] == "2026-02-02T08:30:00.000+0000"
    assert sf.Contact.get(contact)["Name"] == "Kari Nordmann"


def test_id_checksum_suffix_follows_the_capitals_rule(sf: Salesforce) -> None:
    rid = sf.Case.create({"Subject": "x"})["id"]
    suffix = ""
    for chunk in (rid[0:5], rid[5:10], rid[10:15]):
        bits = sum(1 << i for i, c in enumerate(chunk) if "A" <= c <= "Z")
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    assert rid[15:] == suffix


def test_update_delete_and_missing_records(sf: Salesforce) -> None:
    case = sf.Case.create({"Subject": "x"})["id"]
    assert sf.Case.update(case, {"Status": "Closed"}) == 204
    closed = sf.Case.get(case)
    assert closed["IsClosed"] is True and closed["ClosedDate"] is not None
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Case.get("500000000000000AAA")
    assert info.value.content[0]["errorCode"] == "NOT_FOUND"


def test_single_create_errors_carry_error_code_and_fields(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Task.create({"Status": "Not Started"})
    assert missing.value.content == [{"message": "Required fields are missing: [Subject]",
                                      "errorCode": "REQUIRED_FIELD_MISSING", "fields": ["Subject"]}]
    with pytest.raises(SalesforceMalformedRequest) as column:
        sf.Case.create({"Subject": "x", "Bogus__c": 1})
    assert column.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_upsert_by_external_id_creates_once_then_updates(sf: Salesforce) -> None:
    first = sf.Case.upsert("Kickoff_Key__c/key-0001", {"Subject": "Kickoff"}, raw_response=True)
    again = sf.Case.upsert("Kickoff_Key__c/key-0001", {"Subject": "Kickoff (renamed)"}, raw_response=True)
    assert first.status_code == 201 and first.json()["created"] is True
    assert again.status_code == 200 and again.json() == {**first.json(), "created": False}
    assert sf.Case.get_by_custom_id("Kickoff_Key__c", "key-0001")["Subject"] == "Kickoff (renamed)"
    assert sf.query("SELECT Id FROM Case WHERE Kickoff_Key__c IN ('key-0001')")["totalSize"] == 1


def test_external_id_is_unique_on_plain_create(sf: Salesforce) -> None:
    sf.Task.create({"Subject": "a", "Kickoff_Key__c": "k-1"})
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Task.create({"Subject": "b", "Kickoff_Key__c": "k-1"})
    assert info.value.content[0]["errorCode"] == "DUPLICATE_VALUE"


def test_get_updated_and_deleted_list_ids_in_the_window(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.set_clock(at="2026-04-01T09:00:00+00:00", frozen=True)
    case = sf.Case.create({"Subject": "x"})["id"]
    gone = sf.Case.create({"Subject": "y"})["id"]
    sf.Case.delete(gone)
    start, end = datetime(2026, 4, 1, 8, tzinfo=UTC), datetime(2026, 4, 1, 10, tzinfo=UTC)
    assert sf.Case.updated(start, end)["ids"] == [case]
    assert [d["id"] for d in sf.Case.deleted(start, end)["deletedRecords"]] == [gone]


# --- sObject Collections -----------------------------------------------------------------------

def test_collection_of_201_records_is_refused_whole(sf: Salesforce, sandbox: SandboxControl) -> None:
    with pytest.raises(SalesforceMalformedRequest) as info:
        _collection(sf, "POST", _cases(201))
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert "cannot submit more than 200 records" in info.value.content[0]["message"]
    assert sandbox.get("salesforce", "records/Case") == []
    assert len(_collection(sf, "POST", _cases(200))) == 200


def test_all_or_none_false_gives_per_record_results_in_request_order(sf: Salesforce, sandbox: SandboxControl) -> None:
    case = sf.Case.create({"Subject": "x"})["id"]
    records = [
        {"attributes": {"type": "Task"}, "Subject": "Welcome call", "WhatId": case},
        {"attributes": {"type": "Task"}, "Description": "no subject", "WhatId": case},
        {"attributes": {"type": "Task"}, "Subject": "Bad status", "Status": "Someday"},
        {"attributes": {"type": "Task"}, "Subject": "Kickoff meeting", "WhatId": case},
    ]
    results = _collection(sf, "POST", records)
    assert [r["success"] for r in results] == [True, False, False, True]
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert results[2]["errors"][0] == {"statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                       "message": "bad value for restricted picklist field: Someday",
                                       "fields": ["Status"]}
    assert {t["Subject"] for t in sandbox.get("salesforce", "records/Task")} == {"Welcome call", "Kickoff meeting"}
    assert results[0]["id"].startswith("00T") and results[3]["id"].startswith("00T")


def test_all_or_none_true_rolls_everything_back(sf: Salesforce, sandbox: SandboxControl) -> None:
    results = _collection(sf, "POST", _cases(2) + [{"attributes": {"type": "Case"}, "Status": "Nope"}],
                          all_or_none=True)
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[2]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sandbox.get("salesforce", "records/Case") == []


def test_collection_update_and_upsert_by_external_id(sf: Salesforce, sandbox: SandboxControl) -> None:
    ids = [r["id"] for r in _collection(sf, "POST", _cases(3))]
    updates = [{"attributes": {"type": "Case"}, "id": rid, "Status": "Working"} for rid in ids]
    updates.append({"attributes": {"type": "Case"}, "id": "500000000000000AAA", "Status": "Working"})
    results = _collection(sf, "PATCH", updates)
    assert [r["success"] for r in results] == [True, True, True, False]
    assert {c["Status"] for c in sandbox.get("salesforce", "records/Case")} == {"Working"}
    body = {"allOrNone": False, "records": [{"attributes": {"type": "Task"}, "Kickoff_Key__c": f"k{i}", "Subject": "s"}
                                            for i in range(2)]}
    first = sf.restful("composite/sobjects/Task/Kickoff_Key__c", method="PATCH", json=body)
    second = sf.restful("composite/sobjects/Task/Kickoff_Key__c", method="PATCH", json=body)
    assert [r["created"] for r in first] == [True, True] and [r["created"] for r in second] == [False, False]
    assert [r["id"] for r in first] == [r["id"] for r in second]


# --- limits and auth -----------------------------------------------------------------------------

def test_every_answer_carries_sforce_limit_info_parsed_into_api_usage(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.set_limits("salesforce", daily=5000)
    sf.query("SELECT Id FROM Case")
    sf.query("SELECT Id FROM Case")
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (2, 5000)


def test_daily_allocation_exceeded_gives_request_limit_exceeded(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.set_limits("salesforce", daily=3)
    for _ in range(3):
        sf.query("SELECT Id FROM Case")
    with pytest.raises(SalesforceRefusedRequest) as info:
        sf.query("SELECT Id FROM Case")
    assert info.value.status == 403
    assert info.value.content == [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_wrong_session_gives_invalid_session_id(sandbox: SandboxControl, sandbox_server: SandboxServer) -> None:
    with pytest.raises(SalesforceExpiredSession) as info:
        _sf(sandbox_server, "00Dwrong!token").query("SELECT Id FROM Case")
    assert info.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_oauth_password_client_credentials_and_soap_logins(sandbox: SandboxControl, sandbox_server: SandboxServer) -> None:
    creds = sandbox_server.sandbox.vendors["salesforce"].credentials
    user, pw = creds["SALESFORCE_USERNAME"], creds["SALESFORCE_PASSWORD"]
    key, secret = creds["SALESFORCE_CONSUMER_KEY"], creds["SALESFORCE_CONSUMER_SECRET"]
    logins = [
        Salesforce(username=user, password=pw, consumer_key=key, consumer_secret=secret,
                   session=make_session(sandbox_server.url)),
        Salesforce(consumer_key=key, consumer_secret=secret, domain="sandbox.my",
                   session=make_session(sandbox_server.url)),
        Salesforce(username=user, password=pw, security_token=creds["SALESFORCE_SECURITY_TOKEN"],
                   session=make_session(sandbox_server.url)),
    ]
    for sf in logins:
        assert sf.sf_instance == "sandbox.my.salesforce.com"
        assert sf.query("SELECT Id FROM Case")["totalSize"] == 0
    with pytest.raises(SalesforceAuthenticationFailed):
        Salesforce(username=user, password="wrong", consumer_key=key, consumer_secret=secret,
                   session=make_session(sandbox_server.url))


def test_oauth_jwt_bearer_login(sandbox: SandboxControl, sandbox_server: SandboxServer) -> None:
    creds = sandbox_server.sandbox.vendors["salesforce"].credentials
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    sf = Salesforce(username=creds["SALESFORCE_USERNAME"], consumer_key=creds["SALESFORCE_CONSUMER_KEY"],
                    privatekey=pem, session=make_session(sandbox_server.url))
    assert sf.query("SELECT Id FROM Case")["done"] is True
    with pytest.raises(SalesforceAuthenticationFailed), pytest.warns(UserWarning, match="self-authorize"):
        Salesforce(username="someone-else@example.com", consumer_key=creds["SALESFORCE_CONSUMER_KEY"],
                   privatekey=pem, session=make_session(sandbox_server.url))


# --- Outbound Messages -------------------------------------------------------------------------

ACK = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
       b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
       b"</notificationsResponse></soapenv:Body></soapenv:Envelope>")


@pytest.fixture
def receiver(sandbox: SandboxControl) -> Iterator[WebhookReceiver]:
    with WebhookReceiver("/outbound", reply=ACK, content_type="text/xml") as hook:
        sandbox.set_webhook("salesforce", hook.url)
        yield hook


def _notifications(body: bytes) -> tuple[ElementTree.Element, list[ElementTree.Element]]:
    root = ElementTree.fromstring(body)
    envelope = root.find("soap:Body/o:notifications", NS)
    assert envelope is not None
    return envelope, envelope.findall("o:Notification", NS)


def test_unticking_self_onboarding_posts_a_soap_outbound_message(
        sandbox: SandboxControl, sandbox_server: SandboxServer, receiver: WebhookReceiver) -> None:
    account = sandbox.act("salesforce", "records/Account", Name="Acme AS", Self_Onboarding__c=True)
    sandbox.act("salesforce", f"records/Account/{account['Id']}", method="PATCH", Self_Onboarding__c=False)
    assert sandbox.flush_webhooks()
    assert len(receiver.received) == 1  # creation with the box ticked matches no rule
    post = receiver.request(0)  # its headers as the gateway reads them (lower-cased)
    headers, body = post.headers, post.body
    assert headers["content-type"].startswith("text/xml") and headers["soapaction"] == '""'
    assert not any("signature" in h for h in headers)  # Outbound Messages are unsigned
    envelope, notes = _notifications(body)
    org = sandbox_server.sandbox.vendors["salesforce"].credentials["SALESFORCE_ORG_ID"]
    assert envelope.findtext("o:OrganizationId", namespaces=NS) == org
    assert envelope.findtext("o:ActionId", namespaces=NS).startswith("04k")
    assert envelope.findtext("o:PartnerUrl", namespaces=NS).startswith(INSTANCE + "/services/Soap/u/")
    assert envelope.find("o:SessionId", NS).get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert len(notes) == 1 and notes[0].findtext("o:Id", namespaces=NS).startswith("04l")
    sobject = notes[0].find("o:sObject", NS)
    assert sobject.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "sf:Account"
    assert sobject.findtext("sf:Id", namespaces=NS) == account["Id"]
    assert sobject.findtext("sf:Self_Onboarding__c", namespaces=NS) == "false"
    assert sobject.findtext("sf:SystemModstamp", namespaces=NS).endswith("Z")


def test_opportunity_closed_won_and_case_status_change_fire_their_rules(
        sandbox: SandboxControl, receiver: WebhookReceiver, sf: Salesforce) -> None:
    opp = sandbox.act("salesforce", "records/Opportunity", Name="Acme", StageName="Negotiation/Review",
                      CloseDate="2026-05-01")
    sandbox.act("salesforce", f"records/Opportunity/{opp['Id']}", method="PATCH", StageName="Closed Won")
    case = sf.Case.create({"Subject": "Kickoff"})["id"]  # API writes fire rules too (our echo)
    sf.Case.update(case, {"Status": "Working"})
    assert sandbox.flush_webhooks()
    kinds = [_notifications(body)[1][0].find("o:sObject", NS).get("{http://www.w3.org/2001/XMLSchema-instance}type")
             for body in receiver.bodies]
    assert kinds == ["sf:Opportunity", "sf:Case", "sf:Case"]  # Case creation sets Status New


def test_mass_edit_sends_at_most_100_notifications_a_message(sandbox: SandboxControl, receiver: WebhookReceiver) -> None:
    sandbox.seed({"salesforce": {"records": {"Case": [{"Subject": f"Onboarding {i}"} for i in range(150)]}}})
    ids = [c["Id"] for c in sandbox.get("salesforce", "records/Case")]
    sandbox.act("salesforce", "changes", changes=[{"sobject": "Case", "id": i, "fields": {"Status": "Working"}}
                                                  for i in ids])
    assert sandbox.flush_webhooks()
    sizes = [len(_notifications(body)[1]) for body in receiver.bodies]
    assert sizes == [100, 50]
    sent = {n.find("o:sObject", NS).findtext("sf:Id", namespaces=NS) for body in receiver.bodies
            for n in _notifications(body)[1]}
    assert sent == set(ids)


def test_injected_fault_uses_salesforce_error_body(sf: Salesforce, sandbox: SandboxControl) -> None:
    sandbox.add_fault(vendor="salesforce", kind="error", status=503, times=1)
    resp = requests.get(f"{sandbox.base_url}/services/data/v59.0/query/", params={"q": "SELECT Id FROM Case"},
                        headers={"Authorization": f"Bearer {SESSION}"}, timeout=5)
    assert resp.status_code == 503 and resp.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert "api-usage=" in resp.headers.get("Sforce-Limit-Info", "api-usage=")
