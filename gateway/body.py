"""Reading a request body under a size cap, so a huge or endless upload costs us nothing.

The declared ``Content-Length`` is refused before a byte is read; a chunked body (no
length) is counted while it streams and refused as soon as it passes the cap.
"""

from __future__ import annotations

from starlette.requests import Request

DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # 1 MiB: HubSpot's 100 events or Salesforce's 100 notifications fit


class BodyRejected(Exception):
    """The body was not read: ``status`` is 413 (too large) or 400 (unreadable length)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def read_capped(request: Request, limit: int) -> bytes:
    """The whole body, or BodyRejected(413) once it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise BodyRejected(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise BodyRejected(413, f"body of {int(declared)} bytes is over the {limit}-byte cap")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyRejected(413, f"body is over the {limit}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)
