"""HubSpot: tickets of the onboarding pipeline, their tasks, notes, meetings and calls
(assist, network).

What the connector and the mapping both know of HubSpot lives here, once: its object types
(as webhooks, reads and Kickoff's records name them), the association type ids of inline
associations, the fixed properties and enumerations, and one payload model per action kind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import AwareDatetime, BeforeValidator, Field, StringConstraints, model_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.model import ActionKind
from kickoff.tools.spec import RateLimit, ToolSpec, Webhooks

# --- object types --------------------------------------------------------------------------
_ALIASES = {
    "ticket": "tickets", "meeting": "meetings", "call": "calls", "task": "tasks", "note": "notes",
    "contact": "contacts", "company": "companies",
    "0-1": "contacts", "0-2": "companies", "0-5": "tickets", "0-27": "tasks", "0-46": "notes",
    "0-47": "meetings", "0-48": "calls",
}
OBJECT_TYPES: dict[str, str] = {**{plural: plural for plural in _ALIASES.values()}, **_ALIASES}
"""A name or type id as a webhook (``meeting.creation``, ``objectTypeId``) or a canonical record
(``company``) spells it -> the v3 API's object type."""

Updatable = Literal["tickets", "meetings", "companies", "contacts", "calls", "tasks"]
"""Objects Kickoff updates: the ticket, a meeting's outcome, a company's owner, ..."""

ASSOCIATION_TYPES: dict[tuple[str, str], int] = {
    ("tasks", "tickets"): 230, ("notes", "tickets"): 228, ("tasks", "companies"): 192,
    ("notes", "companies"): 190, ("tickets", "companies"): 339,
}
"""HUBSPOT_DEFINED association type ids of the inline associations Kickoff creates."""


def object_type(name: Any) -> str:
    """The v3 object type of a name or type id (``meeting``, ``0-47``, ``meetings``); the name
    itself when HubSpot has no such alias (HubSpot refuses it, or the model does)."""
    return OBJECT_TYPES.get(str(name), str(name))


# --- properties and enumerations ------------------------------------------------------------
MODIFIED = "hs_lastmodifieddate"
CREATED = "createdate"
PIPELINE = "hs_pipeline"
STAGE = "hs_pipeline_stage"
OWNER = "hubspot_owner_id"
SUBJECT = "subject"
TASK_STATUS = "hs_task_status"
MEETING_OUTCOME = "hs_meeting_outcome"
CALL_DISPOSITION = "hs_call_disposition"
KEY_PROPERTY = "kickoff_key"
"""The custom property (on tickets, tasks and notes) holding the idempotency key of the action
that created the record: how a create whose answer was lost is found again."""

TaskType = Literal["CALL", "EMAIL", "TODO"]
TaskPriority = Literal["LOW", "MEDIUM", "HIGH"]
TaskStatus = Literal["NOT_STARTED", "COMPLETED"]
MeetingOutcome = Literal["SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"]
MEETING_OUTCOMES: tuple[str, ...] = get_args(MeetingOutcome)
NOTE_BODY_MAX = 65_536

SCOPES: dict[str, str] = {
    "tickets": "read and write tickets, their pipelines and properties",
    "crm.objects.owners.read": "read the owners the owner roles stand for",
    "crm.objects.contacts.read": "read meetings and calls (and task and note properties)",
    "crm.objects.contacts.write": "create tasks and notes",
    "crm.objects.companies.write": "set a company's owner",
}
"""The private app's scopes Kickoff needs, and what for (HubSpot's published OpenAPI documents
name the scope of each operation: tickets under ``tickets``, the engagements under the contacts
scopes, owners under ``crm.objects.owners.read``)."""
CALL_OUTCOMES: dict[str, str] = {
    "f240bbac-87c9-4f6e-bf70-924b57d47db7": "Connected", "73a0d17f-1163-4015-bdd5-ec830791da20": "No answer",
    "b2cf5968-551e-4856-9783-52b3da59a7d0": "Left voicemail", "9d9162e7-6cf3-4944-bf63-4dff82258764": "Busy",
    "a4c4c377-d246-4b32-a13b-75a56a4cd0ff": "Left live message", "17b47fee-58de-441e-a44c-c6300d46f273": "Wrong number",
}
"""HubSpot's default call outcomes (``hs_call_disposition``): the same ids in every portal."""

NOTICES: dict[str, str] = {"meetings": MEETING_OUTCOME, "calls": CALL_DISPOSITION}
"""Objects whose webhook events are only notices (one property, no associations), and the
property whose change is worth reading the record for (a creation always is)."""
NOTICE_ASSOCIATIONS: tuple[str, ...] = ("tickets", "companies")
"""What a notice's record is read with: the ticket (the onboarding) and company it hangs on."""


# --- payloads -------------------------------------------------------------------------------
Id = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
               StringConstraints(strip_whitespace=True, min_length=1)]
OwnerId = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, int) else v),
                    StringConstraints(pattern=r"^\d*$")]
"""An owner's id (digits); "" is "No owner"."""
Object = Annotated[Updatable, BeforeValidator(object_type)]


class UpdatePayload(VendorPayload):
    """A change of properties of a record that exists: ``writes()`` is what the connector
    sends to the ``object`` ``record_id``, and what the mapping knows again as its own echo."""

    if TYPE_CHECKING:
        record_id: str
        object: str

    def writes(self) -> dict[str, str]:
        raise NotImplementedError


class SetStagePayload(UpdatePayload):
    """A ticket's pipeline stage, or another object's enumeration (a meeting's outcome)."""

    record_id: Id
    stage: Id
    pipeline: Id | None = None
    object: Object = "tickets"
    property: str | None = Field(default=None, description=f"default: the ticket's {STAGE}")

    @model_validator(mode="after")
    def _fits_the_object(self) -> SetStagePayload:
        if self.object != "tickets" and not self.property:
            raise ValueError(f"a stage of {self.object} names no 'property' "
                             f"(e.g. {MEETING_OUTCOME})")
        if self.object != "tickets" and self.pipeline:
            raise ValueError(f"{self.object} have no pipeline")
        if self.property == MEETING_OUTCOME and self.stage not in MEETING_OUTCOMES:
            raise ValueError(f"{self.stage!r} is not a meeting outcome "
                             f"({', '.join(MEETING_OUTCOMES)})")
        return self

    def writes(self) -> dict[str, str]:
        """The properties the update writes (a method: ``property`` is a field here)."""
        written = {self.property or STAGE: self.stage}
        if self.pipeline:
            written[PIPELINE] = self.pipeline
        return written


class AssignOwnerPayload(UpdatePayload):
    """A record's owner (the ticket's by default, or a company's)."""

    record_id: Id
    owner: OwnerId
    object: Object = "tickets"

    def writes(self) -> dict[str, str]:
        return {OWNER: self.owner}


class CreateTaskPayload(VendorPayload):
    """A task on the ticket (and the company), created with the action's key."""

    record_id: Id = Field(description="the ticket the task is associated with")
    subject: Id
    due_at: AwareDatetime | None = Field(default=None, description="default: the action's due time")
    body: str | None = None
    owner: OwnerId | None = None
    task_type: TaskType = "TODO"
    priority: TaskPriority = "MEDIUM"
    company_id: Id | None = None


class CompleteTaskPayload(UpdatePayload):
    """A task Kickoff created, marked completed."""

    object: ClassVar[str] = "tasks"
    record_id: Id = Field(description="the task's id")

    def writes(self) -> dict[str, str]:
        return {TASK_STATUS: "COMPLETED"}


class AddNotePayload(VendorPayload):
    """A note on the ticket (and the company), created with the action's key."""

    record_id: Id = Field(description="the ticket the note is associated with")
    body: str = Field(min_length=1, max_length=NOTE_BODY_MAX)
    timestamp: AwareDatetime | None = Field(default=None,
                                            description="default: the action's due time")
    company_id: Id | None = None


class CreateRecordPayload(VendorPayload):
    """A ticket (the only record Kickoff creates in HubSpot), with its properties."""

    object: Annotated[Literal["tickets"], BeforeValidator(object_type)] = "tickets"
    properties: dict[str, Any] = Field(default_factory=dict,
                                       description="HubSpot ticket properties")
    company_id: Id | None = None


CREATES = (CreateRecordPayload, CreateTaskPayload, AddNotePayload)
"""The payloads that create a record (with the action's key, so a lost answer is found again)."""


TOOL = ToolSpec(
    name="hubspot",
    title="HubSpot",
    polls=True,
    webhooks=Webhooks(verification="signature v3: base64 HMAC-SHA256 of method, URL, body and "
                                   "timestamp with the app's client secret (X-HubSpot-Signature-v3), "
                                   "at most 5 minutes old"),
    rate_limit=RateLimit(requests=100, per_seconds=10),  # private app, Free/Starter
    endpoint_limits={"search": RateLimit(requests=5, per_seconds=1)},  # CRM search, per account
    batch_size=100,
    payloads={
        ActionKind.SET_STAGE: SetStagePayload,
        ActionKind.ASSIGN_OWNER: AssignOwnerPayload,
        ActionKind.CREATE_TASK: CreateTaskPayload,
        ActionKind.COMPLETE_TASK: CompleteTaskPayload,
        ActionKind.ADD_NOTE: AddNotePayload,
        ActionKind.CREATE_RECORD: CreateRecordPayload,
    },
)
