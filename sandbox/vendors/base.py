"""What every fake vendor shares: its paths, its credentials check, its limits, its store.

A vendor module subclasses ``Vendor`` and fills in ``routes`` (the API, on ``self.router``),
``admin_routes`` (person-in-the-tool changes under ``/_sandbox/<name>/``, which emit
webhooks), ``reset``/``seed`` (state), ``check_auth`` (the vendor's 401), ``check_limits``
(the vendor's 429 or 403 with its own body and headers), and ``sign`` (its webhook scheme).
A module ends with ``VENDOR = <its class>``; the sandbox finds it by the tool's name
(``kickoff.tools.plugin``). Vendors see the sandbox only as ``Services`` (what they use of
it), so no vendor imports ``sandbox.state``.
"""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar, Protocol

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.clock import SandboxClock
from sandbox.limits import Block, Counter, LimitSettings, SlidingWindow
from sandbox.smtp import MailStore
from sandbox.webhooks import Outgoing, WebhookDispatcher, WebhookTarget


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body when it is an object; {} for anything else (the route decides
    what a missing field means)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class Services(Protocol):
    """What a vendor uses of the sandbox it lives in (``sandbox.state.Sandbox`` is one)."""

    clock: SandboxClock
    limits: dict[str, LimitSettings]
    windows: SlidingWindow
    blocks: Block
    counters: Counter
    webhooks: WebhookDispatcher
    mail: MailStore


class Vendor:
    name: ClassVar[str]
    prefixes: ClassVar[tuple[str, ...]]
    """Path prefixes of the vendor's API on the sandbox; () for a vendor without an HTTP API."""
    default_limits: ClassVar[LimitSettings] = LimitSettings(enabled=False)
    default_credentials: ClassVar[dict[str, str]] = {}
    webhook_secret: ClassVar[str | None] = None
    """The credential (of ``default_credentials``) the vendor signs its webhooks with, or (with
    ``webhook_secret_param``) that the subscriber puts in the target URL."""
    webhook_secret_param: ClassVar[str | None] = None
    """A vendor that signs nothing: the target URL's query parameter carrying the secret."""

    def __init__(self, sandbox: Services) -> None:
        self.sb = sandbox
        self.router = APIRouter()
        self.admin = APIRouter(prefix=f"/_sandbox/{self.name}")
        self.credentials: dict[str, str] = dict(self.default_credentials)
        self._ids = itertools.count(1)
        self.reset()
        self.routes()
        self.admin_routes()

    # --- to fill in -------------------------------------------------------------------
    def routes(self) -> None:
        """Declare the vendor's API endpoints on ``self.router``."""

    def admin_routes(self) -> None:
        """Declare person-in-the-tool changes on ``self.admin`` (they emit webhooks)."""

    def reset(self) -> None:
        """Forget every record."""
        self._ids = itertools.count(1)

    def seed(self, data: dict[str, Any]) -> None:
        """Load records from a fixture section (the vendor's own record shapes)."""

    def check_auth(self, request: Request) -> Response | None:
        """None if the request carries this vendor's credentials, else the vendor's 401."""
        return None

    def check_limits(self, request: Request) -> Response | None:
        """None if within the limits, else the vendor's rate-limit answer."""
        return None

    def response_headers(self, request: Request) -> dict[str, str]:
        """Headers the vendor adds to every answer (rate-limit counters, API usage)."""
        return {}

    def on_response(self, request: Request, status: int) -> None:
        """Bookkeeping after an answer (Movidesk counts failures)."""

    def error_response(self, status: int, message: str) -> Response:
        """How this vendor words an injected error."""
        return JSONResponse({"error": message}, status_code=status)

    def sign(self, target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
        """Headers carrying the vendor's webhook signature."""
        return {}

    # --- shared helpers ---------------------------------------------------------------
    @property
    def limits(self) -> LimitSettings:
        return self.sb.limits[self.name]

    def next_id(self) -> int:
        return next(self._ids)

    def bearer_token(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return None

    def window_hit(self, key: str, limit: int, window: float) -> tuple[bool, int, float]:
        return self.sb.windows.hit(f"{self.name}:{key}", limit, window)

    def emit_webhook(self, payload: Any, *, content_type: str = "application/json",
                     extra_headers: dict[str, str] | None = None, target: WebhookTarget | None = None) -> bool:
        """Queue a webhook with this vendor's signature, to ``target`` (one registered through
        the vendor's API) or the vendor's configured target; False when there is none."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":"), default=str).encode()
        return self.sb.webhooks.emit(
            Outgoing(self.name, body, self.sign, content_type=content_type, extra_headers=extra_headers or {},
                     target=target)
        )
