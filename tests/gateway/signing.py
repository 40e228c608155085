"""Each vendor's webhook formula, written out from VENDORS.md independently of the code under
test, to build valid, forged, stale and malformed deliveries where the sandbox cannot."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

HUBSPOT_V3_DECODED = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
                      "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"


@dataclass
class Post:
    """One request as a vendor would send it."""

    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def hubspot_v3(secret: str, method: str, url: str, body: bytes, timestamp_ms: int) -> str:
    uri = url
    for escape, char in HUBSPOT_V3_DECODED.items():
        uri = uri.replace(escape, char)
    message = method.encode() + uri.encode() + body + str(timestamp_ms).encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def hubspot(base: str, secret: str, body: bytes, *, age: timedelta = timedelta(0),
            signed_url: str | None = None) -> Post:
    stamp = int((time.time() - age.total_seconds()) * 1000)
    url = f"{base}/webhooks/hubspot"
    signature = hubspot_v3(secret, "POST", signed_url or url, body, stamp)
    return Post("/webhooks/hubspot", body, {"Content-Type": "application/json",
                                            "X-HubSpot-Signature-v3": signature,
                                            "X-HubSpot-Request-Timestamp": str(stamp)})


def hubspot_events(*event_ids: int) -> bytes:
    return json.dumps([{"eventId": i, "subscriptionId": 4100001, "portalId": 62515, "appId": 54321,
                        "occurredAt": 1_770_000_000_000 + i, "subscriptionType": "ticket.propertyChange",
                        "attemptNumber": 0, "objectId": 9000 + i, "propertyName": "hs_pipeline_stage",
                        "propertyValue": "2", "changeSource": "CRM_UI"} for i in event_ids]).encode()


def zendesk(secret: str, body: bytes, *, age: timedelta = timedelta(0)) -> Post:
    stamp = (datetime.now(UTC) - age).strftime("%Y-%m-%dT%H:%M:%SZ")
    signature = base64.b64encode(hmac.new(secret.encode(), stamp.encode() + body, hashlib.sha256).digest())
    return Post("/webhooks/zendesk", body, {"Content-Type": "application/json",
                                            "X-Zendesk-Webhook-Signature": signature.decode(),
                                            "X-Zendesk-Webhook-Signature-Timestamp": stamp})


def zendesk_event(event_id: str = "01HZENDESKEVENT0001") -> bytes:
    return json.dumps({"type": "zen:event-type:ticket.status_changed", "account_id": 10001, "id": event_id,
                       "time": "2026-03-02T09:00:00Z", "zendesk_event_version": "2022-11-06",
                       "subject": "zen:ticket:42", "detail": {"id": "42", "status": "OPEN"},
                       "event": {"current": "OPEN", "previous": "NEW"}}).encode()


def dealbuilder(key: str, event_type: str = "DocumentAccepted", event_id: str = "evt-1") -> Post:
    """Flat, as Dealbuilder posts it: the document's own fields beside eventType and webhookKey."""
    body = {"eventType": event_type, "eventId": event_id, "webhookKey": key, "id": "D-100",
            "Parties": [{"role": "customer", "companyName": "Example Salon AS"}]}
    return Post("/webhooks/dealbuilder", json.dumps(body).encode(), {"Content-Type": "application/json"})


def movidesk(token: str, body: dict[str, Any] | bytes) -> Post:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Post(f"/webhooks/movidesk?token={token}", raw, {"Content-Type": "application/json"})


def movidesk_ticket(ticket_id: Any = 7, last_update: str = "2026-03-02T09:00:00") -> dict[str, Any]:
    return {"Id": ticket_id, "Subject": "Onboarding Example AS", "Status": "Em atendimento",
            "LastUpdate": last_update, "Actions": []}


def salesforce_message(org_id: str, *, notifications: int = 1) -> bytes:
    notes = "".join(
        f"<Notification><Id>04l00000000000{n}AAA</Id><sObject xsi:type=\"sf:Account\">"
        f"<sf:Id>001000000000{n:03d}AAA</sf:Id><sf:Self_Onboarding__c>false</sf:Self_Onboarding__c>"
        f"<sf:SystemModstamp>2026-03-02T09:00:0{n}.000Z</sf:SystemModstamp></sObject></Notification>"
        for n in range(notifications))
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{SOAP}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<notifications xmlns="{OUTBOUND}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f"<OrganizationId>{org_id}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
            f"{notes}</notifications></soapenv:Body></soapenv:Envelope>").encode()


def salesforce(body: bytes) -> Post:
    return Post("/webhooks/salesforce", body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'})


def asana(secret: str, body: bytes, name: str = "board") -> Post:
    signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Post(f"/webhooks/asana/{name}", body, {"Content-Type": "application/json",
                                                 "X-Hook-Signature": signature})


def asana_events(task_gid: str = "4001") -> bytes:
    return json.dumps({"events": [{"user": {"gid": "1001", "resource_type": "user"},
                                   "created_at": "2026-03-02T09:00:00.000Z", "action": "changed",
                                   "resource": {"gid": task_gid, "resource_type": "task"},
                                   "parent": None, "change": {"field": "name", "action": "changed"}}]}).encode()


def canonical(token: str, body: dict[str, Any] | bytes) -> Post:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return Post("/webhooks/events", raw, {"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})


def signup_event(event_id: str = "signup-1") -> dict[str, Any]:
    """Rule E1: the network's own sign-up platform reports a new account."""
    return {"id": event_id, "type": "account.created", "occurred_at": "2026-03-02T09:00:00+00:00",
            "subject": "acct-example-salon", "tenant": "network",
            "data": {"account_name": "Example Salon AS", "origin": "diy", "email": "salon@example.com"}}
