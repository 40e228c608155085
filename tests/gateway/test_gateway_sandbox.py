"""Real vendor traffic: a person's change in the sandbox makes it send the vendor's real,
signed webhook to the running gateway -- every copy (the sandbox duplicates each delivery,
as vendors do) is answered 2xx, and each vendor event is stored once."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import requests

from gateway import expect_webhook_handshake
from tests.gateway.cases import PIPELINE_STAGE
from tests.gateway.conftest import Gateway

ASANA_PROJECT, ASANA_NEW, ASANA_WAITING = "3001", "3101", "3102"
ASANA_BOARD = {"asana": {
    "workspaces": [{"gid": "1000", "name": "Example Co"}],
    "users": [{"gid": "1001", "name": "Alex Example", "email": "alex@example.com", "workspace": "1000"}],
    "projects": [{"gid": ASANA_PROJECT, "name": "Retention requests", "workspace": "1000", "sections": [
        {"gid": ASANA_NEW, "name": "New request"}, {"gid": ASANA_WAITING, "name": "Waiting on partner"}]}],
}}


def answered(sandbox, vendor: str) -> list[int | None]:
    """The gateway's status for every copy the sandbox sent."""
    return [d["status"] for d in sandbox.webhook_deliveries(vendor)]


def test_given_hubspot_ticket_changes_then_signed_v3_deliveries_answered_2xx_and_each_event_stored_once(
        gateway: Gateway, sandbox) -> None:
    sandbox.set_webhook("hubspot", f"{gateway.url}/webhooks/hubspot", secret=os.environ["HUBSPOT_CLIENT_SECRET"],
                        duplicate=True)
    ticket = sandbox.act("hubspot", "tickets", properties=PIPELINE_STAGE)
    sandbox.act("hubspot", f"tickets/{ticket['id']}", method="PATCH", properties={"hs_pipeline_stage": "2"})
    assert sandbox.flush_webhooks()

    assert answered(sandbox, "hubspot") == [200] * 4
    rows = gateway.rows("hubspot")
    assert [r["payload"]["subscriptionType"] for r in rows] == ["ticket.creation", "ticket.propertyChange"]
    assert {r["record_id"] for r in rows} == {ticket["id"]}
    assert sorted(gateway.announced_ids()) == [r["id"] for r in rows]


def test_given_zendesk_ticket_changes_then_signed_events_answered_2xx_and_stored_once(gateway: Gateway, sandbox) -> None:
    sandbox.set_webhook("zendesk", f"{gateway.url}/webhooks/zendesk", secret=os.environ["ZENDESK_WEBHOOK_SECRET"],
                        duplicate=True)
    ticket = sandbox.act("zendesk", "tickets", subject="Churn risk: Acme AS", requester_email="ola@example.com")
    sandbox.act("zendesk", f"tickets/{ticket['id']}", method="PUT", status="open")
    assert sandbox.flush_webhooks()

    assert set(answered(sandbox, "zendesk")) == {200}
    rows = gateway.rows("zendesk")
    assert len(answered(sandbox, "zendesk")) == 2 * len(rows) >= 4
    assert rows[0]["payload"]["type"] == "zen:event-type:ticket.created"
    assert {r["record_id"] for r in rows} == {str(ticket["id"])}


def test_given_dealbuilder_document_accepted_then_answered_2xx_stored_once_and_key_not_kept(
        gateway: Gateway, sandbox) -> None:
    sandbox.set_webhook("dealbuilder", f"{gateway.url}/webhooks/dealbuilder", duplicate=True)
    doc = sandbox.act("dealbuilder", "documents", id="D-100",
                      Parties=[{"role": "customer", "companyName": "Example Salon AS"}])
    sandbox.act("dealbuilder", f"documents/{doc['id']}/accept")
    assert sandbox.flush_webhooks()

    assert answered(sandbox, "dealbuilder") == [200] * 4
    rows = gateway.rows("dealbuilder")
    assert [r["payload"]["eventType"] for r in rows] == ["DocumentSent", "DocumentAccepted"]
    assert all("webhookKey" not in r["payload"] for r in rows)


def test_given_movidesk_trigger_with_url_token_then_answered_2xx_and_stored_once(gateway: Gateway, sandbox) -> None:
    token = os.environ["MOVIDESK_WEBHOOK_TOKEN"]
    sandbox.set_webhook("movidesk", f"{gateway.url}/webhooks/movidesk?token={token}", duplicate=True)
    sandbox.seed({"movidesk": {"persons": [
        {"id": "300000001", "businessName": "Exemplo Ltda", "personType": 2, "profileType": 2}]}})
    ticket = sandbox.act("movidesk", "tickets", type=2, subject="Implantação Exemplo Ltda",
                         createdBy={"id": "900000001"}, clients=[{"id": "300000001"}],
                         actions=[{"type": 1, "description": "Contrato assinado", "createdBy": {"id": "900000001"}}])
    sandbox.act("movidesk", f"tickets/{ticket['id']}/status", status="Em atendimento")
    assert sandbox.flush_webhooks()

    assert set(answered(sandbox, "movidesk")) == {200}
    rows = gateway.rows("movidesk")
    assert len(answered(sandbox, "movidesk")) == 2 * len(rows) >= 2
    assert {r["record_id"] for r in rows} == {str(ticket["id"])}


def test_given_salesforce_outbound_message_then_soap_ack_and_stored_once(gateway: Gateway, sandbox) -> None:
    sandbox.set_webhook("salesforce", f"{gateway.url}/webhooks/salesforce", duplicate=True)
    account = sandbox.act("salesforce", "records/Account", Name="Acme AS", Self_Onboarding__c=True)
    sandbox.act("salesforce", f"records/Account/{account['Id']}", method="PATCH", Self_Onboarding__c=False)
    assert sandbox.flush_webhooks()

    assert answered(sandbox, "salesforce") == [200, 200]
    [row] = gateway.rows("salesforce")
    assert row["record_id"] == account["Id"] and row["payload"]["object"] == "Account"
    assert row["payload"]["fields"]["Self_Onboarding__c"] == "false"


def test_given_salesforce_posts_then_the_answer_body_is_the_soap_ack(gateway: Gateway, sandbox) -> None:
    """What Salesforce reads: the Ack in the outbound-message namespace (else it retries 24 h)."""
    org = os.environ["SALESFORCE_ORG_ID"]
    from tests.gateway.signing import salesforce, salesforce_message

    answer = gateway.post(salesforce(salesforce_message(org)))
    assert answer.status_code == 200
    assert '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>' in answer.text


def test_given_asana_webhook_created_then_handshake_kept_and_signed_events_stored_once(
        gateway: Gateway, sandbox, sandbox_server) -> None:
    sandbox.seed(ASANA_BOARD)
    expect_webhook_handshake(gateway.ledger, "asana", "retention", datetime.now(UTC))
    created = requests.post(f"{sandbox_server.url}/api/1.0/webhooks", timeout=10,
                            headers={"Authorization": "Bearer asana-sandbox-token"},
                            json={"data": {"resource": ASANA_PROJECT,
                                           "target": f"{gateway.url}/webhooks/asana/retention"}})
    assert created.status_code == 201, created.text  # the handshake was echoed while this call was open
    task = sandbox.act("asana", "tasks", name="Request from support",
                       memberships=[{"project": ASANA_PROJECT, "section": ASANA_NEW}])
    sandbox.act("asana", f"tasks/{task['gid']}/move", section="Waiting on partner")
    assert sandbox.flush_webhooks()

    assert set(answered(sandbox, "asana")) == {200}
    rows = gateway.rows("asana")
    assert rows and {r["record_id"] for r in rows} >= {task["gid"]}
    assert len({r["dedup_key"] for r in rows}) == len(rows)


def test_given_asana_handshake_not_expected_then_webhook_creation_fails(gateway: Gateway, sandbox, sandbox_server) -> None:
    sandbox.seed(ASANA_BOARD)
    created = requests.post(f"{sandbox_server.url}/api/1.0/webhooks", timeout=10,
                            headers={"Authorization": "Bearer asana-sandbox-token"},
                            json={"data": {"resource": ASANA_PROJECT, "target": f"{gateway.url}/webhooks/asana/x"}})
    assert created.status_code == 400
