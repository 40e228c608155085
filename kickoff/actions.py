"""What each action kind's ``payload`` holds: the contract between the engine and connectors.

The engine speaks canonical names (stage "onboarding_in_progress", owner role "am");
``mappings/`` turns them into a tool's ids. The record an action writes to is the
onboarding's record in that tool (the ledger's crosswalk), unless ``target`` names another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from kickoff.model import Action, ActionKind


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(
        default=None,
        description="idempotency key of the create_record action whose record this writes to; "
        "default: the onboarding's main record in the tool",
    )
    record: str | None = Field(
        default=None,
        description="canonical object written to when it is not the onboarding's main record "
        "and Kickoff did not create it: 'company', 'meeting', 'contact', 'case', ...",
    )
    record_id: str | None = Field(default=None, description="that record's id in the tool, when an event named it")


class SetStage(Payload):
    stage: str
    justification: str | None = None


class AssignOwner(Payload):
    owner: str = Field(description="canonical owner or role (e.g. 'no_owner', 'am', 'team_leader')")
    team: str | None = None


class CreateTask(Payload):
    subject: str
    body: str | None = None
    owner: str | None = None
    due_at: datetime
    task_type: Literal["call", "email", "todo", "meeting"] = "todo"
    priority: Literal["low", "medium", "high"] = "medium"
    section: str | None = Field(default=None, description="board column, for tools with boards")
    fields: dict[str, Any] = Field(default_factory=dict)


class CompleteTask(Payload):
    task_key: str = Field(description="idempotency key of the create_task action")
    section: str | None = None


class AddNote(Payload):
    body: str
    mentions: list[str] = Field(default_factory=list)


class CreateRecord(Payload):
    object: str = Field(description="canonical object: ticket, case, opportunity, request, ...")
    fields: dict[str, Any] = Field(default_factory=dict)


class PostAction(Payload):
    """A Movidesk-style ticket action (a public or internal message), optionally with a status."""

    description: str
    public: bool = True
    status: str | None = None
    justification: str | None = None


class Notify(Payload):
    to: list[str] = Field(default_factory=list, description="addresses, channels or roles")
    subject: str | None = None
    template: str | None = None
    body: str = ""
    fields: dict[str, Any] = Field(default_factory=dict, description="values the template fills in")


PAYLOAD_MODELS: dict[ActionKind, type[Payload]] = {
    ActionKind.SET_STAGE: SetStage,
    ActionKind.ASSIGN_OWNER: AssignOwner,
    ActionKind.CREATE_TASK: CreateTask,
    ActionKind.COMPLETE_TASK: CompleteTask,
    ActionKind.ADD_NOTE: AddNote,
    ActionKind.CREATE_RECORD: CreateRecord,
    ActionKind.POST_ACTION: PostAction,
    ActionKind.NOTIFY: Notify,
}


def payload_of(action: Action) -> Payload:
    """The action's payload, parsed and checked against its kind."""
    return PAYLOAD_MODELS[action.kind].model_validate(action.payload)
