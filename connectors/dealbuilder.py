"""Dealbuilder: only webhooks in, nothing out.

It POSTs one JSON object per event (``DocumentSent``, ``DocumentAccepted``) and
authenticates it only by ``webhookKey`` in the body: no HMAC, no timestamp. So the key is
compared in constant time, and replays are caught downstream by the dedup key (the event
id when present, else a hash of document id, event type and the accepted or event time).
Turning the document into Kickoff's facts is the mapping's job (its schema is not public);
here a body is only checked enough to be stored, and the key is removed from what is kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.base import Connector, NoReads
from connectors.errors import VendorError
from connectors.webhooks import WebhookRejected, WebhookRequest, constant_time_equal
from kickoff.model import Action, ActionResult, Delivery, ResultStatus

EVENT_TYPES = ("DocumentSent", "DocumentAccepted")
NO_WRITES = "Dealbuilder has no write API"


def _body(request: WebhookRequest) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except ValueError:
        raise WebhookRejected(400, "Dealbuilder webhook body is not JSON") from None
    if not isinstance(body, dict):
        raise WebhookRejected(400, "Dealbuilder webhook body is not a JSON object")
    return body


def dedup_key(body: dict[str, Any]) -> str:
    if body.get("eventId"):
        return f"dealbuilder:{body['eventId']}"
    document = body["document"]
    moment = document.get("acceptedAt") or body.get("timestamp") or ""
    raw = "\x1f".join([str(document.get("id", "")), str(body["eventType"]), str(moment)])
    return f"dealbuilder:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


class DealbuilderConnector(NoReads, Connector):
    tool = "dealbuilder"

    def apply(self, actions: Sequence[Action]) -> list[ActionResult]:
        return [ActionResult(idempotency_key=a.idempotency_key, status=ResultStatus.PERMANENT, reason=NO_WRITES)
                for a in actions]

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        given = _body(request).get("webhookKey")
        if not isinstance(given, str) or not given:
            raise WebhookRejected(401, "Dealbuilder webhook has no webhookKey")
        try:
            expected = self.secret("webhook_key")
        except VendorError:
            raise WebhookRejected(401, "no Dealbuilder webhook key configured") from None
        if not constant_time_equal(given, expected):
            raise WebhookRejected(401, "Dealbuilder webhookKey does not match")

    def parse_webhook(self, request: WebhookRequest) -> list[Delivery]:
        body = _body(request)
        event_type = body.get("eventType")
        if not event_type:
            raise WebhookRejected(400, "Dealbuilder webhook has no eventType")
        if event_type not in EVENT_TYPES:
            raise WebhookRejected(400, f"unknown Dealbuilder eventType {event_type!r} (expected one of {', '.join(EVENT_TYPES)})")
        document = body.get("document")
        if not isinstance(document, dict) or not document:
            raise WebhookRejected(400, f"Dealbuilder {event_type} has no document")
        payload = {k: v for k, v in body.items() if k != "webhookKey"}
        record = document.get("id")
        return [Delivery(tool="dealbuilder", dedup_key=dedup_key(body), kind="webhook",
                         received_at=datetime.now(UTC), payload=payload,
                         record_id=str(record) if record is not None else None)]
