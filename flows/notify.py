"""Kickoff's own Prefect events: what starts the next flow (deployment triggers) and what
ops see in the event feed. Best effort: the ledger, not the event, is the source of truth,
and the scheduled sweeps pick up whatever an unsent event would have started."""

from __future__ import annotations

from typing import Any

from kickoff.gateway.notify import EVENT_NAME as INBOX_RECEIVED
from kickoff.gateway.notify import emit_kickoff_event

OUTBOX_READY = "kickoff.outbox.ready"
ACTION_DEAD = "kickoff.action.dead"

__all__ = ["ACTION_DEAD", "INBOX_RECEIVED", "OUTBOX_READY", "emit"]


def emit(event: str, kind: str, tool: str, payload: dict[str, Any] | None = None) -> bool:
    """Emit ``event`` about the resource ``kickoff.<kind>.<tool>`` (what triggers match on)."""
    resource = {"prefect.resource.id": f"kickoff.{kind}.{tool}", "kickoff.tool": tool}
    return emit_kickoff_event(event, resource, payload or {})
