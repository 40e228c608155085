"""Kickoff's own Prefect events: what starts the next flow (deployment triggers) and what
ops see in the event feed. Best effort: the ledger, not the event, is the source of truth,
and the scheduled sweeps pick up whatever an unsent event would have started."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("kickoff.flows.notify")

INBOX_RECEIVED = "kickoff.inbox.received"
OUTBOX_READY = "kickoff.outbox.ready"
ACTION_DEAD = "kickoff.action.dead"


def emit(event: str, kind: str, tool: str, payload: dict[str, Any] | None = None) -> bool:
    """Emit ``event`` about ``kickoff.<kind>.<tool>``; False (and a log line) if Prefect is unreachable."""
    try:
        from prefect.events import emit_event

        emitted = emit_event(
            event=event,
            resource={"prefect.resource.id": f"kickoff.{kind}.{tool}", "kickoff.tool": tool},
            payload=payload or {},
        )
        return emitted is not None
    except Exception as exc:  # noqa: BLE001 - never let a notification break the flow
        log.warning("could not emit %s for %s: %s", event, tool, type(exc).__name__)
        return False
