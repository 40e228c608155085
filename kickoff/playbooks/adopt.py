"""Adopting an onboarding already running in a tool: the playbook's state at the stage the
tool's record is in, the timers from now on, and every step taken before now marked done.

A tool's mapping reads a running record (``Running``): which onboarding it is, the stage it
is in, and its history as canonical facts dated from the record (the start first: a contract
signed on the record's creation date, ...). ``adopt`` replays that history through the same
decision function as the flows, on a virtual clock up to ``now``: what the playbook would
have done before now is *taken as done* (never sent: the people did it, or it no longer
matters), and the timers still pending are the ones that follow. Where the replay's stage
differs from the record's, the record wins. Tasks the replay "created" were not created by
Kickoff, so none is left open for a later ``complete_task``; and a task whose completion a rule
waits for (a trigger's ``tasks:``, e.g. A6's pre-onboarding before A7's call) is taken as done
in its tool by its due time (at the latest now), so what follows it is in the past as well
rather than waiting for a completion that can never come. A record the replay "created" is
kept only when the tool's record is that record (``Running.records``), and then linked, under
the cycle the replay leaves running (the first, for a history that starts one onboarding).
The tenant's calendar and recency windows apply as in the flows.
Pure: no clock, no I/O, so an adoption is planned, printed and tested like a simulation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from kickoff.calendar import Calendar
from kickoff.events import EventType
from kickoff.model import CREATED_RECORDS_FACT, OPEN_TASKS_FACT, Action, Event, Onboarding, Timer
from kickoff.playbooks.simulate import SimAction, SimResult, simulate
from kickoff.playbooks.spec import Playbook

DEFAULT_HORIZON = timedelta(days=120)
AFTER_CREATION = timedelta(seconds=1)
"""A task taken as done is done after the step that created it, never at the same instant."""


@dataclass(frozen=True)
class Running:
    """A mapping's reading of one record that is an onboarding already under way."""

    subject: str
    """The onboarding id the ledger will know it by."""
    tenant: str
    tool: str
    record_id: str
    record_kind: str
    """The crosswalk's object kind of the record (``ticket``, ``account``)."""
    label: str
    """The record in words, for the plan (``HubSpot ticket 1001 'SE - Nordljus Bygg AB'``)."""
    stage: str
    """The canonical stage the record is in."""
    history: list[Event]
    """The canonical facts the record shows, oldest first; the first starts the onboarding."""
    records: dict[str, str] = field(default_factory=dict)
    """Playbook ``create_record`` line -> the tool's id: the record that line would have made."""


@dataclass(frozen=True)
class Unplaced:
    """A record adopt cannot place, and why."""

    tool: str
    record_id: str
    label: str
    reason: str


@dataclass(frozen=True)
class Link:
    """A crosswalk row: ``canonical_id`` (onboarding id, or the idempotency key of the action
    that made the record) is ``tool``'s ``object_kind`` ``external_id``."""

    canonical_id: str
    tool: str
    external_id: str
    object_kind: str


@dataclass
class Adoption:
    """The plan for one onboarding: what the ledger gets, and what follows."""

    running: Running
    state: Onboarding
    done: list[SimAction]
    """Steps the playbook would have taken before now: taken as done, never sent."""
    timers: list[Timer]
    """Pending from now on."""
    upcoming: list[SimAction]
    """What follows if nothing else happens (up to the horizon)."""
    links: list[Link]
    notes: list[str] = field(default_factory=list)

    @property
    def done_actions(self) -> list[Action]:
        return [item.action for item in self.done]


def adopt(playbook: Playbook, running: Running, now: datetime, *, tz: ZoneInfo | str | None = None,
          calendar: Calendar | None = None, recent_days: Mapping[str, int] | None = None,
          horizon: timedelta = DEFAULT_HORIZON) -> Adoption | Unplaced:
    """The adoption of ``running`` at ``now``, or why it cannot be placed. ``tz``,
    ``calendar``, ``recent_days``: the tenant's (default: the playbook's)."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if running.stage not in playbook.stages:
        return _unplaced(running, f"stage {running.stage!r} is not one of {playbook.name}'s")
    if playbook.stages[running.stage].terminal:
        return _unplaced(running, f"stage {running.stage!r} is where {playbook.name} ends: nothing runs")
    if not running.history or running.history[0].occurred_at > now:
        return _unplaced(running, "its record gives no start before now")

    def play(events: list[Event], until: datetime, start: SimResult | None = None) -> SimResult:
        return simulate(playbook, events, until=until, tz=tz, tenant=running.tenant, calendar=calendar,
                        recent_days=recent_days, start=start)

    past = play(list(running.history), now)
    waited = _waited_tasks(playbook, running, past, now)
    if waited:
        past = play(sorted([*running.history, *waited], key=lambda e: e.occurred_at), now)
    state = past.states.get(running.subject)
    if state is None:
        why = past.audit[-1][1] if past.audit else "no start event"
        return _unplaced(running, f"its facts start no {playbook.name} onboarding ({why})")
    notes = []
    if state.stage != running.stage:
        notes.append(f"the playbook alone would be at {state.stage}; the record is at {running.stage}: "
                     "taken from the record")
        state.stage = running.stage
    done = [item for item in past.actions if item.action.onboarding_id == running.subject]
    if waited:
        notes.append("taken as done in its tool, so what follows it is past too: "
                     + ", ".join(str(e.data["task"]) for e in waited))
    links, state = _records(running, state, done, notes)
    pending = {key: timer for key, timer in past.pending.items() if key[0] == running.subject}
    ahead = SimResult(states={running.subject: state.model_copy(deep=True)}, pending=dict(pending))
    play([], now + horizon, ahead)
    upcoming = [item for item in ahead.actions if item.action.onboarding_id == running.subject]
    return Adoption(running, state, done, sorted(pending.values(), key=lambda t: (t.fire_at, t.key)),
                    upcoming, links, notes)


def _waited_tasks(playbook: Playbook, running: Running, past: SimResult, now: datetime) -> list[Event]:
    """A ``task.updated`` completed for each task of the past a rule waits for (a trigger's
    ``tasks:``), by its due time and at the latest ``now``: the people did that step too. One
    pass: a task the replayed completions lead to is not completed in turn."""
    state = past.states.get(running.subject)
    waited = {name for trigger in playbook.triggers for name in trigger.tasks or []}
    if state is None or not waited:
        return []
    made = {item.action.idempotency_key: item for item in past.actions}
    events = []
    for name, key in sorted((state.facts.get(OPEN_TASKS_FACT) or {}).items()):
        task = made.get(key)
        if name not in waited or task is None:
            continue
        at = max(min(task.due or now, now), task.at + AFTER_CREATION)
        if at <= now:
            events.append(Event(id=f"adopt-{running.tool}-{running.record_id}-done-{name}", type=EventType.TASK_UPDATED,
                                occurred_at=at, subject=running.subject, tenant=running.tenant,
                                data={"task": name, "status": "completed"}))
    return events


def _records(running: Running, state: Onboarding, done: list[SimAction],
             notes: list[str]) -> tuple[list[Link], Onboarding]:
    """Keep what Kickoff really holds: the tool's record as the line that would have made it
    (linked), no other record, no open task."""
    made = {item.action.idempotency_key: item.action for item in done}
    records = dict(state.facts.get(CREATED_RECORDS_FACT) or {})
    links = []
    for line, key in sorted(records.items()):
        action = made.get(key)
        if line in running.records and action is not None and action.tool == running.tool:
            kind = str(action.payload.get("object") or running.record_kind)
            links.append(Link(key, running.tool, running.records[line], kind))
        else:
            del records[line]
            notes.append(f"record {line!r} was not made by Kickoff: none is linked")
    if running.record_id not in running.records.values():  # the record of the cycle that runs
        links.append(Link(state.cycle_id, running.tool, running.record_id, running.record_kind))
    tasks = state.facts.get(OPEN_TASKS_FACT) or {}
    if tasks:
        notes.append(f"{len(tasks)} task(s) of the past were not made by Kickoff: none is left open")
    facts = {**state.facts, CREATED_RECORDS_FACT: records, OPEN_TASKS_FACT: {}}
    return links, state.model_copy(update={"facts": facts, "version": 0}, deep=True)


def _unplaced(running: Running, reason: str) -> Unplaced:
    return Unplaced(running.tool, running.record_id, running.label, reason)

