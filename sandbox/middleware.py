"""The layer in front of every vendor route: faults, auth, limits, headers and the request log.

It is plain ASGI so it can drop the connection (faults "drop" and "no_answer") the way a
network does, which a framework middleware cannot.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from sandbox.state import Sandbox


def _route_template(routes: list[Any], scope: Scope) -> str:
    """The route a request matched (``/crm/v3/objects/{object_type}``), also for answers given
    before routing (faults, 401, 429), so the request log counts one endpoint under one name."""
    from starlette.routing import Match

    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return getattr(route, "path", scope["path"])
    return scope["path"]


def _drop_connection(send: Send) -> None:
    """Close the socket under the request with no answer (uvicorn's h11 cycle holds it)."""
    send = getattr(send, "__wrapped__", send)  # under a recorder's wrapper (sandbox.exchanges)
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox fault: connection dropped")
    transport.close()
    cycle.disconnected = True  # uvicorn then neither answers 500 nor logs an error


class VendorMiddleware:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sb = sandbox
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        vendor = None if path.startswith("/_sandbox") else self.sb.vendor_for_path(path)
        if vendor is None:
            await self.app(scope, receive, send)
            return
        if vendor.name not in self.sb.exchanges.vendors:
            await self._vendor(vendor, scope, receive, send)
            return
        receive, send, recorded = self.sb.exchanges.wrap(vendor.name, scope, receive, send)
        gone = False
        try:
            gone = await self._vendor(vendor, scope, receive, send)
        finally:
            if not gone:  # a caller that went away got no answer: there is no exchange to check
                recorded()

    async def _vendor(self, vendor: Any, scope: Scope, receive: Receive, send: Send) -> bool:
        """Faults, auth, limits, the route, headers and the log, for one vendor request;
        whether the caller went away before its request came whole."""
        path = scope["path"]
        started = time.perf_counter()
        request = Request(scope)
        method = scope["method"]
        status_holder = {"status": 0}
        fault = self.sb.faults.decide(vendor.name, method, path)

        def log(status: int, fault_name: str | None) -> None:
            route = _route_template(vendor.router.routes, scope)
            self.sb.log.add(
                at=time.time(), vendor=vendor.name, method=method, path=path, route=route,
                status=status, fault=fault_name, duration_ms=(time.perf_counter() - started) * 1000,
            )

        if fault.latency_ms:
            await asyncio.sleep(fault.latency_ms / 1000)
        if fault.kind == "drop":
            log(0, "drop")
            _drop_connection(send)
            return False
        if fault.kind == "error":
            response = vendor.error_response(fault.status, "sandbox injected fault")
            await response(scope, receive, send)
            log(fault.status, "error")
            return False

        early = vendor.check_auth(request) or (vendor.check_limits(request) if vendor.limits.enabled else None)
        extra_headers = vendor.response_headers(request)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers += [(k.lower().encode(), str(v).encode()) for k, v in extra_headers.items()]
                message = {**message, "headers": headers}
            if fault.kind == "no_answer":
                return  # the write happened; the answer is lost
            await send(message)

        try:
            if early is not None:
                await early(scope, receive, send_with_headers)
            else:
                await self.app(scope, receive, send_with_headers)
        except ClientDisconnect:  # the caller went before its body came (a worker killed while sending)
            log(0, "client gone")  # nothing to answer, nothing written; a vendor's server just drops it
            return True
        status = status_holder["status"]
        vendor.on_response(request, status)
        if fault.kind == "no_answer":
            log(status, "no_answer")
            _drop_connection(send)
            return False
        log(status, None)
        return False
