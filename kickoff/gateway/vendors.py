"""Which vendor posts where, which connector checks it, and what each vendor wants back.

Connectors are imported on first use, never at import time: the core stays free of vendor
clients, and a gateway that only ever hears from HubSpot never loads simple-salesforce.
Asana's per-webhook secret (handed over once, in the handshake) lives in the ledger, so
every gateway process sharing the ledger can check signatures.
"""

from __future__ import annotations

import copy
import importlib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from kickoff.ledger import cursors

if TYPE_CHECKING:
    from kickoff.ledger import Ledger
    from kickoff.settings import Config


def _soap_ack() -> Response:
    """Salesforce retries an Outbound Message until it gets this exact SOAP Ack."""
    ack = importlib.import_module("connectors.salesforce").soap_ack()
    return Response(ack, media_type="text/xml; charset=utf-8")


@dataclass(frozen=True)
class Vendor:
    """One webhook route: the connector class that verifies and parses what arrives there."""

    tool: str
    connector: str  # "module:Class", imported on first delivery
    ack: Callable[[], Response] | None = None  # the vendor's own 2xx body, if it needs one
    redact: tuple[str, ...] = field(default=())  # body keys never kept (a secret in the body)


VENDORS: dict[str, Vendor] = {
    v.tool: v
    for v in (
        Vendor("hubspot", "connectors.hubspot:HubSpotConnector"),
        Vendor("salesforce", "connectors.salesforce:SalesforceConnector", ack=_soap_ack),
        Vendor("zendesk", "connectors.zendesk:ZendeskConnector"),
        Vendor("movidesk", "connectors.movidesk:MovideskConnector"),
        Vendor("dealbuilder", "connectors.dealbuilder:DealbuilderConnector", redact=("webhookKey",)),
        Vendor("asana", "connectors.asana:AsanaConnector"),
    )
}


class ToolNotConfigured(LookupError):
    """A webhook for a tool that tools.yaml does not define."""


class Connectors:
    """The connector per tool: the ones given, else built from the config on first use."""

    def __init__(self, given: Mapping[str, Any] | None = None, config: Config | None = None) -> None:
        self._built: dict[str, Any] = dict(given or {})
        self._config = config
        self._lock = threading.Lock()

    def get(self, tool: str) -> Any:
        with self._lock:
            if tool not in self._built:
                self._built[tool] = self._build(tool)
            return self._built[tool]

    def _build(self, tool: str) -> Any:
        if self._config is None:
            from kickoff.settings import load_config

            self._config = load_config()
        if tool not in self._config.tools or tool not in VENDORS:
            raise ToolNotConfigured(f"{tool} is not configured in tools.yaml")
        module, name = VENDORS[tool].connector.split(":")
        return getattr(importlib.import_module(module), name).from_config(self._config)


def with_secret(connector: Any, name: str, value: str) -> Any:
    """A shallow view of ``connector`` whose credential ``name`` is ``value`` (Asana's secret
    comes from the ledger, not from tools.yaml); the connector's own check runs unchanged."""
    view = copy.copy(connector)
    original = connector.secret
    view.secret = lambda wanted: value if wanted == name else original(wanted)
    return view


# --- Asana: the handshake secret, one per webhook path --------------------------------------
ASANA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DEFAULT_ASANA_NAME = "default"
HANDSHAKE_WINDOW = timedelta(minutes=2)


def _secret_stream(name: str) -> str:
    return f"webhook-secret:{name}"


def _armed_stream(name: str) -> str:
    return f"webhook-handshake:{name}"


def asana_secret(ledger: Ledger, name: str) -> str | None:
    """The secret Asana gave this path's webhook in its handshake, if any."""
    return ledger.get_cursor("asana", _secret_stream(name)) or None


def expect_asana_handshake(ledger: Ledger, name: str, now: datetime,
                           window: timedelta = HANDSHAKE_WINDOW) -> None:
    """Call just before ``create_webhook`` targets ``/webhooks/asana/<name>``: the gateway
    accepts a handshake on that path only until ``now + window`` (else anyone could post an
    ``X-Hook-Secret`` and then sign deliveries of their own)."""
    ledger.advance_cursor("asana", _armed_stream(name), (now + window).isoformat(), now=now)


def accept_asana_handshake(ledger: Ledger, name: str, secret: str, now: datetime) -> bool:
    """Keep ``secret`` for ``name`` if a handshake is expected there now; one use only."""
    with ledger.transaction() as conn:
        until = cursors.get(conn, "asana", _armed_stream(name))
        if not until or datetime.fromisoformat(until) < now:
            return False
        cursors.advance(conn, "asana", _secret_stream(name), secret, now)
        cursors.advance(conn, "asana", _armed_stream(name), "", now)
        return True


def forget_asana_secret(ledger: Ledger, name: str, now: datetime) -> None:
    """After deleting the Asana webhook: its path accepts no signed deliveries any more."""
    ledger.advance_cursor("asana", _secret_stream(name), "", now=now)
