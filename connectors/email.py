"""E-mail: notifications over SMTP, one message per action.

A ``notify`` action's payload is ``kickoff.tools.email.EmailNotify`` (addresses already
resolved: ``to``, ``cc``, ``subject``, ``body``); the ``Date`` header is the push's ``now``.

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
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from connectors.base import Connector, NoReads, NoWebhooks, done
from kickoff.contracts.errors import ErrorKind, UnknownOutcome, VendorError
from kickoff.contracts.vendor import VendorAction
from kickoff.model import ActionResult
from kickoff.tools.email import EmailNotify

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
        raw = exc.smtp_error
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
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

    def apply(self, actions: Sequence[VendorAction], now: datetime) -> list[ActionResult]:
        return self.apply_each(actions, lambda action: self._send(action, now))

    def check(self, now: datetime) -> list[str]:
        """An SMTP session: connect, log in when a password is configured, NOOP."""
        host, port = self.server
        try:
            with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
                self._login(smtp)
                smtp.noop()
        except smtplib.SMTPAuthenticationError:
            return [f"password rejected: set {self.setting('password')}"]
        except (smtplib.SMTPException, OSError):
            return [f"host unreachable: KICKOFF_EMAIL_SMTP or tools.email.options host/port ({host}:{port})"]
        return []

    @property
    def server(self) -> tuple[str, int]:
        override = os.environ.get("KICKOFF_EMAIL_SMTP")
        if override:
            host, _, port = override.rpartition(":")
            return host, int(port)
        options = self.config.options
        return str(options.get("host", "localhost")), int(options.get("port", 25))

    @property
    def sender(self) -> str:
        return str(self.config.options.get("sender", "kickoff@example.com"))

    def _message(self, action: VendorAction, now: datetime) -> EmailMessage:
        payload = action.payload
        if not isinstance(payload, EmailNotify):
            raise VendorError(ErrorKind.PERMANENT, f"email: {action.kind} is not an e-mail action")
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(payload.to)
        if payload.cc:
            msg["Cc"] = ", ".join(payload.cc)
        msg["Subject"] = payload.subject or "(no subject)"
        msg["Date"] = format_datetime(now.astimezone(UTC))
        msg["Message-ID"] = message_id(action.idempotency_key, self.sender)
        msg.set_content(payload.body)
        return msg

    def _password(self) -> str | None:
        if "password" not in self.config.credentials:
            return None
        try:
            return self.secret("password")
        except VendorError:
            return None  # no password in this environment: send unauthenticated

    def _send(self, action: VendorAction, now: datetime) -> ActionResult:
        msg = self._message(action, now)

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


CONNECTOR = EmailConnector
