"""E-mail over SMTP: notifications and the customer's e-mails (network, marketplace, assist)."""

from __future__ import annotations

from pydantic import Field, field_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.model import ActionKind
from kickoff.tools.spec import ToolSpec


def is_address(text: str) -> bool:
    """A plain ``local@domain.tld`` (no display name, no whitespace: it goes into a header)."""
    local, at, domain = text.partition("@")
    return bool(local and at and "." in domain.strip(".") and "@" not in domain
                and not any(c.isspace() for c in text))


class EmailNotify(VendorPayload):
    """A ``notify`` action: one message, addresses already resolved."""

    to: list[str] = Field(min_length=1)
    subject: str = ""
    """Empty: the connector writes "(no subject)"."""
    body: str = ""
    cc: list[str] = Field(default_factory=list)

    @field_validator("to", "cc")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        wrong = [v for v in values if not is_address(v)]
        if wrong:
            raise ValueError(f"not an e-mail address: {', '.join(map(repr, wrong))}")
        return values

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("a subject is one line (it is a header)")
        return value


TOOL = ToolSpec(name="email", title="E-mail",
                payloads={ActionKind.NOTIFY: EmailNotify})
