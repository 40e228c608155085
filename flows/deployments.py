"""Every deployment, for ``serve`` (``kickoff up``) — the same set ``prefect.yaml`` declares
for a process work pool. Schedules sweep; event triggers react at once."""

from __future__ import annotations

from typing import Any

from flows.flows import (
    POLL_TOOLS,
    PUSH_TOOLS,
    poll_flow,
    process_inbox_flow,
    push_flow,
    reconcile_flow,
    replay_dead_letters_flow,
    tick_flow,
)
from flows.notify import INBOX_RECEIVED, OUTBOX_READY


def _trigger(event: str, resource: str, name: str) -> Any:
    from prefect.events import DeploymentEventTrigger

    # match is always our own namespace: an omitted match would fire on every resource.
    return DeploymentEventTrigger(name=name, expect={event}, match={"prefect.resource.id": resource})


def all_deployments(tools: set[str] | None = None) -> list[Any]:
    """Deployments for the configured tools (all of them when ``tools`` is None)."""
    wanted = (lambda t: True) if tools is None else (lambda t: t in tools)
    deployments = [
        process_inbox_flow.to_deployment(
            name="process-inbox", interval=300,
            triggers=[_trigger(INBOX_RECEIVED, "kickoff.inbox.*", "on-inbox-received")],
            concurrency_limit=1, description="Inbox -> mapping -> engine -> decision (sweep every 5 min)"),
        tick_flow.to_deployment(name="tick", cron="* * * * *", concurrency_limit=1,
                                description="Due timers -> engine, every minute"),
        reconcile_flow.to_deployment(name="reconcile", interval=3600, concurrency_limit=1,
                                     description="Re-read every tool and repair drift"),
        replay_dead_letters_flow.to_deployment(name="replay-dead-letters",
                                               description="Manual: send dead letters again"),
    ]
    deployments += [
        poll_flow.to_deployment(name=f"poll-{tool}", parameters={"tool": tool}, interval=120,
                                concurrency_limit=1, description=f"{tool} changes since the cursor -> inbox")
        for tool in POLL_TOOLS if wanted(tool)
    ]
    deployments += [
        push_flow.to_deployment(
            name=f"push-{tool}", parameters={"tool": tool}, interval=60, concurrency_limit=1,
            triggers=[_trigger(OUTBOX_READY, f"kickoff.outbox.{tool}", f"on-outbox-ready-{tool}")],
            description=f"Outbox -> {tool}, batched and rate-limited")
        for tool in PUSH_TOOLS if wanted(tool)
    ]
    return deployments
