"""``POST /webhooks/events``: canonical events from sources that are no vendor (rule E1: the
network's own sign-up platform posts ``account.created`` directly).

Authenticated by ``Authorization: Bearer <KICKOFF_EVENTS_TOKEN>``; the body is one event
in the format ``kickoff schema events`` prints (``kickoff.event_input``, the same as events
files) or a list of them. Each is validated for its type before anything is stored: a bad
one is answered 422 naming the event and the field, and the body is kept as a failed inbox
row for inspection. A time without an offset is the named tenant's local time. Each event
becomes a delivery of tool ``kickoff``, deduplicated by the event's id (derived from its
content when left out), so a re-post is harmless. It has the shape of a connector's webhook
half, so it goes through the same intake.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from kickoff.contracts.errors import ErrorKind, VendorError
from kickoff.contracts.webhooks import (
    WebhookRejected,
    WebhookRequest,
    constant_time_equal,
    json_body,
)
from kickoff.event_input import EventRefused, read_event
from kickoff.model import Delivery, Event

Zones = Callable[[], Mapping[str, ZoneInfo]]
"""The configured tenants and their time zones, read when the first event comes."""
Needs = Callable[[], Mapping[str, Mapping[str, Mapping[str, str]]]]
"""Tenant -> event type -> {data field: rule}: what each tenant's playbook writes on
(``kickoff.playbooks.needs``), read when the first event comes."""

TOKEN_ENV = "KICKOFF_EVENTS_TOKEN"
MAX_EVENTS = 100


def event_delivery(event: Event, received_at: datetime) -> Delivery:
    """The inbox row for one canonical event: keyed by the event's id, so the same event
    posted twice is stored once."""
    return Delivery(tool="kickoff", dedup_key=f"kickoff:event:{event.id}", kind="webhook",
                    received_at=received_at, record_id=event.subject, payload=event.model_dump(mode="json"))


class CanonicalEvents:
    """Verifier and parser for canonical events, with the connector's webhook methods."""

    tool = "kickoff"

    def __init__(self, token: str | None = None, zones: Zones | None = None, needs: Needs | None = None) -> None:
        self._token = token
        self._zones = zones
        self._needs = needs

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
                event = read_event(item, self._zone(item))
                self._check_needs(event.tenant, event.type, event.data)
            except EventRefused as exc:
                raise WebhookRejected(422, f"event {index}: {exc}") from None
            deliveries.append(event_delivery(event, now))
        return deliveries

    def _check_needs(self, tenant: str | None, event_type: str, data: Mapping[str, object]) -> None:
        """The fields the tenant's playbook writes on must be there (an event naming no tenant
        is checked when its onboarding is found)."""
        if tenant is None or self._needs is None:
            return
        needed = self._needs().get(tenant, {}).get(str(event_type), {})
        missing = [(f"data.{field}", f"missing: {tenant}'s playbook writes on it (rule {rule})")
                   for field, rule in needed.items() if data.get(field) in (None, "")]
        if missing:
            raise EventRefused(missing)

    def _zone(self, item: object) -> ZoneInfo | None:
        """The zone of the tenant the event names (EventRefused if it is none of ours)."""
        tenant = item.get("tenant") if isinstance(item, dict) else None
        if tenant is None or self._zones is None:
            return None
        zones = self._zones()
        if tenant not in zones:
            raise EventRefused([("tenant", f"not a configured tenant; one of {', '.join(zones)}")])
        return zones[tenant]
