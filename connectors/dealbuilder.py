"""Dealbuilder: only webhooks in, nothing out.

It POSTs one flat JSON object per event (``DocumentSent``, ``DocumentAccepted``):
``eventType`` and ``webhookKey`` beside the document's own fields (see
``kickoff.tools.dealbuilder``). It authenticates only by ``webhookKey`` in the body: no HMAC,
no timestamp. So the key is compared in constant time and removed from what is kept, and
replays are caught downstream by the dedup key: the documented fields carry no event id, so
the key is a hash of the body without ``webhookKey`` (a redelivery is the same body).

A signing event that lacks what the mapping needs (``reads``: the required facts' paths from
the tenants' tables; the declaration's documented paths when none are given) is answered 400
naming what is missing, so the refusal shows in Dealbuilder's log instead of as a failed
mapping later.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connectors.base import Connector, NoReads
from kickoff.contracts.errors import VendorError
from kickoff.contracts.subscriptions import Wanted
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    constant_time_equal,
    json_body,
)
from kickoff.model import ActionResult, Delivery, ResultStatus
from kickoff.paths import first_value
from kickoff.tools.dealbuilder import (
    EVENT_TYPES,
    EVENTS_READ,
    KEY_FIELD,
    PATHS,
    SIGNED,
    lacking,
    required_reads,
)

NO_WRITES = "Dealbuilder has no write API"
WHAT = "Dealbuilder webhook"


def dedup_key(payload: dict[str, Any]) -> str:
    """The same for every delivery of one event: a hash of its body without the webhook key."""
    kept = {k: v for k, v in payload.items() if k != KEY_FIELD}
    raw = json.dumps(kept, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return f"dealbuilder:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


class DealbuilderConnector(NoReads, Connector):
    tool = "dealbuilder"

    checks_only = "nothing to call: the webhook key is set"
    """What ``check`` proves for a tool without an API (the CLI says so beside ``ok``)."""

    def check(self, now: datetime) -> list[str]:
        return self.unset_credentials(["webhook_key"])

    @property
    def _needs(self) -> dict[str, list[str]]:
        """What a body must hold: the mapping's ``reads``, else the documented defaults."""
        return self.reads or required_reads([SIGNED], PATHS)

    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        return [ActionResult(idempotency_key=a.idempotency_key, status=ResultStatus.PERMANENT,
                             reason=NO_WRITES) for a in actions]

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        given = json_body(request.body, WHAT).get(KEY_FIELD)
        if not isinstance(given, str) or not given:
            raise WebhookRejected(401, "Dealbuilder webhook has no webhookKey")
        try:
            expected = self.secret("webhook_key")
        except VendorError:
            raise WebhookRejected(401, "no Dealbuilder webhook key configured") from None
        if not constant_time_equal(given, expected):
            raise WebhookRejected(401, "Dealbuilder webhookKey does not match")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        body = json_body(request.body, WHAT)
        event_type = body.get("eventType")
        if not event_type:
            raise WebhookRejected(400, "Dealbuilder webhook has no eventType")
        if event_type not in EVENT_TYPES:
            raise WebhookRejected(400, f"unknown Dealbuilder eventType {event_type!r} "
                                       f"(expected one of {', '.join(EVENT_TYPES)})")
        needs = self._needs
        if event_type in needs.get(EVENTS_READ, [SIGNED]):
            gaps = lacking(body, needs)
            if gaps:
                raise WebhookRejected(400, f"Dealbuilder {event_type}: {'; '.join(gaps.values())}")
        payload = {k: v for k, v in body.items() if k != KEY_FIELD}
        record = first_value(body, needs.get("document_id") or PATHS["document_id"])
        return [Delivery(tool="dealbuilder", dedup_key=dedup_key(payload), kind="webhook",
                         received_at=now, payload=payload,
                         record_id=str(record) if record is not None else None)]

    def webhook_steps(self, url: str, wanted: Sequence[Wanted]) -> list[str]:
        """Dealbuilder has no API for its webhooks: a person adds one in its settings."""
        events = sorted({e for w in wanted for e in w.spec.get("events", [])})
        return [
            "In Dealbuilder, open the account's integration settings and add a webhook.",
            f"URL: {url}   (method POST, body JSON)",
            f"Events: {', '.join(events)}",
            f"Webhook key: the value of {self.setting('webhook_key')} (compared with the body's webhookKey).",
            "Save, sign a test document and check that `kickoff ledger status` counts one more inbox row.",
        ]


CONNECTOR = DealbuilderConnector
