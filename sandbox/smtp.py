"""An SMTP server that keeps what it receives, for Kickoff's e-mail connector."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from typing import Any

from aiosmtpd.controller import Controller


class MailStore:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        body = parsed.get_body(preferencelist=("plain", "html"))
        with self._lock:
            self.messages.append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "subject": str(parsed.get("Subject", "")),
                    "message_id": str(parsed.get("Message-ID", "")),
                    "headers": {k: str(v) for k, v in parsed.items()},
                    "body": body.get_content() if body is not None else "",
                }
            )
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class SmtpServer:
    """aiosmtpd in its own thread on a free loopback port."""

    def __init__(self, store: MailStore, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port(host)
        self._controller = Controller(store, hostname=host, port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
