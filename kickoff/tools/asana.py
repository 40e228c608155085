"""Asana: the account managers' request board (retention).

The payload models say what each action writes, in Asana's terms: gids (numeric strings),
board columns (sections, by gid or by name), custom fields by gid. The mapping builds them,
the connector sends them through ``/batch``.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field, model_validator

from kickoff.contracts.vendor import VendorPayload
from kickoff.tools.spec import RateLimit, ToolSpec, Webhooks

GID = r"^\d+$"
KEY_PREFIX = "kickoff-key: "
"""Asana takes no idempotency key: a task or comment Kickoff writes carries its action's key
as the last line of its text (the connector finds a lost write by it, the mapping the action)."""


def key_line(key: str) -> str:
    """The line that carries an idempotency key."""
    return f"{KEY_PREFIX}{key}"


def key_in(text: str | None) -> str | None:
    """The idempotency key on the last line of a task's notes or a comment's text, if any."""
    lines = str(text or "").rstrip().splitlines()
    last = lines[-1].strip() if lines else ""
    if not last.startswith(KEY_PREFIX):
        return None
    return last[len(KEY_PREFIX):] or None


class TaskPayload(VendorPayload):
    """A new task on a board (a request, or a task for a person): it lands in ``section``
    (a column's gid or name; default the board's first column)."""

    project: str = Field(pattern=GID)
    section: str | None = Field(default=None, min_length=1)
    name: str = Field(min_length=1)
    notes: str | None = None
    assignee: str | None = Field(default=None, description="a user's gid or e-mail")
    due_on: date | None = None
    due_at: AwareDatetime | None = None
    custom_fields: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict, description="field gid -> value (enum options by gid)")

    @model_validator(mode="after")
    def _one_due(self) -> TaskPayload:
        if self.due_on is not None and self.due_at is not None:
            raise ValueError("due_on and due_at exclude each other")
        return self


class TaskChange(VendorPayload):
    """A change of one existing task, by its gid."""

    record_id: str = Field(pattern=GID)


class CompleteTaskPayload(TaskChange):
    """Completed, then moved to ``section`` (default the board's last column)."""

    project: str = Field(pattern=GID)
    section: str | None = Field(default=None, min_length=1)


class SetStagePayload(TaskChange):
    """Moved to the column ``section`` (gid or name) of ``project``."""

    project: str = Field(pattern=GID)
    section: str = Field(min_length=1)


class AssignOwnerPayload(TaskChange):
    assignee: str | None = Field(description="a user's gid or e-mail; null unassigns")


class AddNotePayload(TaskChange):
    """A comment (a story) on the task."""

    text: str = Field(min_length=1)


TOOL = ToolSpec(
    name="asana",
    title="Asana",
    polls=True,
    webhooks=Webhooks(verification="X-Hook-Secret handed over in the creation handshake, then hex "
                                   "HMAC-SHA256 of the body with it (X-Hook-Signature)", handshake=True),
    rate_limit=RateLimit(requests=150, per_seconds=60, lump=10),  # free domain, per token; /batch of 10
    batch_size=10,  # /batch
    payloads={"create_record": TaskPayload, "create_task": TaskPayload, "complete_task": CompleteTaskPayload,
              "set_stage": SetStagePayload, "assign_owner": AssignOwnerPayload, "add_note": AddNotePayload},
)
