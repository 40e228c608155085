"""E-mail (notifications only): a ``notify`` action's roles become addresses from the table.

``to`` may hold a role (``contracts_team``, ``billing``) with one or several addresses, or an
address already (the main user's, from the contract). A role the table does not know is an
error naming it: a message must never go to nobody.
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator

from kickoff.actions import Notify
from kickoff.tools.email import is_address
from mappings.base import MappingError, TableModel, default
from mappings.messages import MessageMapping, resolve, text_of


class EmailTable(TableModel):
    addresses: dict[str, list[str]] = default({})
    cc: list[str] = default([])

    @field_validator("addresses")
    @classmethod
    def _roles(cls, addresses: dict[str, list[str]]) -> dict[str, list[str]]:
        wrong = sorted(role for role, values in addresses.items()
                       if not all(map(is_address, values)))
        if wrong:
            raise ValueError(f"not e-mail addresses: {', '.join(wrong)}")
        return addresses

    @field_validator("cc")
    @classmethod
    def _cc(cls, cc: list[str]) -> list[str]:
        if not all(map(is_address, cc)):
            raise ValueError("not e-mail addresses")
        return cc


class EmailMapping(MessageMapping):
    tool = "email"
    Table = EmailTable

    def message(self, payload: Notify, table: EmailTable) -> dict[str, Any]:
        to = resolve(payload.to, table.addresses, is_address, "an e-mail address")
        if not to:
            raise MappingError("the notification has no recipients", field="to")
        subject, body = text_of(payload)
        return {"to": to, "subject": subject, "body": body, "cc": table.cc or None}


MAPPING = EmailMapping()
