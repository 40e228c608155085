"""Salesforce: the marketplace partner's Account and its Cases (marketplace).

What the connector and the mapping both know of Salesforce lives here: the fields every row
carries, the external id Kickoff upserts on, the Task values Kickoff writes and reads back,
and the payload of each action kind (field names in Salesforce's terms, ids as Salesforce
spells them).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.model import ActionKind
from kickoff.tools.spec import RateLimit, ToolSpec, Webhooks

OUTBOUND_ACK = ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
                '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
                "<Ack>true</Ack></notificationsResponse></soapenv:Body></soapenv:Envelope>")
"""What acknowledges an Outbound Message: anything else makes Salesforce retry for 24 hours."""

ACCOUNT, CASE, TASK = "Account", "Case", "Task"
"""The sObjects Kickoff reads changes of (its mapping knows what each means)."""
SYSTEM_FIELDS = ("Id", "IsDeleted", "SystemModstamp")
"""On every row read: the cursor moves on ``SystemModstamp``, deletions come as ``IsDeleted``."""
KEY_FIELD = "Kickoff_Key__c"
"""The external id field (the action's idempotency key) Kickoff's creations are upserted on."""
TASK_COMPLETED = "Completed"
"""Task.Status of a completed task (``complete_task``, notes) and of one a person completed."""
NOTE_SUBTYPE = "Task"
"""Task.TaskSubtype of a note: a completed Task in the record's activity history."""
KEY_PREFIXES = {"001": ACCOUNT, "003": "Contact", "500": CASE, "00T": TASK, "006": "Opportunity"}
"""A record id's first three characters name its sObject."""

SalesforceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")]
"""A record id, 15 or 18 characters."""
OwnerId = Annotated[str, StringConstraints(pattern=r"^(005|00G)[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$")]
"""A User (005) or Queue (00G) id."""


class _OnRecord(VendorPayload):
    """A write to one existing record; its sObject is ``object`` or the id's prefix."""

    record_id: SalesforceId
    object: str | None = None

    @model_validator(mode="after")
    def _object_known(self) -> _OnRecord:
        if self.object is None and self.record_id[:3] not in KEY_PREFIXES:
            raise ValueError(f"no object given and id prefix {self.record_id[:3]!r} is not known")
        return self

    @property
    def sobject(self) -> str:
        return self.object or KEY_PREFIXES[self.record_id[:3]]


class SetStage(_OnRecord):
    """A picklist value written to one field of a record (Status, StageName, a custom field)."""

    stage: str = Field(min_length=1)
    field: str = "Status"


class AssignOwner(_OnRecord):
    owner: OwnerId  # -> OwnerId


class CompleteTask(_OnRecord):
    """The Task's Status becomes ``TASK_COMPLETED``."""


class CreateTask(VendorPayload):
    """A Task upserted on ``KEY_FIELD``."""

    subject: str = Field(min_length=1, max_length=255)
    record_id: SalesforceId | None = None  # -> WhatId (account, opportunity, case)
    who_id: SalesforceId | None = None  # -> WhoId (contact, lead)
    body: str | None = None  # -> Description
    owner: OwnerId | None = None  # -> OwnerId
    due_date: date | None = None  # -> ActivityDate
    due_at: datetime | None = None  # -> ActivityDate (its date) when no due_date
    priority: str | None = None
    status: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict, description="more Task fields")

    @property
    def activity_date(self) -> date | None:
        return self.due_date or (self.due_at.date() if self.due_at else None)


class AddNote(VendorPayload):
    """A completed Task on the record: it batches with the other writes and shows in the
    record's activity history (a ContentNote needs a second call to link it)."""

    record_id: SalesforceId  # -> WhatId
    body: str = Field(min_length=1)
    subject: str = "Note"


class CreateRecord(VendorPayload):
    """Any sObject, upserted on ``KEY_FIELD``."""

    object: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    fields: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _no_key(self) -> CreateRecord:
        if KEY_FIELD in self.fields or "Id" in self.fields:
            raise ValueError(f"Id and {KEY_FIELD} are Kickoff's to set")
        return self


TOOL = ToolSpec(
    name="salesforce",
    title="Salesforce",
    polls=True,
    webhooks=Webhooks(verification="Outbound Messages are unsigned SOAP: the OrganizationId "
                                   "must be the configured org's",
                      ack_media_type="text/xml; charset=utf-8", ack_body=OUTBOUND_ACK),
    rate_limit=RateLimit(requests=100_000, per_seconds=86_400),  # the org's 24-hour allocation
    batch_size=200,  # sObject Collections
    payloads={ActionKind.SET_STAGE: SetStage, ActionKind.ASSIGN_OWNER: AssignOwner,
              ActionKind.COMPLETE_TASK: CompleteTask, ActionKind.CREATE_TASK: CreateTask,
              ActionKind.ADD_NOTE: AddNote, ActionKind.CREATE_RECORD: CreateRecord},
)
