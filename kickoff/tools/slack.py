"""Slack: messages to channels (network, retention, core).

Kickoff posts with ``chat.postMessage`` to a channel *id*: a name cannot be looked up in the
channel's history afterwards, which the connector needs after a lost answer.
"""

from __future__ import annotations

import re
from typing import Any, Self

from pydantic import field_validator, model_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.model import ActionKind
from kickoff.tools.spec import RateLimit, ToolSpec

CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
"""A conversation id: public (C), private (G) or direct (D) channel."""


SCOPES: dict[str, str] = {
    "chat:write": "post the notifications",
    "channels:history": "find a message again after a lost answer",
    "channels:read": "list the channels discover matches by name",
}
"""The bot token's scopes Kickoff needs (Slack's method reference names each method's scope)."""


def is_channel_id(text: str) -> bool:
    return CHANNEL_ID.match(text) is not None


class SlackNotify(VendorPayload):
    """A ``notify`` action: one ``chat.postMessage`` (the connector adds the key as metadata)."""

    channel: str
    text: str = ""
    """Slack's mrkdwn; the notification's fallback text when there are blocks."""
    blocks: list[dict[str, Any]] | None = None

    @field_validator("channel")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        if not is_channel_id(value):
            raise ValueError(f"a channel id such as C0123ABCD, not {value!r}")
        return value

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        return self.needs_any("a message", "text", "blocks")  # Slack answers no_text


TOOL = ToolSpec(
    name="slack",
    title="Slack",
    rate_limit=RateLimit(requests=60, per_seconds=60),  # chat.postMessage: about 1/s per channel
    payloads={ActionKind.NOTIFY: SlackNotify},
)
