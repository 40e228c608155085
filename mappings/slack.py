"""Slack (notifications only): a ``notify`` action's roles and channel names become a channel id.

``to`` may hold a role of the table (``gr``, ``am``), a channel name of the table
(``#retention-alerts``) or a channel id; a recipient the table does not know goes to the
table's ``default_channel`` when there is one (e.g. a submitter's name from a form).
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import field_validator, model_validator

from kickoff.actions import Notify
from kickoff.tools.slack import is_channel_id
from mappings.base import MappingError, TableModel, default
from mappings.messages import MessageMapping, resolve, text_of


class SlackTable(TableModel):
    channels: dict[str, str] = default({})
    default_channel: str | None = None
    """A channel name of ``channels`` or a channel id."""

    @field_validator("channels")
    @classmethod
    def _ids(cls, channels: dict[str, str]) -> dict[str, str]:
        wrong = sorted(name for name, channel in channels.items() if not is_channel_id(channel))
        if wrong:
            raise ValueError(f"not a channel id (such as C0123ABCD): {', '.join(wrong)}")
        return channels

    @model_validator(mode="after")
    def _default_known(self) -> Self:
        name = self.default_channel
        if name and name not in self.channels and not is_channel_id(name):
            raise ValueError(f"default_channel {name!r} is neither in channels nor a channel id")
        return self


class SlackMapping(MessageMapping):
    tool = "slack"
    Table = SlackTable

    def message(self, payload: Notify, table: SlackTable) -> dict[str, Any]:
        fallback = table.channels.get(table.default_channel, table.default_channel)
        wanted = payload.to or ([fallback] if fallback else [])
        channels = resolve(wanted, table.channels, is_channel_id, "a channel id", fallback=fallback)
        if not channels:
            raise MappingError("the notification names no channel and the table has no "
                               "default_channel", field="to")
        subject, body = text_of(payload)
        text = f"*{subject}*\n{body}" if subject and subject != body else body
        return {"channel": channels[0], "text": text}


MAPPING = SlackMapping()
