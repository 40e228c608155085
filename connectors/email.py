"""E-mail: notifications over SMTP, one message per action.

Payload of a ``notify`` action with channel e-mail (already resolved to addresses):
``{"to": [address, ...], "subject": str, "body": str, "cc": [address]?}``.

Server: ``KICKOFF_EMAIL_SMTP`` ("host:port", set by the sandbox) or ``options.host`` and
``options.port``; sender ``options.sender``. The ``password`` credential (user
``options.username``, default the sender) is used when it resolves and the server offers AUTH.

SMTP cannot be asked what it already accepted, so after a connection lost during DATA the
message is sent again: delivery is at-least-once. Its ``Message-ID`` is derived from the
idempotency key, so a copy is recognisable (and dropped by the receiving systems that
deduplicate on Message-ID).
"""

from __future__ import annotations

import os
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from connectors.base import Connector, NoReads, NoWebhooks, done
from connectors.errors import ErrorKind, UnknownOutcome, VendorError
from kickoff.model import Action, ActionKind, ActionResult

AUTH_CODES = {530, 534, 535, 538}
TIMEOUT_SECONDS = 30.0


def smtp_error(code: int, message: str) -> VendorError:
    """By reply code: authentication, transient (4xx) or permanent (5xx)."""
    reason = f"smtp {code}: {message}"
    if code in AUTH_CODES:
        return VendorError(ErrorKind.AUTH, reason, status=code)
    if 400 <= code < 500:
        return VendorError(ErrorKind.RETRYABLE, reason, status=code)
    return VendorError(ErrorKind.PERMANENT, reason, status=code)


def translate(exc: Exception, *, sending: bool) -> VendorError:
    """smtplib's failures as VendorError; a connection lost while sending is an unknown outcome."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = min(codes) if any(400 <= c < 500 for c in codes) else max(codes)
        return smtp_error(code, f"all recipients refused: {', '.join(sorted(exc.recipients))}")
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return smtp_error(exc.smtp_code, text)
    if sending and isinstance(exc, smtplib.SMTPServerDisconnected | TimeoutError | ConnectionError):
        return UnknownOutcome(f"smtp: connection lost while sending ({type(exc).__name__})")
    return VendorError(ErrorKind.RETRYABLE, f"smtp: {type(exc).__name__}: {exc}")


def message_id(key: str, sender: str) -> str:
    """The same key always gives the same Message-ID."""
    domain = sender.rpartition("@")[2] or "kickoff.invalid"
    return f"<kickoff.{key}@{domain}>"


class EmailConnector(NoReads, NoWebhooks, Connector):
    tool = "email"

    def apply(self, actions: Sequence[Action]) -> list[ActionResult]:
        return self.apply_each(actions, self._send)

    @property
    def server(self) -> tuple[str, int]:
        override = os.environ.get("KICKOFF_EMAIL_SMTP")
        if override:
            host, _, port = override.rpartition(":")
            return host, int(port)
        return str(self.config.options.get("host", "localhost")), int(self.config.options.get("port", 25))

    @property
    def sender(self) -> str:
        return str(self.config.options.get("sender", "kickoff@example.com"))

    def _message(self, action: Action) -> EmailMessage:
        payload = action.payload
        if not payload.get("to"):
            raise VendorError(ErrorKind.PERMANENT, "email: notify payload has no recipients ('to')")
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(payload["to"])
        if payload.get("cc"):
            msg["Cc"] = ", ".join(payload["cc"])
        msg["Subject"] = payload.get("subject") or "(no subject)"
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = message_id(action.idempotency_key, self.sender)
        msg.set_content(payload.get("body") or "")
        return msg

    def _password(self) -> str | None:
        if "password" not in self.config.credentials:
            return None
        try:
            return self.secret("password")
        except VendorError:
            return None  # no password in this environment: send unauthenticated

    def _send(self, action: Action) -> ActionResult:
        if action.kind is not ActionKind.NOTIFY:
            raise VendorError(ErrorKind.PERMANENT, f"email: {action.kind} is not an e-mail action")
        msg = self._message(action)

        def deliver() -> ActionResult:
            sending = False
            try:
                host, port = self.server
                with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
                    self._login(smtp)
                    sending = True
                    refused: dict[str, Any] = smtp.send_message(msg)
            except (smtplib.SMTPException, OSError) as exc:
                raise translate(exc, sending=sending) from exc
            result = done(action, msg["Message-ID"])
            if refused:
                result.reason = f"some recipients refused: {', '.join(sorted(refused))}"
            return result

        return self.call(deliver)

    def _login(self, smtp: smtplib.SMTP) -> None:
        password = self._password()
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls()  # before any password crosses the wire
            smtp.ehlo()
        if password and smtp.has_extn("auth"):
            smtp.login(str(self.config.options.get("username", self.sender)), password)
