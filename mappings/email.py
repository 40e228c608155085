"""E-mail (notifications only): a ``notify`` action's roles become addresses from the table.

``to`` may hold a role (``contracts_team``, ``billing``) with one or several addresses, or an
address already (the main user's, from the contract). A role the table does not know is an
error naming it: a message must never go to nobody.
"""

from __future__ import annotations

from kickoff.model import Action
from mappings.base import MappingContext, MappingError, TableModel, default
from mappings.notify import NotifyMapping, text_of


class EmailTable(TableModel):
    addresses: dict[str, list[str]] = default({})
    cc: list[str] = default([])


def is_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return bool(local and at and "." in domain and " " not in text)


class EmailMapping(NotifyMapping):
    tool = "email"
    Table = EmailTable

    def to_vendor(self, action: Action, ctx: MappingContext) -> Action:
        table = self.table(ctx)
        payload = self.notify(action)
        to = self.resolve(payload.to, table.addresses, is_address, "an e-mail address")
        if not to:
            raise MappingError("the notification has no recipients", field="to")
        subject, body = text_of(payload)
        return self.vendor(action, {"to": to, "subject": subject, "body": body, "cc": table.cc or None})
