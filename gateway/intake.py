"""Verify, parse, store: one delivery's way into the inbox, and the answer it earns.

Runs in a worker thread (the ledger and some secret look-ups block). The order is the
point: the signature is checked over the raw bytes before anything is parsed; the answer
is 2xx only once the deliveries are committed; a body that is authentic but does not
parse (400) or is refused by the format's rules (422) is kept as a failed inbox row (for
inspection) and answered so; a failure to store
is a 5xx, so the vendor sends it again. Nothing here logs a body, a secret or a header.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kickoff.contracts.errors import VendorError
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.ledger import Ledger, inbox
from kickoff.model import Delivery

log = logging.getLogger("gateway")
KEPT_STATUSES = (400, 422)
"""Refusals of an authentic body: kept as a failed inbox row, not only answered."""


@dataclass
class Outcome:
    """What happened to one request; the app turns it into the HTTP answer."""

    status: int
    reason: str | None = None
    inbox_ids: list[int] = field(default_factory=list)
    new_ids: list[int] = field(default_factory=list)
    kept_id: int | None = None  # the failed inbox row keeping a body that did not parse
    headers: dict[str, str] = field(default_factory=dict)  # a handshake's answer: these, no body


class Intake:
    """The ledger side of the gateway: ``receive`` one request for one tool."""

    def __init__(self, ledger: Ledger, clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.clock = clock

    def receive(self, tool: str, verifier: Any, request: WebhookRequest,
                redact: Sequence[str] = (), *, account: str | None = None) -> Outcome:
        """``verifier`` has a connector's ``verify_webhook`` and ``parse_webhook``; ``account``:
        the tenant's own account the request is known to come from (its deliveries say so)."""
        now = self.clock()
        try:
            verifier.verify_webhook(request, now)
        except WebhookRejected as rejected:
            log.warning("%s: refused with %d: %s", tool, rejected.status, rejected.reason)
            return Outcome(rejected.status, rejected.reason)
        except VendorError as exc:  # our credential is missing: retry later
            log.error("%s: cannot check webhooks, credential unavailable (%s)", tool, type(exc).__name__)
            return Outcome(503, f"{tool} webhook credential is not configured")
        try:
            deliveries = [d.from_account(account) for d in verifier.parse_webhook(request, now)]
        except WebhookRejected as rejected:
            if rejected.status not in KEPT_STATUSES:
                return Outcome(rejected.status, rejected.reason)
            return self._keep_invalid(tool, request, rejected, redact, now)
        return self._store(tool, deliveries)

    def _store(self, tool: str, deliveries: list[Delivery]) -> Outcome:
        if not deliveries:  # e.g. Asana's heartbeat: an empty events list
            return Outcome(200)
        try:
            stored = self.ledger.store_deliveries(deliveries)
        except Exception as exc:  # noqa: BLE001 - not stored, so not acknowledged: it retries
            log.error("%s: %d deliveries NOT stored (%s); answered 503 so the vendor retries",
                      tool, len(deliveries), type(exc).__name__)
            return Outcome(503, "could not store the delivery; please retry")
        ids = [inbox_id for inbox_id, _ in stored]
        new = [inbox_id for inbox_id, created in stored if created]
        log.info("%s: %d deliveries stored (%d new, %d already known)", tool, len(ids), len(new),
                 len(ids) - len(new))
        return Outcome(200, inbox_ids=ids, new_ids=new)

    def _keep_invalid(self, tool: str, request: WebhookRequest, rejected: WebhookRejected,
                      redact: Sequence[str], now: datetime) -> Outcome:
        """An authentic body that does not parse: one failed inbox row (once per body)."""
        reason = rejected.reason
        delivery = Delivery(
            tool=tool, kind="webhook", received_at=now,  # type: ignore[arg-type]
            dedup_key=f"invalid:{hashlib.sha256(request.body).hexdigest()}",
            payload={"invalid": True, "reason": reason, "content_type": request.header("content-type"),
                     "body": kept_body(request.body, redact)})
        try:
            with self.ledger.transaction() as conn:  # stored and marked failed together
                inbox_id, created = inbox.store(conn, delivery)
                if created:
                    inbox.finish(conn, inbox_id, "failed", now, reason, require_claim=False)
        except Exception as exc:  # noqa: BLE001 - not kept: 503, the vendor retries
            log.error("%s: malformed delivery NOT kept (%s); answered 503", tool, type(exc).__name__)
            return Outcome(503, "could not store the delivery; please retry")
        log.warning("%s: body does not parse (%s); kept as failed inbox row %d", tool, reason, inbox_id)
        return Outcome(rejected.status, reason, kept_id=inbox_id)


def kept_body(body: bytes, redact: Sequence[str] = ()) -> Any:
    """The body as kept for inspection: JSON as JSON (minus ``redact`` keys), else text."""
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return body.decode("utf-8", "replace").replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {k: ("[redacted]" if k in redact else v) for k, v in value.items()}
    return value
