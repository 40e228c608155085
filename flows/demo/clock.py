"""The demo's virtual clock: it jumps from one moment that matters to the next (a scripted
act by a person, a timer, an action falling due), sets the sandbox's clock there, and runs
exactly the flows that have work, as real Prefect flow runs when a server is configured."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flows.runtime import Runtime
from sandbox.control import SandboxControl

log = logging.getLogger("kickoff.demo")
MAX_ROUNDS_PER_MOMENT = 8


@dataclass(order=True)
class Act:
    """Something a person does in a tool at a virtual moment (through the admin API)."""

    at: datetime
    procedure: str = field(compare=False)
    label: str = field(compare=False)
    do: Callable[[SandboxControl, Runtime], None] = field(compare=False, repr=False)
    poll: tuple[str, ...] = field(default=(), compare=False)  # tools Kickoff reads after the act (their export)


@dataclass
class FlowCalls:
    """How a cycle runs each step: as Prefect flows, or directly (``--no-prefect``)."""

    process: Callable[[datetime], object]
    tick: Callable[[datetime], object]
    push: Callable[[str, datetime], object]
    poll: Callable[[str, datetime], object] | None = None
    runs: int = 0


def prefect_calls() -> FlowCalls:
    from flows.flows import poll_flow, process_inbox_flow, push_flow, tick_flow

    return FlowCalls(
        process=lambda now: process_inbox_flow(now=now.isoformat()),
        tick=lambda now: tick_flow(now=now.isoformat()),
        # a run with a dead letter ends Failed (the ledger has recorded it): its state, not a raise
        push=lambda tool, now: push_flow(tool=tool, now=now.isoformat(), return_state=True),
        poll=lambda tool, now: poll_flow(tool=tool, max_pages=1, now=now.isoformat()),
    )


def direct_calls(rt: Runtime) -> FlowCalls:
    from flows.steps import ingest, process, push

    return FlowCalls(
        process=lambda now: process.process_inbox(rt, now),
        tick=lambda now: process.tick(rt, now),
        push=lambda tool, now: push.push(rt, tool, now),
        poll=lambda tool, now: ingest.poll(rt, tool, now, max_pages=1),
    )


class VirtualClock:
    def __init__(self, rt: Runtime, control: SandboxControl, calls: FlowCalls) -> None:
        self.rt, self.control, self.calls = rt, control, calls
        self.acts_done: list[tuple[datetime, Act]] = []

    def settle(self, now: datetime) -> None:
        """Run flows at ``now`` until nothing is left to do at this moment."""
        for _ in range(MAX_ROUNDS_PER_MOMENT):
            self.control.flush_webhooks(timeout=15)
            status = self.rt.ledger.status(now)
            did = False
            if status.pending_inbox:
                self.calls.process(now)
                self.calls.runs += 1
                did = True
            if status.due_timers:
                self.calls.tick(now)
                self.calls.runs += 1
                did = True
            for tool in self.rt.ledger.due_outbox_tools(now):
                self.calls.push(tool, now)
                self.calls.runs += 1
                did = True
            if not did:
                return

    def play(self, acts: list[Act], start: datetime, until: datetime) -> None:
        """From ``start`` to ``until``: every act at its moment, every timer and due action at its."""
        pending = sorted(acts)
        now, first = start, True
        while True:
            candidates = [a.at for a in pending[:1]]
            due = self.rt.ledger.next_due(after=None if first else now)
            if due is not None:
                candidates.append(max(due, now))
            if not candidates:
                return
            now, first = min(candidates), False
            if now > until:
                return
            self.control.set_clock(at=now.isoformat(), frozen=True)
            while pending and pending[0].at <= now:
                act = pending.pop(0)
                self.control.flush_webhooks(timeout=15)  # what came before the act is heard first
                act.do(self.control, self.rt)
                self.acts_done.append((now, act))
                for tool in act.poll:
                    if self.calls.poll is not None:
                        self.calls.poll(tool, now)
                        self.calls.runs += 1
            self.settle(now)
