"""Whole exchanges (request and response, with bodies) of the vendors being watched: what the
contract tests validate against the vendors' published OpenAPI documents. Off unless a vendor
is watched; kept across resets (an observer's record, not the vendor's state)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Receive, Scope, Send

MAX_BODY = 2_000_000


@dataclass
class Exchange:
    vendor: str
    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes = b""
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""


class Exchanges:
    """The recorder: ``watch`` vendors, ``take`` what was recorded (and forget it)."""

    def __init__(self) -> None:
        self.vendors: set[str] = set()
        self._items: list[Exchange] = []
        self._lock = threading.Lock()

    def watch(self, *vendors: str) -> None:
        self.vendors |= set(vendors)

    def take(self) -> list[Exchange]:
        with self._lock:
            taken, self._items = self._items, []
        return taken

    def wrap(self, vendor: str, scope: Scope, receive: Receive, send: Send) -> tuple[Receive, Send, Any]:
        """``receive`` and ``send`` that copy what passes; call the third to record it."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        exchange = Exchange(vendor, scope["method"], scope["path"], scope.get("query_string", b"").decode("latin-1"),
                            {k: v for k, v in headers.items() if k in ("content-type", "accept")})

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(exchange.request_body) < MAX_BODY:
                exchange.request_body += message.get("body", b"")
            return message

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                exchange.response_headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                                             for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body" and len(exchange.response_body) < MAX_BODY:
                exchange.response_body += message.get("body", b"")
            await send(message)

        sending.__wrapped__ = send  # type: ignore[attr-defined]  # a dropped connection closes the real one

        def recorded() -> None:
            if exchange.status:
                with self._lock:
                    self._items.append(exchange)

        return receiving, sending, recorded
