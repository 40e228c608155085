"""Webhooks created with a handshake (a declaration's ``Webhooks.handshake``; Asana): while
Kickoff creates the webhook, the vendor posts a secret to ``/webhooks/<tool>/<name>``; that
secret signs every later delivery on the path.

The secret is kept in the ledger (every gateway process sharing it can check signatures),
and a handshake is accepted only while one is expected on that path (``expect_webhook_handshake``,
called just before the create call), so nobody can plant a secret of their own. The
connector says what a handshake is and how to answer it (``is_handshake``, ``handshake``:
``.secret`` and ``.headers``) and checks signatures with its ``webhook_secret`` credential,
which the gateway fills with the ledger's secret for the path.
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from gateway.intake import Intake, Outcome
from gateway.vendors import WebhookRoute
from kickoff.contracts.errors import VendorError
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.ledger import Ledger

log = logging.getLogger("gateway")

HOOK_SECRET = "webhook_secret"
"""The credential a handshake tool's connector checks signatures with."""
HOOK_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
DEFAULT_HOOK_NAME = "default"
"""The name of the webhook that posts to ``/webhooks/<tool>`` itself."""
HANDSHAKE_WINDOW = timedelta(minutes=2)


def expect_webhook_handshake(ledger: Ledger, tool: str, name: str, now: datetime,
                             window: timedelta = HANDSHAKE_WINDOW) -> None:
    """Call just before creating ``tool``'s webhook that targets ``/webhooks/<tool>/<name>``:
    the gateway accepts a handshake there only until ``now + window``."""
    ledger.arm_webhook_handshake(tool, name, now + window, now)


def forget_webhook_secret(ledger: Ledger, tool: str, name: str, now: datetime) -> None:
    """After deleting ``tool``'s webhook ``name``: its path accepts no signed deliveries any more."""
    ledger.forget_webhook_secret(tool, name, now)


def with_secret(connector: Any, name: str, value: str) -> Any:
    """A shallow view of ``connector`` whose credential ``name`` is ``value`` (the secret comes
    from the ledger, not from tools.yaml); the connector's own check runs unchanged."""
    view = copy.copy(connector)
    original = connector.secret
    view.secret = lambda wanted: value if wanted == name else original(wanted)
    return view


class _AnySecret:
    """``connector`` whose webhook check also passes for a signature made with any secret the
    ledger keeps for the tool (a tool with several webhooks, each with its own signing secret,
    as Kickoff registered them); every other call goes to the connector itself. The kept
    secrets are read only when the connector's own secret does not sign the request, so the
    usual delivery costs no ledger read on the way to its ack."""

    def __init__(self, connector: Any, secrets: Callable[[], list[str]]) -> None:
        self._connector, self._secrets = connector, secrets

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)

    def verify_webhook(self, request: WebhookRequest, now: datetime) -> None:
        try:
            return self._connector.verify_webhook(request, now)
        except (WebhookRejected, VendorError) as exc:
            first = exc
        kept = self._secrets()
        if not kept:
            raise first
        for secret in kept:
            try:
                return with_secret(self._connector, HOOK_SECRET, secret).verify_webhook(request, now)
            except (WebhookRejected, VendorError):
                continue
        if isinstance(first, WebhookRejected):
            raise first
        raise WebhookRejected(401, f"no {getattr(self._connector, 'tool', 'webhook')} secret signed this request")


def with_kept_secrets(connector: Any, secrets: Callable[[], list[str]]) -> Any:
    """``connector``, as a view that also accepts the secrets kept for the tool (``secrets()``,
    read only if the connector's own check fails)."""
    return _AnySecret(connector, secrets)


def receive(intake: Intake, route: WebhookRoute, connector: Any, webhook: WebhookRequest,
            name: str, now: datetime, *, account: str | None = None) -> Outcome:
    """One request on a handshake tool's path ``name``: a handshake, or a delivery signed
    with the secret kept for that path (``account``: the tenant's own account the path is)."""
    tool = route.tool
    if connector.is_handshake(webhook):
        return _handshake(intake.ledger, tool, connector, webhook, name, now)
    secret = intake.ledger.webhook_secret(tool, name)
    if secret is None:
        log.warning("%s: refused with 401: no secret kept for path %r", tool, name)
        return Outcome(401, f"no {tool} webhook secret kept for this path (no handshake done)")
    return intake.receive(tool, with_secret(connector, HOOK_SECRET, secret), webhook, route.redact,
                          account=account)


def _handshake(ledger: Ledger, tool: str, connector: Any, webhook: WebhookRequest, name: str,
               now: datetime) -> Outcome:
    """Keep the handshake's secret if a webhook is being created for this path; else refuse."""
    try:
        handshake = connector.handshake(webhook)
    except WebhookRejected as rejected:
        return Outcome(rejected.status, rejected.reason)
    if not ledger.accept_webhook_secret(tool, name, handshake.secret, now):
        log.warning("%s: unexpected handshake on path %r refused", tool, name)
        return Outcome(403, f"no {tool} webhook is being created for this path")
    log.info("%s: handshake on path %r accepted; its secret is kept in the ledger", tool, name)
    return Outcome(200, headers=dict(handshake.headers))
