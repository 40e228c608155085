"""A due timer becomes a ``timer.fired`` event, and goes through the same decision."""

from __future__ import annotations

from datetime import UTC

from kickoff.events import EventType
from kickoff.model import Event, EventSource, Timer


def timer_event(timer: Timer, tenant: str | None = None) -> Event:
    """The event for ``timer`` firing: occurred at its fire time, with its key and rule.

    The id is derived from the timer, so a tick that fires the same timer twice produces
    the same event (and the ledger's inbox drops the second).
    """
    return Event(
        id=timer_event_id(timer),
        type=EventType.TIMER_FIRED,
        occurred_at=timer.fire_at,
        subject=timer.onboarding_id,
        tenant=tenant,
        data={**timer.data, "timer": timer.key, "rule": timer.rule, "fire_at": timer.fire_at.isoformat()},
        source=EventSource(tool="kickoff"),
    )


def timer_event_id(timer: Timer) -> str:
    """The id of ``timer``'s firing: the same for every tick that fires it."""
    stamp = timer.fire_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"timer:{timer.onboarding_id}:{timer.key}:{stamp}"
