"""E-mail's stand-in is the SMTP mailbox: the sandbox's SMTP server (``sandbox.smtp``, on its
own port, ``KICKOFF_EMAIL_SMTP``) keeps every message Kickoff sends, and this vendor lets a
test or a person read it (``GET /_sandbox/email``) and empties it on reset. There is no HTTP
API to fake, no limit and no webhook; SMTP's own credentials are not checked.
"""

from __future__ import annotations

from typing import Any

from sandbox.vendors.base import Vendor


class Email(Vendor):
    name = "email"
    prefixes = ()  # SMTP, not HTTP

    def reset(self) -> None:
        super().reset()
        self.sb.mail.clear()

    def seed(self, data: dict[str, Any]) -> None:
        """Nothing to seed: a mailbox starts empty."""
        if data:
            raise ValueError("the e-mail mailbox takes no fixture (it starts empty)")

    def admin_routes(self) -> None:
        @self.admin.get("")
        async def messages() -> list[dict[str, Any]]:
            """Every message received, oldest first (sender, recipients, subject, headers, body)."""
            return list(self.sb.mail.messages)


VENDOR = Email
