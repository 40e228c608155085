"""What Slack and e-mail share: a ``notify`` action's recipients are roles, channels or
addresses; the table turns roles into the tool's own recipients. Only outbound."""

from __future__ import annotations

from typing import Any

from kickoff.actions import Notify
from kickoff.model import Action, Delivery, Event
from mappings.base import MappingContext, MappingError, ToolMapping


def text_of(payload: Notify) -> tuple[str, str]:
    """(subject, body): the template's name is kept for the reader when there is no body."""
    subject = payload.subject or (payload.template or "").replace("_", " ")
    return subject, payload.body or subject


class NotifyMapping(ToolMapping):
    """Base of the outbound-only notification tools."""

    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        return []  # these tools never report facts

    def notify(self, action: Action) -> Notify:
        payload = self.payload(action)
        if not isinstance(payload, Notify):
            raise MappingError(f"{self.tool} takes only notify actions, not {action.kind.value}", field="kind")
        return payload

    @staticmethod
    def resolve(recipients: list[str], known: dict[str, Any], accept: Any, what: str) -> list[str]:
        """Each recipient: a role of the table (one or several), or already the tool's own."""
        out: list[str] = []
        for item in recipients:
            name = str(item).strip()
            if name in known:
                value = known[name]
                out += value if isinstance(value, list) else [value]
            elif accept(name):
                out.append(name)
            else:
                raise MappingError(f"{name!r} is neither a role of the table nor {what}", field="to")
        return list(dict.fromkeys(out))

