"""Kickoff's own Prefect events: what starts the next flow (deployment triggers) and what
ops see in the event feed. Best effort: the ledger, not the event, is the source of truth,
and the scheduled sweeps pick up whatever an unsent event would have started.

Prefect is imported when an event is sent, not at import time: the gateway imports this
module and stays light until it has something to announce.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("kickoff.flows.events")

INBOX_RECEIVED = "kickoff.inbox.received"
OUTBOX_READY = "kickoff.outbox.ready"
ACTION_DEAD = "kickoff.action.dead"

__all__ = ["ACTION_DEAD", "INBOX_RECEIVED", "OUTBOX_READY", "emit", "emit_kickoff_event", "inbox_event"]

_warned_no_api = False


def emit_kickoff_event(event: str, resource: dict[str, str], payload: dict[str, Any]) -> bool:
    """Emit one of Kickoff's own Prefect events; False (logged, never raised) if it could not.

    Without ``PREFECT_API_URL`` nothing is sent: Prefect would start a throwaway ephemeral
    server in this process, whose events no deployment ever sees; the sweeps run instead.
    """
    global _warned_no_api
    try:
        from prefect.events import emit_event
        from prefect.settings import get_current_settings

        if not get_current_settings().api.url:
            if not _warned_no_api:
                _warned_no_api = True
                log.warning("PREFECT_API_URL is not set: Prefect is not told about Kickoff's events; "
                            "the scheduled sweeps pick the work up")
            return False
        return emit_event(event=event, resource=resource, payload=payload) is not None
    except Exception as exc:  # noqa: BLE001 - Prefect down: the sweeps find the rows
        log.warning("could not tell Prefect about %s for %s (%s); the sweep will pick the work up",
                    event, resource.get("kickoff.tool", "?"), type(exc).__name__)
        return False


def emit(event: str, kind: str, tool: str, payload: dict[str, Any] | None = None) -> bool:
    """Emit ``event`` about the resource ``kickoff.<kind>.<tool>`` (what triggers match on)."""
    resource = {"prefect.resource.id": f"kickoff.{kind}.{tool}", "kickoff.tool": tool}
    return emit_kickoff_event(event, resource, payload or {})


def inbox_event(tool: str, inbox_ids: Sequence[int]) -> dict[str, Any]:
    """The arguments of ``emit_kickoff_event`` for new inbox rows of one tool."""
    return {
        "event": INBOX_RECEIVED,
        "resource": {"prefect.resource.id": f"kickoff.inbox.{tool}", "kickoff.tool": tool},
        "payload": {"inbox_ids": list(inbox_ids), "count": len(inbox_ids), "source": "webhook"},
    }
