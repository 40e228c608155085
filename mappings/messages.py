"""What Slack and e-mail share: a ``notify`` action's recipients are roles, channels or
addresses; the tenant's table turns roles into the tool's own recipients. Only outbound."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kickoff.actions import Notify
from kickoff.contracts.vendor import VendorAction
from kickoff.model import Action, Delivery, Event
from mappings.base import MappingContext, MappingError, ToolMapping


def text_of(payload: Notify) -> tuple[str, str]:
    """(subject, body): the template's name is kept for the reader when there is no body."""
    subject = payload.subject or (payload.template or "").replace("_", " ")
    return subject, payload.body or subject


def resolve(recipients: list[str], known: Mapping[str, str | list[str]],
            accept: Callable[[str], bool], what: str, *, fallback: str | None = None) -> list[str]:
    """Each recipient: a role of the table (one value or several), or already the tool's own
    (``accept``); anything else goes to ``fallback``, or is a MappingError naming it. Order
    kept, duplicates dropped."""
    out: list[str] = []
    for item in recipients:
        name = str(item).strip()
        if name in known:
            value = known[name]
            out += value if isinstance(value, list) else [value]
        elif accept(name):
            out.append(name)
        elif fallback is not None:
            out.append(fallback)
        else:
            raise MappingError(f"{name!r} is neither a role of the table nor {what}", field="to")
    return list(dict.fromkeys(out))


class MessageMapping(ToolMapping):
    """Base of the tools Kickoff only sends messages through (Slack, e-mail)."""

    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        return []  # these tools never report facts

    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        table = self.table(ctx)
        return self.vendor(action, self.message(self.notify(action), table))

    def message(self, payload: Notify, table: Any) -> dict[str, Any]:
        """The tool's message for a ``notify`` payload, its recipients resolved by ``table``."""
        raise NotImplementedError

    def notify(self, action: Action) -> Notify:
        """The canonical payload of a ``notify`` action; any other kind is a MappingError."""
        payload = self.payload(action)
        if not isinstance(payload, Notify):
            raise MappingError(f"{self.tool} takes only notify actions, not {action.kind.value}",
                               field="kind")
        return payload
