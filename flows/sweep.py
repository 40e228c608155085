"""The safety sweep: events start the flows (``kickoff.inbox.received`` -> process-inbox ->
``kickoff.outbox.ready`` -> push-<tool>), and due timers have their tick scheduled for the
moment they are due. What an event missed (Prefect down, a lost event, a retry coming due)
is found here by one cheap read of the ledger, and only then is a run started: the Runs page
shows work, not heartbeats. ``kickoff up`` runs the loop beside its served deployments; it
creates no flow run of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from flows.runtime import Runtime

log = logging.getLogger("kickoff.flows.sweep")

GRACE_SECONDS = 60.0
"""Inbox and outbox work waiting longer than this was missed by its event."""
TIMER_GRACE_SECONDS = 30.0
"""A due timer's tick is scheduled for its moment by the run that set it; the sweep starts one
only when the timer is still due this long after (so a timer fires within about a minute)."""
EVERY_SECONDS = 15.0
"""How often the loop reads the ledger: a due timer starts a tick within this (plus start-up)."""
COOLDOWN_SECONDS = 90.0
"""A deployment the sweep started is not started again before this, while its run claims rows."""

PROCESS = "process-inbox/process-inbox"
TICK = "tick/tick"


def push_deployment(tool: str) -> str:
    return f"push/push-{tool}"


def plan(rt: Runtime, now: datetime, grace_seconds: float = GRACE_SECONDS,
         timer_grace_seconds: float = TIMER_GRACE_SECONDS) -> list[str]:
    """The deployments (``flow/deployment``) with work due that no event or scheduled tick
    started; [] when nothing is due (the usual case: nothing is started)."""
    found = rt.ledger.overdue(now, grace_seconds, timer_grace_seconds)
    wanted = [PROCESS] if found.inbox else []
    wanted += [TICK] if found.timers else []
    served = set(rt.config.tools)
    return wanted + [push_deployment(tool) for tool in found.outbox_tools if tool in served]


def start_deployment(name: str, scheduled_time: datetime | None = None, idempotency_key: str | None = None) -> bool:
    """Start (or schedule) one deployment's run without waiting for it; False if Prefect
    could not (logged: the next sweep tries again)."""
    try:
        from prefect.deployments import run_deployment

        label = name.split("/", 1)[1]
        when = f"{(scheduled_time or datetime.now(UTC)).astimezone(UTC):%Y-%m-%d %H:%M:%S}"
        run_deployment(name, timeout=0, as_subflow=False, scheduled_time=scheduled_time,
                       idempotency_key=idempotency_key, flow_run_name=f"{label} @ {when} (scheduled by Kickoff)")
        return True
    except Exception as exc:  # noqa: BLE001 - Prefect away or the deployment not served
        log.warning("could not start %s: %s", name, type(exc).__name__)
        return False


def schedule_next_tick(rt: Runtime, now: datetime) -> datetime | None:
    """Schedule the tick deployment for the next pending timer's moment (one run per moment:
    the idempotency key makes a second request the same run). Called by the runs that set
    timers, so a timer fires on time without a tick every minute."""
    due = rt.ledger.next_timer()
    if due is None:
        return None
    at = max(due, now)
    start_deployment(TICK, scheduled_time=at, idempotency_key=f"tick@{at:%Y-%m-%dT%H:%M:%S}")
    return at


class SweepLoop:
    """Every ``every`` seconds, ``plan`` and start what it names (each deployment at most once
    per cooldown). A daemon thread beside ``prefect.serve``: it stops with the process."""

    def __init__(self, rt: Runtime, every: float = EVERY_SECONDS,
                 start: Callable[[str], bool] = start_deployment,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.rt, self.every, self.start, self.clock = rt, every, start, clock
        self.started: dict[str, float] = {}
        self.stop = threading.Event()

    def once(self) -> list[str]:
        """One sweep: the deployments started."""
        now_mono = time.monotonic()
        started = []
        for name in plan(self.rt, self.clock()):
            if now_mono - self.started.get(name, -COOLDOWN_SECONDS) < COOLDOWN_SECONDS:
                continue
            if self.start(name):
                self.started[name] = now_mono
                started.append(name)
                log.info("sweep: started %s (work due that no event started)", name)
        return started

    def run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                self.once()
            except Exception as exc:  # noqa: BLE001 - the ledger away for a moment: next sweep
                log.warning("sweep failed: %s", type(exc).__name__)

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="kickoff-sweep", daemon=True)
        thread.start()
        return thread



def schedule_push_retry(rt: Runtime, tool: str, outbox_ids: list[int], now: datetime) -> datetime | None:
    """Schedule ``push-<tool>`` for the earliest retry of the rows this run left pending
    (a 429, a tool away), so a retry needs no push sweep every minute."""
    first = rt.ledger.earliest_retry(outbox_ids)
    if first is None:
        return None
    at = max(first, now)
    start_deployment(push_deployment(tool), scheduled_time=at, idempotency_key=f"push-{tool}@{at:%Y-%m-%dT%H:%M:%S}")
    return at
