"""What every webhook verifier needs: the request as received, a rejection, HMAC, freshness."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass
class WebhookRequest:
    """The raw request: signatures are checked over these exact bytes, before any parsing."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.headers = {k.lower(): v for k, v in self.headers.items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def required(self, name: str, what: str | None = None) -> str:
        """A header the signature needs; missing is a 401 naming ``what`` (the header's name
        by default), not a crash."""
        value = self.header(name)
        if not value:
            raise WebhookRejected(401, f"missing {what or name}")
        return value


class WebhookRejected(Exception):
    """A delivery refused: ``status`` is the HTTP answer (401 signature, 400 body, 413 size)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def hmac_digest(secret: str | bytes, message: bytes, algo: str = "sha256") -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, getattr(hashlib, algo)).digest()


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def check_signature(given: str, secret: str | bytes, message: bytes, *,
                    encoding: Literal["base64", "hex"], refused: str) -> None:
    """Refuse (401 ``refused``) unless ``given`` is the HMAC-SHA256 of ``message`` under
    ``secret`` in ``encoding``; compared in constant time."""
    digest = hmac_digest(secret, message)
    expected = base64.b64encode(digest).decode() if encoding == "base64" else digest.hex()
    if not constant_time_equal(expected, given):
        raise WebhookRejected(401, refused)


def check_freshness(timestamp_seconds: float, now: datetime, tolerance: float = 300.0) -> None:
    """Refuse a signed timestamp more than ``tolerance`` seconds away from ``now`` (replays)."""
    if abs(now.timestamp() - timestamp_seconds) > tolerance:
        raise WebhookRejected(401, f"stale signature timestamp (more than {int(tolerance)} s old)")


def json_body(body: bytes, what: str, *, expect: type = dict) -> Any:
    """The body parsed as JSON of the expected shape (an object by default); a 400 naming
    ``what`` otherwise. The one place a webhook body's JSON-ness is checked."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected(400, f"{what} body is not JSON") from None
    if not isinstance(value, expect):
        shape = "a JSON object" if expect is dict else "a JSON array" if expect is list else "valid"
        raise WebhookRejected(400, f"{what} body is not {shape}")
    return value
