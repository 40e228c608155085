"""Kickoff's own Prefect events: what starts the next flow (deployment triggers) and what
ops see in the event feed. Best effort: the ledger, not the event, is the source of truth,
and the scheduled sweeps pick up whatever an unsent event would have started.

Prefect is imported when an event is sent, not at import time: the gateway imports this
module and stays light until it has something to announce.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

log = logging.getLogger("kickoff.flows.events")

INBOX_RECEIVED = "kickoff.inbox.received"
OUTBOX_READY = "kickoff.outbox.ready"
ACTION_DEAD = "kickoff.action.dead"
DEAD_LETTERS = "kickoff.push.dead_letters"  # once per push run with dead letters: what the alert follows
TIMERS_FAILED = "kickoff.tick.timers_failed"  # once per tick run with failed timers: what the alert follows

__all__ = ["ACTION_DEAD", "DEAD_LETTERS", "INBOX_RECEIVED", "OUTBOX_READY", "TIMERS_FAILED", "EventToSend", "Send", "api_configured", "emit", "emit_kickoff_event", "inbox_event", "send_batch", "tool_resource"]

_warned_no_api = False


def api_configured() -> bool:
    """Whether a Prefect API is configured (without one, no event is built or sent)."""
    return bool(_api_url())


def _api_url() -> str:
    """The configured Prefect API's URL; "" when none is (or Prefect is not importable)."""
    try:
        from prefect.settings import get_current_settings

        return str(get_current_settings().api.url or "")
    except Exception:  # noqa: BLE001 - no Prefect, no events
        return ""


def emit_kickoff_event(event: str, resource: dict[str, str], payload: dict[str, Any]) -> bool:
    """Emit one of Kickoff's own Prefect events; False (logged, never raised) if it could not.

    Without ``PREFECT_API_URL`` nothing is sent: Prefect would start a throwaway ephemeral
    server in this process, whose events no deployment ever sees; the sweeps run instead.
    """
    global _warned_no_api
    try:
        from prefect.events import emit_event

        if not api_configured():
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


def tool_resource(kind: str, tool: str) -> dict[str, str]:
    """The resource ``kickoff.<kind>.<tool>`` an event is about (what triggers match on)."""
    return {"prefect.resource.id": f"kickoff.{kind}.{tool}", "kickoff.tool": tool}


def emit(event: str, kind: str, tool: str, payload: dict[str, Any] | None = None) -> bool:
    """Emit ``event`` about the resource ``kickoff.<kind>.<tool>``."""
    return emit_kickoff_event(event, tool_resource(kind, tool), payload or {})


def inbox_event(tool: str, inbox_ids: Sequence[int]) -> dict[str, Any]:
    """The arguments of ``emit_kickoff_event`` for new inbox rows of one tool."""
    return {
        "event": INBOX_RECEIVED,
        "resource": tool_resource("inbox", tool),
        "payload": {"inbox_ids": list(inbox_ids), "count": len(inbox_ids), "source": "webhook"},
    }


EventToSend = tuple[str, dict[str, str], dict[str, Any]]
"""(event, resource, payload): one event as ``send_batch`` takes it."""
Send = Callable[[Sequence[EventToSend]], int]
"""What sends events: ``send_batch``, or what keeps them to be sent by another process."""


def send_batch(events: Sequence[EventToSend]) -> int:
    """Many (event, resource, payload) sent in ONE request to the server's batch endpoint
    (``POST /events``); how many were sent (0 when Prefect is away, logged, never raised).

    Why not ``emit_event`` once each: it builds and validates a Prefect ``Event`` per call,
    and its background worker sends each on the websocket and looks up the run context for
    each. A tick of 10,000 firings sent 70,000 that way, which cost about six times the
    tick itself (``python -m bench.bench_tick --events``). Sent in the run's own thread,
    after the ledger commit: the events are there when the step returns. The flow run the
    step belongs to is named as a related resource, as ``emit_event`` would. A server that
    fails or hangs costs one attempt, then sends pause for ``QUIET_SECONDS``."""
    api = _api_url() if events else ""
    if not api or time.monotonic() < _quiet_until.get(api, 0.0):
        return 0
    try:
        from prefect.client.orchestration import get_client
        from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings
        from pydantic_core import to_json

        occurred = datetime.now(UTC).isoformat()
        related = _run_context()
        body = [{"id": str(uuid4()), "occurred": occurred, "event": name, "resource": resource,
                 "payload": payload, "related": related} for name, resource, payload in events]
        with temporary_settings({PREFECT_CLIENT_MAX_RETRIES: 0}), \
                get_client(sync_client=True, httpx_settings={"timeout": SEND_TIMEOUT_SECONDS}) as client:
            for start in range(0, len(body), BATCH_EVENTS):
                client.request("POST", "/events", content=to_json(body[start:start + BATCH_EVENTS]),
                               headers={"Content-Type": "application/json"}).raise_for_status()
        return len(body)
    except Exception as exc:  # noqa: BLE001 - Prefect down: the ledger has it all
        _quiet_until[api] = time.monotonic() + QUIET_SECONDS
        log.warning("Prefect did not take Kickoff's events (%s): none are sent for %.0f s; the ledger has "
                    "every decision and the sweeps pick the work up", type(exc).__name__, QUIET_SECONDS)
        return 0


BATCH_EVENTS = 500
"""Events per request: one tick claim's firings, well under the server's body limits."""
SEND_TIMEOUT_SECONDS = 10.0
"""A Prefect server that does not answer holds the step (its ledger work already committed) for
this long, once: one attempt (the client's own retries, five by default with backoff, are off
for these sends), not the client's default 30 s; a refused connection fails at once."""
QUIET_SECONDS = 60.0
"""After a failed send, sends to that server are skipped this long: a tick of 20 claims against
a server that hangs would otherwise wait ``SEND_TIMEOUT_SECONDS`` per claim."""
_quiet_until: dict[str, float] = {}
"""Per Prefect API: until when sends to it are skipped."""


def _run_context() -> list[dict[str, str]]:
    """The flow run this thread is running, its flow and deployment, as related resources (as
    ``emit_event``'s worker would add them; none outside a run)."""
    try:
        from prefect.context import FlowRunContext

        context = FlowRunContext.get()
    except Exception:  # noqa: BLE001 - no Prefect run context
        return []
    run = context.flow_run if context is not None else None
    if run is None:
        return []
    related = [{"prefect.resource.id": f"prefect.flow-run.{run.id}", "prefect.resource.role": "flow-run",
                "prefect.resource.name": run.name}]
    if run.flow_id and context.flow is not None:
        related.append({"prefect.resource.id": f"prefect.flow.{run.flow_id}", "prefect.resource.role": "flow",
                        "prefect.resource.name": context.flow.name})
    if run.deployment_id:
        related.append({"prefect.resource.id": f"prefect.deployment.{run.deployment_id}",
                        "prefect.resource.role": "deployment",
                        "prefect.resource.name": _deployment_name(run.deployment_id)})
    return related


def _deployment_name(deployment_id: UUID) -> str:
    """A deployment's name, read once per process (a run's events name it as the worker's would)."""
    if deployment_id not in _DEPLOYMENT_NAMES:
        try:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                _DEPLOYMENT_NAMES[deployment_id] = client.read_deployment(deployment_id).name
        except Exception:  # noqa: BLE001 - the id alone is enough to link it; asked again next time
            return ""
    return _DEPLOYMENT_NAMES[deployment_id]


_DEPLOYMENT_NAMES: dict[UUID, str] = {}
