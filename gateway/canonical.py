"""``POST /webhooks/events``: canonical events from sources that are no vendor (rule E1: the
network's own sign-up platform posts ``account.created`` directly).

Authenticated by ``Authorization: Bearer <KICKOFF_EVENTS_TOKEN>``; the body is one
canonical event (``kickoff.model.Event`` as JSON) or a list of them. Each becomes a
delivery of tool ``kickoff``, deduplicated by the event's id, so a re-post is harmless.
It has the shape of a connector's webhook half, so it goes through the same intake.
"""

from __future__ import annotations

import os
from datetime import datetime

from pydantic import ValidationError

from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    constant_time_equal,
    json_body,
)
from kickoff.model import Delivery, Event

TOKEN_ENV = "KICKOFF_EVENTS_TOKEN"
MAX_EVENTS = 100


class CanonicalEvents:
    """Verifier and parser for canonical events, with the connector's webhook methods."""

    tool = "kickoff"

    def __init__(self, token: str | None = None) -> None:
        self._token = token

    def secret(self, name: str) -> str:
        """The token, read when a request comes (like every credential); VendorError if unset."""
        token = self._token or os.environ.get(TOKEN_ENV)
        if not token:
            raise VendorError(ErrorKind.AUTH, f"{TOKEN_ENV} is not set")
        return token

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        """The bearer token, compared in constant time; there is no timestamp to check."""
        scheme, _, given = (request.header("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise WebhookRejected(401, "missing Authorization: Bearer token")
        if not constant_time_equal(given.strip(), self.secret("token")):
            raise WebhookRejected(401, "wrong bearer token")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        body = json_body(request.body, "canonical event", expect=(dict, list))
        items = body if isinstance(body, list) else [body]
        if not items or len(items) > MAX_EVENTS:
            raise WebhookRejected(400, f"expected one canonical event or a list of 1 to {MAX_EVENTS}")
        deliveries = []
        for index, item in enumerate(items):
            try:
                event = Event.model_validate(item)
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(str(p) for p in err["loc"]) or "(event)"
                raise WebhookRejected(400, f"event {index}: {where}: {err['msg']}") from None
            deliveries.append(Delivery(tool="kickoff", dedup_key=f"kickoff:event:{event.id}",
                                       kind="webhook", received_at=now, record_id=event.subject,
                                       payload=event.model_dump(mode="json")))
        return deliveries
