"""The gateway's ASGI app: one POST route per tool that declares webhooks (``vendors``, from
the declarations; a handshake tool's routes go through ``handshake``), the canonical intake,
and health. No tool is named here.

Example::

    from gateway import create_app
    from kickoff.ledger import Ledger

    app = create_app(Ledger.open())  # connectors from config/, announcer: Prefect's emit_event
    # uvicorn.run(app, port=8787)  -- or `kickoff gateway --port 8787`

Every answer follows the same rule (see ``intake``): 2xx only after the inbox commit; then,
off the request path, Prefect is told (``announce``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import handshake
from gateway.announce import DEFAULT_MAX_PENDING, Announce, BackgroundAnnouncer, announce_to_prefect
from gateway.body import DEFAULT_MAX_BODY_BYTES, BodyRejected, read_capped
from gateway.canonical import CanonicalEvents
from gateway.intake import Intake, Outcome
from gateway.vendors import VENDORS, Connectors, ToolNotConfigured, WebhookRoute

if TYPE_CHECKING:
    from kickoff.contracts.webhooks import WebhookRequest
    from kickoff.ledger import Ledger
    from kickoff.settings import Config

log = logging.getLogger("gateway")
access_log = logging.getLogger("gateway.access")

WORKERS = 32
"""Threads storing deliveries (verify, parse, group commit): more than the in-flight requests
a vendor keeps (HubSpot: 10), so a request never queues for a thread behind another's commit."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    ledger: Ledger,
    connectors: Mapping[str, Any] | None = None,
    announce: Announce = announce_to_prefect,
    *,
    config: Config | None = None,
    public_url: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    events_token: str | None = None,
    clock: Callable[[], datetime] = _utcnow,
    max_pending_announcements: int = DEFAULT_MAX_PENDING,
) -> FastAPI:
    """The gateway app over ``ledger`` (owned by the caller, who closes it).

    ``connectors``: tool -> connector (anything with ``verify_webhook``/``parse_webhook``);
    tools not given are built from ``config`` (default: ``load_config()``) on first use.
    ``announce(tool, new_inbox_ids)`` runs on a background thread after each commit.
    ``public_url`` (default ``KICKOFF_PUBLIC_URL``) is the base HubSpot signs; without it, the
    request's own URL. ``events_token`` (default ``KICKOFF_EVENTS_TOKEN``, read per request)
    guards ``/webhooks/events``.
    """
    source = Connectors(connectors, config)
    intake = Intake(ledger, clock)
    announcer = BackgroundAnnouncer(announce, max_pending_announcements)
    canonical = CanonicalEvents(events_token, zones=_tenant_zones(config), needs=_tenant_needs(config))
    if public_url is None:
        from kickoff.settings import KickoffSettings

        public_url = (config.settings if config is not None else KickoffSettings()).public_url
    _hide_query_strings_in_access_logs()
    # Our own pool, not Starlette's run_in_threadpool: anyio's hop (capacity limiter, cancel
    # scope, token look-ups) was a sizeable share of the event loop's CPU per acknowledgement.
    workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="kickoff-gateway-store")

    async def off_loop(work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` on a store thread (it blocks: the ledger), awaited."""
        return await asyncio.get_running_loop().run_in_executor(workers, work, *args)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        workers.shutdown(wait=True)
        announcer.close()

    app = FastAPI(title="Kickoff gateway", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.ledger, app.state.announcer, app.state.max_body_bytes = ledger, announcer, max_body_bytes
    app.add_middleware(AccessLog)

    async def deliver(request: Request, tool: str,
                      work: Callable[[WebhookRequest], Outcome],
                      ack: Callable[[], Response] | None = None) -> Response:
        """Read (capped), run ``work`` off the event loop, answer, then announce."""
        try:
            body = await read_capped(request, max_body_bytes)
        except BodyRejected as rejected:
            log.warning("%s: refused with %d: %s", tool, rejected.status, rejected.reason)
            return _error(rejected.status, rejected.reason)
        webhook = _webhook_request(request, body, public_url)
        try:
            outcome = await off_loop(work, webhook)
        except ToolNotConfigured as exc:
            return _error(404, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug, not the vendor's: 500, it retries
            log.error("%s: internal error handling a webhook (%s)", tool, type(exc).__name__)
            return _error(500, "internal error")
        if outcome.new_ids:
            announcer.submit(tool, outcome.new_ids)
        if outcome.status < 300:
            if outcome.headers:  # a handshake's answer
                return Response(status_code=outcome.status, headers=outcome.headers)
            if ack is not None:
                return ack()
            return JSONResponse({"stored": len(outcome.inbox_ids), "new": len(outcome.new_ids)})
        return _error(outcome.status, outcome.reason or "refused", outcome.kept_id)

    def vendor_route(route: WebhookRoute) -> Callable[[Request], Awaitable[Response]]:
        def work(webhook: WebhookRequest) -> Outcome:
            connector = handshake.with_kept_secrets(source.get(route.tool),
                                                   functools.partial(ledger.webhook_secrets, route.tool))
            return intake.receive(route.tool, connector, webhook, route.redact)

        async def endpoint(request: Request) -> Response:
            return await deliver(request, route.tool, work, route.ack)

        endpoint.__name__ = f"webhook_{route.tool}"
        return endpoint

    def handshake_route(route: WebhookRoute) -> Callable[[Request], Awaitable[Response]]:
        """A tool whose webhooks are created with a handshake: one secret per path name."""

        async def endpoint(request: Request) -> Response:
            name = request.path_params.get("name", handshake.DEFAULT_HOOK_NAME)
            if not handshake.HOOK_NAME.match(name):
                return _error(404, f"not a {route.tool} webhook path")

            def work(webhook: WebhookRequest) -> Outcome:
                connector, account = source.for_path(route.tool, name)
                return handshake.receive(intake, route, connector, webhook, name, clock(), account=account)

            return await deliver(request, route.tool, work, route.ack)

        endpoint.__name__ = f"webhook_{route.tool}"
        return endpoint

    async def events_endpoint(request: Request) -> Response:
        """Canonical events from our own platforms (rule E1), bearer-token authenticated."""
        return await deliver(request, "kickoff",
                             lambda webhook: intake.receive("kickoff", canonical, webhook))

    async def health(_: Request) -> Response:
        """Up, and the ledger answers (a webhook now would be stored)."""
        try:
            await off_loop(ledger.get_cursor, "gateway", "health")
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            log.error("health: ledger unavailable (%s)", type(exc).__name__)
            return JSONResponse({"status": "ledger unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "routes": _route_paths()})

    # Plain Starlette routes: the endpoints take the raw Request and build their own answers,
    # so FastAPI's per-request dependency solving and exit stacks would be pure overhead.
    app.add_route("/", health, methods=["GET"])
    app.add_route("/webhooks/events", events_endpoint, methods=["POST"])
    for route in VENDORS.values():
        endpoint = handshake_route(route) if route.handshake else vendor_route(route)
        for path in route.paths:
            app.add_route(path, endpoint, methods=["POST"])
    return app


def _tenant_zones(config: Config | None) -> Callable[[], dict[str, ZoneInfo]]:
    """The tenants' time zones (a canonical event's local times), read once, when first needed."""

    @functools.cache
    def zones() -> dict[str, ZoneInfo]:
        from kickoff.settings import load_config

        return {key: tenant.zone for key, tenant in (config or load_config()).tenants.items()}

    return zones


def _tenant_needs(config: Config | None) -> Callable[[], dict[str, dict[str, dict[str, str]]]]:
    """What each tenant's playbook writes on, per event type (a canonical event's required
    fields beyond its type's), read once, when first needed."""

    @functools.cache
    def needs() -> dict[str, dict[str, dict[str, str]]]:
        from kickoff.playbooks.loader import find_playbook
        from kickoff.playbooks.needs import data_needs
        from kickoff.settings import load_config

        loaded = config or load_config()
        folder = Path(loaded.settings.config_dir) / "playbooks"
        by_playbook = {name: data_needs(find_playbook(name, folder if folder.is_dir() else None))
                       for name in {tenant.playbook for tenant in loaded.tenants.values()}}
        return {key: by_playbook[tenant.playbook] for key, tenant in loaded.tenants.items()}

    return needs


def _route_paths() -> list[str]:
    return ["/webhooks/events", *(route.shown for route in VENDORS.values())]


def _error(status: int, reason: str, kept_id: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": reason}
    if kept_id is not None:
        body["kept_as_inbox_id"] = kept_id
    return JSONResponse(body, status_code=status)


def _webhook_request(request: Request, body: bytes, public_url: str | None) -> WebhookRequest:
    """The request as the vendor signed it: method, full URL (public base if configured),
    headers, raw body and query."""
    from kickoff.contracts.webhooks import WebhookRequest

    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"").decode("latin-1")
    headers = dict(request.headers)
    if public_url:
        base = public_url.rstrip("/")
    else:  # the Host header as sent; Starlette's URL (built per request) only without one
        host = headers.get("host")
        base = (f"{scope.get('scheme', 'http')}://{host}" if host
                else f"{request.url.scheme}://{request.url.netloc}")
    url = base + raw_path.decode("latin-1") + (f"?{query}" if query else "")
    return WebhookRequest(method=scope["method"], url=url, headers=headers, body=body,
                          query=dict(request.query_params) if query else {})


class AccessLog:
    """One line per request: method, path WITHOUT the query string (Movidesk's token travels
    there), status and time. Headers and bodies are never logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            access_log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status[0],
                            (time.perf_counter() - started) * 1000)


class _NoQueryStrings(logging.Filter):
    """For uvicorn's own access log, if someone turns it on: drop the query string."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, Sequence) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _hide_query_strings_in_access_logs() -> None:
    uvicorn_access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _NoQueryStrings) for f in uvicorn_access.filters):
        uvicorn_access.addFilter(_NoQueryStrings())
