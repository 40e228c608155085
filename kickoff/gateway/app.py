"""The gateway's ASGI app: one POST route per vendor, the canonical intake, and health.

Example::

    from kickoff.gateway import create_app
    from kickoff.ledger import Ledger

    app = create_app(Ledger.open())  # connectors from config/, notifier: Prefect's emit_event
    # uvicorn.run(app, port=8787)  -- or `kickoff gateway --port 8787`

Every answer follows the same rule (see ``intake``): 2xx only after the inbox commit; then,
off the request path, Prefect is told (``notify``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kickoff.gateway.body import DEFAULT_MAX_BODY_BYTES, BodyRejected, read_capped
from kickoff.gateway.canonical import CanonicalEvents
from kickoff.gateway.intake import Intake, Outcome
from kickoff.gateway.notify import DEFAULT_MAX_PENDING, BackgroundNotifier, Notify, prefect_notify
from kickoff.gateway.vendors import (
    ASANA_NAME,
    DEFAULT_ASANA_NAME,
    VENDORS,
    Connectors,
    ToolNotConfigured,
    Vendor,
    accept_asana_handshake,
    asana_secret,
    with_secret,
)

if TYPE_CHECKING:
    from connectors.webhooks import WebhookRequest
    from kickoff.ledger import Ledger
    from kickoff.settings import Config

log = logging.getLogger("kickoff.gateway")
access_log = logging.getLogger("kickoff.gateway.access")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    ledger: Ledger,
    connectors: Mapping[str, Any] | None = None,
    notify: Notify = prefect_notify,
    *,
    config: Config | None = None,
    public_url: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    events_token: str | None = None,
    clock: Callable[[], datetime] = _utcnow,
    max_pending_notifications: int = DEFAULT_MAX_PENDING,
) -> FastAPI:
    """The gateway app over ``ledger`` (owned by the caller, who closes it).

    ``connectors``: tool -> connector (anything with ``verify_webhook``/``parse_webhook``);
    tools not given are built from ``config`` (default: ``load_config()``) on first use.
    ``notify(tool, new_inbox_ids)`` runs on a background thread after each commit.
    ``public_url`` (default ``KICKOFF_PUBLIC_URL``) is the base HubSpot signs; without it, the
    request's own URL. ``events_token`` (default ``KICKOFF_EVENTS_TOKEN``, read per request)
    guards ``/webhooks/events``.
    """
    source = Connectors(connectors, config)
    intake = Intake(ledger, clock)
    notifier = BackgroundNotifier(notify, max_pending_notifications)
    canonical = CanonicalEvents(events_token)
    if public_url is None:
        from kickoff.settings import KickoffSettings

        public_url = (config.settings if config is not None else KickoffSettings()).public_url
    _hide_query_strings_in_access_logs()

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        yield
        notifier.close()

    app = FastAPI(title="Kickoff gateway", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.ledger, app.state.notifier, app.state.max_body_bytes = ledger, notifier, max_body_bytes
    app.add_middleware(AccessLog)

    async def deliver(request: Request, tool: str,
                      work: Callable[[WebhookRequest], Outcome],
                      ack: Callable[[], Response] | None = None) -> Response:
        """Read (capped), run ``work`` off the event loop, answer, then notify."""
        try:
            body = await read_capped(request, max_body_bytes)
        except BodyRejected as rejected:
            log.warning("%s: refused with %d: %s", tool, rejected.status, rejected.reason)
            return _error(rejected.status, rejected.reason)
        webhook = _webhook_request(request, body, public_url)
        try:
            outcome = await run_in_threadpool(work, webhook)
        except ToolNotConfigured as exc:
            return _error(404, str(exc))
        except Exception as exc:  # noqa: BLE001 - a bug, not the vendor's: 500, it retries
            log.error("%s: internal error handling a webhook (%s)", tool, type(exc).__name__)
            return _error(500, "internal error")
        if outcome.new_ids:
            notifier.submit(tool, outcome.new_ids)
        if outcome.status < 300:
            if ack is not None:
                return ack()
            return JSONResponse({"stored": len(outcome.inbox_ids), "new": len(outcome.new_ids)})
        return _error(outcome.status, outcome.reason or "refused", outcome.kept_id)

    def vendor_route(vendor: Vendor) -> Callable[[Request], Awaitable[Response]]:
        def work(webhook: WebhookRequest) -> Outcome:
            return intake.receive(vendor.tool, source.get(vendor.tool), webhook, vendor.redact)

        async def endpoint(request: Request) -> Response:
            return await deliver(request, vendor.tool, work, vendor.ack)

        endpoint.__name__ = f"webhook_{vendor.tool}"
        return endpoint

    async def asana_endpoint(request: Request) -> Response:
        """Asana: a handshake (``X-Hook-Secret``) while we create a webhook, then signed events."""
        name = request.path_params.get("name", DEFAULT_ASANA_NAME)
        if not ASANA_NAME.match(name):
            return _error(404, "not an Asana webhook path")

        def work(webhook: WebhookRequest) -> Outcome:
            connector = source.get("asana")
            if connector.is_handshake(webhook):
                return _asana_handshake(ledger, connector, webhook, name, clock())
            secret = asana_secret(ledger, name)
            if secret is None:
                log.warning("asana: refused with 401: no secret kept for path %r", name)
                return Outcome(401, "no Asana webhook secret kept for this path (no handshake done)")
            verifier = with_secret(connector, "webhook_secret", secret)
            return intake.receive("asana", verifier, webhook, VENDORS["asana"].redact)

        response = await deliver(request, "asana", work)
        secret = request.headers.get("x-hook-secret")
        if secret is not None and response.status_code == 200:
            return Response(status_code=200, headers={"X-Hook-Secret": secret})
        return response

    async def events_endpoint(request: Request) -> Response:
        """Canonical events from our own platforms (rule E1), bearer-token authenticated."""
        return await deliver(request, "kickoff",
                             lambda webhook: intake.receive("kickoff", canonical, webhook))

    async def health(_: Request) -> Response:
        """Up, and the ledger answers (a webhook now would be stored)."""
        try:
            await run_in_threadpool(ledger.get_cursor, "gateway", "health")
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            log.error("health: ledger unavailable (%s)", type(exc).__name__)
            return JSONResponse({"status": "ledger unavailable"}, status_code=503)
        return JSONResponse({"status": "ok", "routes": _route_paths()})

    app.add_api_route("/", health, methods=["GET"])
    app.add_api_route("/webhooks/events", events_endpoint, methods=["POST"])
    app.add_api_route("/webhooks/asana", asana_endpoint, methods=["POST"])
    app.add_api_route("/webhooks/asana/{name}", asana_endpoint, methods=["POST"])
    for vendor in VENDORS.values():
        if vendor.tool != "asana":
            app.add_api_route(f"/webhooks/{vendor.tool}", vendor_route(vendor), methods=["POST"])
    return app


def _asana_handshake(ledger: Ledger, connector: Any, webhook: WebhookRequest, name: str,
                     now: datetime) -> Outcome:
    """Keep the handshake's secret if a webhook is being created for this path (see
    ``expect_asana_handshake``); otherwise refuse, so nobody can plant a secret of their own."""
    handshake = connector.handshake(webhook)
    if not accept_asana_handshake(ledger, name, handshake.secret, now):
        log.warning("asana: unexpected handshake on path %r refused", name)
        return Outcome(403, "no Asana webhook is being created for this path")
    log.info("asana: handshake on path %r accepted; its secret is kept in the ledger", name)
    return Outcome(200)


def _route_paths() -> list[str]:
    return ["/webhooks/events", "/webhooks/asana[/<name>]",
            *(f"/webhooks/{t}" for t in VENDORS if t != "asana")]


def _error(status: int, reason: str, kept_id: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"error": reason}
    if kept_id is not None:
        body["kept_as_inbox_id"] = kept_id
    return JSONResponse(body, status_code=status)


def _webhook_request(request: Request, body: bytes, public_url: str | None) -> WebhookRequest:
    """The request as the vendor signed it: method, full URL (public base if configured),
    headers, raw body and query."""
    from connectors.webhooks import WebhookRequest

    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    query = request.scope.get("query_string", b"").decode("latin-1")
    base = (public_url.rstrip("/") if public_url
            else f"{request.url.scheme}://{request.headers.get('host') or request.url.netloc}")
    url = base + raw_path.decode("latin-1") + (f"?{query}" if query else "")
    return WebhookRequest(method=request.method, url=url, headers=dict(request.headers), body=body,
                          query=dict(request.query_params))


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
