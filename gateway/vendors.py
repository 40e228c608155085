"""Which tool posts where (from the declarations), which connector checks it, and what each
tool wants back.

Connectors are imported on first use, never at import time: a gateway that only ever hears
from HubSpot never loads simple-salesforce.
The handshake of tools that hand over a secret per webhook is in ``handshake``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.responses import Response

from connectors.ratelimit import RateLimiter, limiter_for
from flows.runtime import connector_for
from gateway.accounts import PATH, AccountRouter
from kickoff.settings import SHARED_ACCOUNT, Config, load_config
from kickoff.tools import ToolSpec, declared
from mappings.base import load_tables


@dataclass(frozen=True)
class WebhookRoute:
    """``POST /webhooks/<tool>`` (and ``/webhooks/<tool>/<name>`` for a handshake tool): the
    tool's connector verifies and parses what arrives there."""

    tool: str
    ack: Callable[[], Response] | None = None  # the vendor's own 2xx body, if it needs one
    redact: tuple[str, ...] = field(default=())  # body keys never kept (a secret in the body)
    handshake: bool = False  # one webhook per name, its secret handed over when it is created

    @property
    def paths(self) -> tuple[str, ...]:
        """The route's paths as served (``{name}`` is a path parameter)."""
        base = f"/webhooks/{self.tool}"
        return (base, f"{base}/{{name}}") if self.handshake else (base,)

    @property
    def shown(self) -> str:
        """The route as the health answer lists it."""
        return f"/webhooks/{self.tool}[/<name>]" if self.handshake else f"/webhooks/{self.tool}"


def _route(declared: ToolSpec) -> WebhookRoute:
    hooks = declared.webhooks
    assert hooks is not None
    ack = None
    if hooks.ack_body is not None:
        body, media_type = hooks.ack_body, hooks.ack_media_type

        def ack() -> Response:
            return Response(body, media_type=media_type)
    return WebhookRoute(declared.name, ack=ack, redact=hooks.redact, handshake=hooks.handshake)


VENDORS: dict[str, WebhookRoute] = {t.name: _route(t) for t in declared() if t.webhooks is not None}
"""Every tool that calls Kickoff, from the declarations."""


class ToolNotConfigured(LookupError):
    """A webhook for a tool that tools.yaml does not define."""


class Connectors:
    """The connector per tool: the ones given, else built from the config on first use (the
    one factory, with the process's shared rate limiter)."""

    def __init__(self, given: Mapping[str, Any] | None = None, config: Config | None = None) -> None:
        self._built: dict[str, Any] = dict(given or {})
        self._config = config
        self._limiter: RateLimiter | None = None
        self._tables: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, tool: str) -> Any:
        with self._lock:
            if tool not in self._built:
                self._built[tool] = self._build(tool)
            return self._built[tool]

    def _build(self, tool: str) -> Any:
        """The tool's connector; with tenants' own accounts, an ``AccountRouter`` over them."""
        if self._config is None:
            self._config = load_config()
        if tool not in self._config.tools or tool not in VENDORS:
            raise ToolNotConfigured(f"{tool} is not configured in tools.yaml")
        if self._limiter is None:
            self._limiter = limiter_for(self._config.tools)
            self._tables = load_tables(Path(self._config.settings.config_dir))
        accounts = list(self._config.accounts(tool))
        if accounts in ([], [SHARED_ACCOUNT]):
            return connector_for(tool, self._config, self._tables, limiter=self._limiter)
        return AccountRouter(tool, {account: connector_for(tool, self._config, self._tables, limiter=self._limiter,
                                                           account=account) for account in accounts},
                             {account: self._config.route_of(tool, account) for account in accounts})

    def for_path(self, tool: str, name: str) -> tuple[Any, str | None]:
        """A handshake tool's connector for the webhook path ``name``, and the tenant's own
        account that path belongs to (its route's ``path``), if any."""
        connector = self.get(tool)
        if not isinstance(connector, AccountRouter):
            return connector, None
        account = next((a for a, route in connector.routes.items() if route.get(PATH) == name), None)
        return connector.connectors.get(account or SHARED_ACCOUNT, connector), account
