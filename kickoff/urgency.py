"""Which pushes spend the last of a daily allowance, and which wait for its reset.

Urgent are the actions whose delay someone outside would notice:
- customer-facing: a public message on the customer's ticket (``post_action`` with
  ``public``), and notifications (``notify``: a person is told now, e.g. an alert);
- deadline-bound: a task (``create_task``) due before the allowance comes back, which would
  otherwise be created late.
Everything else (stages, owners, internal notes, records, completing tasks) waits a few hours
without harm: its state is already decided and kept in the ledger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kickoff.model import Action, ActionKind


def _due(payload: dict[str, Any]) -> datetime | None:
    value = payload.get("due_at")
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def is_urgent(action: Action, until: datetime | None) -> bool:
    """True if ``action`` should not wait until ``until`` (the allowance's reset; None:
    unknown, so only customer-facing actions count)."""
    if action.kind is ActionKind.NOTIFY:
        return True
    if action.kind is ActionKind.POST_ACTION:
        return bool(action.payload.get("public", True))
    if action.kind is ActionKind.CREATE_TASK:
        due = _due(action.payload)
        return due is not None and (until is None or due.tzinfo is None or due <= until)
    return False
