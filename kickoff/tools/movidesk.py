"""Movidesk: the implementation ticket that holds a CORE onboarding (core).

What the connector and the mapping both know of Movidesk lives here: the ticket's
navigation properties (read through ``$expand``), its fixed enums (action and ticket types,
base statuses), the marker that makes Kickoff's own actions recognisable, the casing of the
trigger's body (PascalCase, where the API is camelCase), and the payload of each action kind
in Movidesk's terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import IntEnum, StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.model import ActionKind
from kickoff.tools.spec import RateLimit, ToolSpec, Webhooks


class ActionType(IntEnum):
    """A ticket action's ``type`` (and a ticket's: 1 internal, 2 public)."""

    INTERNAL = 1
    PUBLIC = 2


class BaseStatus(StrEnum):
    """A ticket's read-only ``baseStatus``: what each account-defined status means."""

    NEW = "New"
    IN_ATTENDANCE = "InAttendance"
    STOPPED = "Stopped"
    CANCELED = "Canceled"
    RESOLVED = "Resolved"
    CLOSED = "Closed"


TICKET = "ticket"
"""The one object Kickoff reads (the key of ``reads``): fields are ticket properties, a
navigation property's own field as ``owner.id``, a whole one by its name."""
TICKET_NAVIGATIONS = ("owner", "createdBy", "clients", "actions", "customFieldValues")
"""Ticket properties read through ``$expand`` (every other one through ``$select``)."""

MARKER = re.compile(r"\[kickoff:([^\]\s]+)\]\s*$")
"""The last line of every action Kickoff writes: its idempotency key, so an unknown outcome
can be looked up and Kickoff's own actions are never taken for a person's."""


def marker(key: str) -> str:
    return f"[kickoff:{key}]"


def camel(value: Any) -> Any:
    """The trigger's PascalCase keys as the API's camelCase (``LastUpdate`` -> ``lastUpdate``)."""
    return _recased(value, str.lower)


def pascal(value: Any) -> Any:
    """The API's camelCase keys as the trigger body writes them: first letter upper-cased."""
    return _recased(value, str.upper)


def _recased(value: Any, case: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {(case(k[:1]) + k[1:]): _recased(v, case) for k, v in value.items()}
    if isinstance(value, list):
        return [_recased(v, case) for v in value]
    return value


TicketId = Annotated[str, StringConstraints(pattern=r"^\d+$")]
"""A ticket's numeric id, as text."""
PersonId = Annotated[str, StringConstraints(min_length=1)]


class PersonRef(VendorPayload):
    """A person or company named by its id (``owner``, ``createdBy``, ``clients``)."""

    id: PersonId


class NewAction(VendorPayload):
    """An action of a new ticket."""

    type: ActionType = ActionType.INTERNAL
    description: str = ""
    createdBy: PersonRef | None = None


class NewTicket(VendorPayload):
    """The body of ``POST /tickets`` (Movidesk's names); the connector adds ``createdBy``
    and the marker on the first action."""

    type: ActionType = ActionType.PUBLIC
    subject: str | None = None
    category: str | None = None
    urgency: str | None = None
    status: str | None = None
    justification: str | None = None
    origin: int | None = None
    ownerTeam: str | None = None
    owner: PersonRef | None = None
    createdBy: PersonRef | None = None
    clients: list[PersonRef] = Field(min_length=1)
    actions: list[NewAction] = Field(default_factory=list)
    customFieldValues: list[dict[str, Any]] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)


class _OnTicket(VendorPayload):
    """A write to one ticket: ``record_id``, or ``target``, the idempotency key of a
    ``create_record`` in the same batch."""

    record_id: TicketId | None = None
    target: str | None = None

    @model_validator(mode="after")
    def _one_ticket(self) -> _OnTicket:
        if (self.record_id is None) == (self.target is None):
            raise ValueError("name the ticket by record_id or by target (one of them)")
        return self


class _WithStatus(_OnTicket):
    status: str | None = None
    justification: str | None = None

    @model_validator(mode="after")
    def _justified_status(self) -> _WithStatus:
        if self.justification and not self.status:
            raise ValueError("a justification is written only with its status")
        return self


class SetStage(_WithStatus):
    """A status (and, where the account's status requires one, its justification)."""

    status: str = Field(min_length=1)


class AssignOwner(_OnTicket):
    owner_id: PersonId | None = None  # -> owner: {id}
    owner_team: str | None = None  # -> ownerTeam

    @model_validator(mode="after")
    def _someone(self) -> AssignOwner:
        return self.needs_any("assign_owner", "owner_id", "owner_team")


class PostAction(_WithStatus):
    """A new action (public by default), optionally with a status change."""

    description: str = Field(min_length=1)
    public: bool = True
    created_by: PersonId | None = None  # default: options.agent_id


class AddNote(_OnTicket):
    """An internal action."""

    body: str = Field(min_length=1)
    created_by: PersonId | None = None


class CreateRecord(VendorPayload):
    """A new ticket."""

    fields: NewTicket
    created_by: PersonId | None = None


TOOL = ToolSpec(
    name="movidesk",
    title="Movidesk",
    polls=True,
    webhooks=Webhooks(verification="unsigned: a secret token in the URL (?token=); the body is "
                                   "only a notice and the ticket is read through the API"),
    rate_limit=RateLimit(requests=10, per_seconds=60),  # per token, every endpoint together
    batch_size=1,  # no batch write: one PATCH per ticket
    payloads={ActionKind.SET_STAGE: SetStage, ActionKind.ASSIGN_OWNER: AssignOwner,
              ActionKind.POST_ACTION: PostAction, ActionKind.ADD_NOTE: AddNote,
              ActionKind.CREATE_RECORD: CreateRecord},
)
