"""Which account a webhook comes from, when tenants have accounts of their own in a tool.

Each tenant's own account names what its deliveries carry (``route`` in tenants.yaml: the
HubSpot ``portalId``, the Zendesk ``account_id``, the Salesforce ``OrganizationId``, an Asana
webhook's ``path`` name). A delivery naming one is verified with that account's connector (its
secret). One naming none is tried with each account's secret in turn (Movidesk's URL token, a
Dealbuilder ``webhookKey``, a HubSpot app's client secret: the secret itself tells the account).
What it parses into is marked with the account, so the tenant is known without reading further.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kickoff.contracts.errors import VendorError
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Delivery
from kickoff.paths import dig
from kickoff.settings import SHARED_ACCOUNT

PATH = "path"
"""A route key matching the webhook path's last segment (``/webhooks/asana/<name>``)."""


def carried(request: WebhookRequest, key: str) -> list[str]:
    """The values of ``key`` the request carries: at that path of a JSON body (of each event of
    a JSON array), in an XML element of that name (a SOAP body), or the path's last segment."""
    if key == PATH:
        return [request.url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]]
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError):
        text = request.body.decode("utf-8", "replace")
        return re.findall(rf"<(?:\w+:)?{re.escape(key)}>([^<]*)</", text)
    events = body if isinstance(body, list) else [body]
    return [str(found) for event in events if (found := dig(event, key)) is not None]


def routes_to(request: WebhookRequest, route: Mapping[str, Any]) -> bool:
    """The request carries one of the route's values at one of its keys."""
    for key, wanted in route.items():
        values = {str(w) for w in (wanted if isinstance(wanted, list) else [wanted])}
        if values & set(carried(request, key)):
            return True
    return False


class AccountRouter:
    """A tool's connectors by account, behind one connector's webhook face (``verify_webhook``,
    ``parse_webhook``); anything else is the shared account's connector's."""

    def __init__(self, tool: str, connectors: Mapping[str, Any], routes: Mapping[str, Mapping[str, Any]]) -> None:
        self.tool = tool
        self.connectors = dict(connectors)
        self.routes = {account: dict(route) for account, route in routes.items() if route}
        self._chosen: dict[int, str] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        fallback = self.connectors.get(SHARED_ACCOUNT) or next(iter(self.connectors.values()))
        return getattr(fallback, name)

    def candidates(self, request: WebhookRequest) -> list[str]:
        """The accounts the request names; else every account, own ones first."""
        named = [account for account, route in self.routes.items() if routes_to(request, route)]
        if named:
            return named
        return sorted(self.connectors, key=lambda account: account == SHARED_ACCOUNT)

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        first: WebhookRejected | VendorError | None = None
        for account in self.candidates(request):
            try:
                self.connectors[account].verify_webhook(request, now)
            except (WebhookRejected, VendorError) as exc:
                first = first or exc
                continue
            with self._lock:
                self._chosen[id(request)] = account
            return
        if isinstance(first, VendorError) and not isinstance(first, WebhookRejected):
            raise first
        raise first or WebhookRejected(401, f"no {self.tool} account's secret signed this request")

    def parse_webhook(self, request: WebhookRequest, now: datetime) -> list[Delivery]:
        with self._lock:
            account = self._chosen.pop(id(request), SHARED_ACCOUNT)
        connector = self.connectors.get(account) or self.connectors[SHARED_ACCOUNT]
        return [d.from_account(account) for d in connector.parse_webhook(request, now)]
