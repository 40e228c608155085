"""Dealbuilder: the signed document the sandbox posts (flat, as Dealbuilder's webhook reference
lists it) becomes ``contract.signed`` (A1); ``Parties`` first, the deprecated flat fields after."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.dealbuilder import DealbuilderConnector
from kickoff.events import EventType
from kickoff.tools.dealbuilder import DEPRECATED_FIELDS
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import NOW, delivery

DOCUMENT: dict[str, Any] = {
    "id": "D-100",
    "title": "Assist avtal",
    "Parties": [
        {"role": "seller", "companyName": "Assist AB", "contacts": [{"role": "seller", "name": "Sälj Person",
                                                                     "email": "seller@assist.example.com"}]},
        {"role": "customer", "companyName": "Exempel Bygg AB", "organizationNumber": "556000-0001",
         "contacts": [{"role": "main_user", "name": "Maja Exempel", "email": "maja@kund.example.com"}]},
    ],
    "customFields": [{"name": "licences", "value": "12"}, {"name": "delivery_start", "value": "2026-03-02"}],
}


def documented(event_type: str = "DocumentAccepted", **fields: Any) -> dict[str, Any]:
    """A body as the webhook reference lists it (the key already removed by the connector):
    ``eventType``, the deprecated flat fields (null unless given), the document's own fields."""
    return {"eventType": event_type, **dict.fromkeys(DEPRECATED_FIELDS), **fields}


def signed_delivery(sandbox, receiver, connector: DealbuilderConnector, document: dict[str, Any]) -> Any:
    """Act as the seller and the customer in the sandbox; return the connector's deliveries."""
    sandbox.set_webhook("dealbuilder", receiver.url)
    sandbox.act("dealbuilder", "documents", **document)
    sandbox.act("dealbuilder", f"documents/{document['id']}/accept")
    assert sandbox.flush_webhooks()
    bodies = [json.loads(body) for body in receiver.bodies]
    assert [b["eventType"] for b in bodies] == ["DocumentSent", "DocumentAccepted"]
    return [d for i in range(2) for d in connector.parse_webhook(receiver.request(i), NOW)]


def test_A1_given_a_signed_document_from_the_sandbox_then_contract_signed_with_its_facts(
        sandbox, receiver, kickoff_config, ledger, tables, tenants):
    mapping = mapping_for("dealbuilder")
    connector = DealbuilderConnector(kickoff_config.tools["dealbuilder"], reads=mapping.reads(tables["dealbuilder"]))
    sent, accepted = signed_delivery(sandbox, receiver, connector, DOCUMENT)
    ctx = ledger.context("assist", "dealbuilder", tables, tenants)

    assert mapping.to_events(sent, ctx) == []
    [event] = mapping.to_events(accepted, ctx)

    assert event.type == EventType.CONTRACT_SIGNED and event.subject == "assist:D-100" and event.tenant == "assist"
    assert event.data == {"account_name": "Exempel Bygg AB", "org_number": "556000-0001", "main_user": "Maja Exempel",
                          "main_user_email": "maja@kund.example.com", "licences": 12, "start_on": "2026-03-02",
                          "signed_on": event.occurred_at.astimezone(tenants["assist"].zone).date().isoformat(),
                          "country": "SE"}
    assert (event.source.tool, event.source.record_id, event.source.delivery_id) == (
        "dealbuilder", "D-100", accepted.dedup_key)
    assert mapping.to_events(accepted, ctx)[0].id == event.id  # re-processing: the same event


def test_given_only_the_deprecated_flat_fields_then_they_are_read_and_signed_when_it_arrived(ledger, tables, tenants):
    body = documented(id="D-7", customerCompanyName="Gammal AB", customerOrgNumber="556000-0007",
                      customerName="Gun Gammal", customerEmail="info@gammal.example.com")
    [event] = mapping_for("dealbuilder").to_events(delivery("dealbuilder", body),
                                                   ledger.context("assist", "dealbuilder", tables, tenants))
    assert event.data == {"account_name": "Gammal AB", "org_number": "556000-0007", "main_user": "Gun Gammal",
                          "main_user_email": "info@gammal.example.com", "signed_on": "2026-03-02", "country": "SE"}
    assert event.occurred_at == NOW  # no signing time in the body: when it arrived


def test_given_parties_and_the_deprecated_fields_disagree_then_parties_win(ledger, tables, tenants):
    body = documented(**DOCUMENT, customerCompanyName="Gammalt Namn AB", customerEmail="old@kund.example.com")
    [event] = mapping_for("dealbuilder").to_events(delivery("dealbuilder", body),
                                                   ledger.context("assist", "dealbuilder", tables, tenants))
    assert (event.data["account_name"], event.data["main_user_email"]) == ("Exempel Bygg AB", "maja@kund.example.com")


@pytest.mark.parametrize(("change", "field", "reason"), [
    (lambda d: d["Parties"].pop(1), "account_name",
     "no customer company name at Parties[role=customer].companyName or customerCompanyName"),
    (lambda d: d.pop("id"), "document_id", "no document id at id"),
    (lambda d: d["customFields"].__setitem__(0, {"name": "licences", "value": "tolv"}), "licences",
     "'tolv' is not a number of licences"),
    (lambda d: d["customFields"].__setitem__(1, {"name": "delivery_start", "value": "snart"}), "start_on",
     "'snart' is not a date"),
])
def test_given_a_document_that_does_not_parse_then_mapping_error_names_the_field(ledger, tables, tenants,
                                                                                  change, field, reason):
    document = copy.deepcopy(DOCUMENT)
    change(document)
    body = documented(**document, acceptedAt="2026-03-01T10:00:00+00:00")
    with pytest.raises(MappingError) as caught:
        mapping_for("dealbuilder").to_events(delivery("dealbuilder", body),
                                             ledger.context("assist", "dealbuilder", tables, tenants))
    assert (caught.value.field, caught.value.reason, caught.value.retry) == (field, reason, False)


def test_given_a_tenant_that_moves_one_fact_then_the_others_keep_their_documented_paths(ledger, tables, tenants):
    table = {**tables["dealbuilder"]["assist"], "paths": {"account_name": ["kund.namn"]}}
    mapping = mapping_for("dealbuilder")
    ctx = ledger.context("assist", "dealbuilder", {"dealbuilder": {"assist": table}}, tenants)
    [event] = mapping.to_events(delivery("dealbuilder", documented(**DOCUMENT, kund={"namn": "Flyttad AB"})), ctx)
    assert (event.data["account_name"], event.data["main_user"], event.subject) == (
        "Flyttad AB", "Maja Exempel", "assist:D-100")
    assert mapping.reads({"assist": table}) == {"eventType": ["DocumentAccepted"], "document_id": ["id"],
                                                "account_name": ["kund.namn"]}


def test_reads_are_what_the_connector_checks_at_the_edge(tables):
    assert mapping_for("dealbuilder").reads(tables["dealbuilder"]) == {
        "eventType": ["DocumentAccepted"], "document_id": ["id"],
        "account_name": ["Parties[role=customer].companyName", "customerCompanyName"]}
