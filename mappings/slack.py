"""Slack (notifications only): a ``notify`` action's roles and channel names become channel ids.

``to`` may hold a role of the table (``gr``, ``am``), a channel name of the table
(``#retention-alerts``) or a channel id; a recipient the table does not know goes to the
table's ``default_channel`` when there is one (e.g. a submitter's name from a form).
"""

from __future__ import annotations

import re

from kickoff.model import Action
from mappings.base import MappingContext, MappingError, TableModel, default
from mappings.notify import NotifyMapping, text_of

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")


class SlackTable(TableModel):
    channels: dict[str, str] = default({})
    default_channel: str | None = None


class SlackMapping(NotifyMapping):
    tool = "slack"
    Table = SlackTable

    def to_vendor(self, action: Action, ctx: MappingContext) -> Action:
        table = self.table(ctx)
        payload = self.notify(action)
        wanted = payload.to or ([table.default_channel] if table.default_channel else [])
        channels = []
        for name in wanted:
            try:
                channels += self.resolve([name], table.channels, CHANNEL_ID.match, "a channel id")
            except MappingError:
                if not table.default_channel:
                    raise
                channels.append(table.channels.get(table.default_channel, table.default_channel))
        if not channels:
            raise MappingError("the notification names no channel and the table has no default_channel", field="to")
        subject, body = text_of(payload)
        text = f"*{subject}*\n{body}" if subject and subject != body else body
        return self.vendor(action, {"channel": channels[0], "text": text})
