"""Zendesk Support: the alert tickets of the retention feed (retention).

The payload models say what each action writes to a ticket, in Zendesk's own values: the
mapping builds them, the connector sends them (``update_many`` for changes, one creation
with ``external_id`` set to the action's key).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.tools.spec import RateLimit, ToolSpec, Webhooks

Status = Literal["new", "open", "pending", "hold", "solved"]
"""A ticket's statuses a new ticket or a stage may have (an update may also close a ticket)."""
Priority = Literal["low", "normal", "high", "urgent"]
TicketType = Literal["problem", "incident", "question", "task"]
OPEN_OPPORTUNITIES = "kickoff_open_opportunities"
"""Where ``enrich`` puts, in a new alert's ``detail``, the ids of its account's open
opportunity tickets (one search, when the mapping's ``reads`` ask for it): W2's "déjà créée"."""
ACCOUNT_SEARCH = {"requester_id": "requester", "organization_id": "organization"}
"""A ticket's account field -> the Search API's keyword for it."""


class CustomField(VendorPayload):
    """One custom field's value, by the field's numeric id."""

    id: int
    value: Any = None


class TicketChange(VendorPayload):
    """An update of one existing ticket; tags are added (``additional_tags``), never replaced."""

    record_id: str = Field(pattern=r"^\d+$")
    add_tags: list[str] = Field(default_factory=list)

    @property
    def ticket_id(self) -> int:
        return int(self.record_id)


class SetStagePayload(TicketChange):
    status: Status | Literal["closed"] | None = None
    custom_fields: list[CustomField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> SetStagePayload:
        return self.needs_any("set_stage", "status", "custom_fields", "add_tags")


class AssignOwnerPayload(TicketChange):
    assignee_id: int | None = None
    group_id: int | None = None

    @model_validator(mode="after")
    def _someone(self) -> AssignOwnerPayload:
        return self.needs_any("assign_owner", "assignee_id", "group_id")


class AddNotePayload(TicketChange):
    """A comment: an internal note unless ``public``."""

    body: str = Field(min_length=1)
    public: bool = False


class Requester(VendorPayload):
    """A requester Zendesk finds or creates by e-mail."""

    name: str | None = None
    email: str


class CreateRecordPayload(VendorPayload):
    """A new ticket; ``body`` is its first comment."""

    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)
    requester_id: int | None = None
    requester: Requester | None = None
    status: Status | None = None
    priority: Priority | None = None
    type: TicketType | None = None
    tags: list[str] = Field(default_factory=list)
    custom_fields: list[CustomField] = Field(default_factory=list)
    assignee_id: int | None = None
    group_id: int | None = None


TOOL = ToolSpec(
    name="zendesk",
    title="Zendesk",
    polls=True,
    webhooks=Webhooks(verification="base64 HMAC-SHA256 of timestamp + body with the webhook's signing "
                                   "secret (X-Zendesk-Webhook-Signature), fresh timestamp"),
    rate_limit=RateLimit(requests=200, per_seconds=60),  # Team plan
    batch_size=100,  # update_many
    payloads={"set_stage": SetStagePayload, "assign_owner": AssignOwnerPayload, "add_note": AddNotePayload,
              "create_record": CreateRecordPayload},
)
