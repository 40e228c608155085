"""Dealbuilder: the signed document the sandbox posts becomes ``contract.signed`` (A1)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connectors.dealbuilder import DealbuilderConnector
from kickoff.events import EventType
from mappings.base import MappingError, mapping_for
from tests.mappings.conftest import delivery

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


def signed_delivery(sandbox, receiver, connector: DealbuilderConnector, document: dict[str, Any]) -> Any:
    """Act as the seller and the customer in the sandbox; return the connector's delivery."""
    sandbox.set_webhook("dealbuilder", receiver.url)
    sandbox.act("dealbuilder", "documents", **document)
    sandbox.act("dealbuilder", f"documents/{document['id']}/accept")
    assert sandbox.flush_webhooks()
    bodies = [json.loads(r["body"]) for r in receiver.received]
    assert [b["eventType"] for b in bodies] == ["DocumentSent", "DocumentAccepted"]
    return [d for i in range(2) for d in connector.parse_webhook(receiver.request(i))]


def test_A1_given_a_signed_document_from_the_sandbox_then_contract_signed_with_its_facts(
        sandbox, receiver, kickoff_config, ledger, tables, tenants):
    connector = DealbuilderConnector(kickoff_config.tools["dealbuilder"])
    sent, accepted = signed_delivery(sandbox, receiver, connector, DOCUMENT)
    ctx = ledger.context("assist", "dealbuilder", tables, tenants)
    mapping = mapping_for("dealbuilder")

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


def test_given_only_the_deprecated_flat_fields_then_they_are_read(ledger, tables, tenants):
    body = {"eventType": "DocumentAccepted", "timestamp": "2026-03-01T10:00:00+00:00",
            "document": {"id": "D-7", "customerCompanyName": "Gammal AB", "customerEmail": "info@gammal.example.com"}}
    [event] = mapping_for("dealbuilder").to_events(delivery("dealbuilder", body),
                                                   ledger.context("assist", "dealbuilder", tables, tenants))
    assert event.data["account_name"] == "Gammal AB" and event.data["main_user_email"] == "info@gammal.example.com"
    assert event.data["signed_on"] == "2026-03-01" and "start_on" not in event.data


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["Parties"].pop(1), "account_name"),
    (lambda d: d["customFields"].__setitem__(0, {"name": "licences", "value": "tolv"}), "licences"),
    (lambda d: d["customFields"].__setitem__(1, {"name": "delivery_start", "value": "snart"}), "start_on"),
])
def test_given_a_document_that_does_not_parse_then_mapping_error_names_the_field(ledger, tables, tenants,
                                                                                  change, field):
    document = copy.deepcopy(DOCUMENT)
    change(document)
    body = {"eventType": "DocumentAccepted", "document": {**document, "acceptedAt": "2026-03-01T10:00:00+00:00"}}
    with pytest.raises(MappingError) as caught:
        mapping_for("dealbuilder").to_events(delivery("dealbuilder", body),
                                             ledger.context("assist", "dealbuilder", tables, tenants))
    assert caught.value.field == field and caught.value.retry is False
