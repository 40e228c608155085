"""A virtual clock over a playbook: canonical events in, every action out, in order.

The same decision function the flows call, with timers kept in memory and fired in time
order, so a 60-day onboarding runs in well under a second and always prints the same
timeline. Used by ``kickoff simulate``, the demo and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kickoff.calendar import Calendar
from kickoff.model import Action, ActionKind, Decision, Event, Onboarding, Timer
from kickoff.playbooks.decide import decide
from kickoff.playbooks.events_file import EventsFileError, parse_events
from kickoff.playbooks.spec import Playbook
from kickoff.playbooks.timers import timer_event

MAX_STEPS = 100_000
__all__ = ["EventsFileError", "SimAction", "SimIgnored", "SimResult", "parse_events", "simulate",
           "to_jsonl", "to_table"]


@dataclass(frozen=True)
class SimAction:
    """One action as the simulator prints it."""

    at: datetime
    action: Action

    @property
    def due(self) -> datetime | None:
        """A task's due time, in the zone of ``at`` (the tenant's); None for other actions."""
        due = self.action.payload.get("due_at") if self.action.kind == ActionKind.CREATE_TASK else None
        return datetime.fromisoformat(str(due)).astimezone(self.at.tzinfo) if due else None

    def as_dict(self) -> dict[str, Any]:
        a, due = self.action, self.due
        return {
            "at": self.at.isoformat(),
            "rule": a.rule,
            "tool": a.tool,
            "kind": str(a.kind),
            "due": due.isoformat() if due else None,
            "payload": a.payload,
            "onboarding": a.onboarding_id,
            "key": a.idempotency_key,
        }


@dataclass(frozen=True)
class SimIgnored:
    """An event of the file that the playbook did nothing with, and why."""

    at: datetime
    event: Event
    reason: str
    number: int  # its position among the events (1 = the first); the CLI gives the file's line

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": "ignored", "event": str(self.event.type),
                "line": self.number, "onboarding": self.event.subject, "reason": self.reason}


@dataclass
class SimResult:
    actions: list[SimAction] = field(default_factory=list)
    states: dict[str, Onboarding] = field(default_factory=dict)
    pending: dict[tuple[str, str], Timer] = field(default_factory=dict)
    audit: list[tuple[datetime, str]] = field(default_factory=list)
    decisions: int = 0
    ignored: list[SimIgnored] = field(default_factory=list)
    timeline: list[SimAction | SimIgnored] = field(default_factory=list, repr=False)
    """The actions and the ignored events, in the order they happened."""


def simulate(
    playbook: Playbook,
    events: list[Event],
    *,
    until: datetime | None = None,
    tz: ZoneInfo | str | None = None,
    tenant: str | None = None,
    calendar: Calendar | None = None,
    recent_days: Mapping[str, int] | None = None,
    start: SimResult | None = None,
) -> SimResult:
    """Run ``events`` and every timer they set, in time order, up to ``until`` (inclusive).

    At the same instant an event goes before a timer. Without ``until`` it runs until no
    timer is left. ``start``: go on from these states and pending timers (they are changed).
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else (tz or playbook.zone)
    result = start or SimResult()
    index = 0
    clock: datetime | None = None
    for _ in range(MAX_STEPS):
        next_event = events[index] if index < len(events) else None
        next_timer = min(result.pending.values(), key=lambda t: (t.fire_at, t.onboarding_id, t.key), default=None)
        if next_event is None and next_timer is None:
            return result
        take_event = next_event is not None and (
            next_timer is None or next_event.occurred_at <= next_timer.fire_at
        )
        at = next_event.occurred_at if take_event else next_timer.fire_at  # type: ignore[union-attr]
        if until is not None and at > until:
            return result
        number = None
        if take_event:
            event, index = next_event, index + 1
            number = index
        else:
            assert next_timer is not None
            event = timer_event(next_timer, tenant)
            del result.pending[(next_timer.onboarding_id, next_timer.key)]
        clock = event.occurred_at if clock is None else max(clock, event.occurred_at)
        _step(playbook, event, clock, zone, tenant, result, calendar, recent_days, number)
    raise RuntimeError(f"simulation did not settle after {MAX_STEPS} steps: a timer loop?")


def _step(playbook: Playbook, event: Event, now: datetime, zone: ZoneInfo, tenant: str | None, result: SimResult,
          calendar: Calendar | None = None, recent_days: Mapping[str, int] | None = None,
          number: int | None = None) -> None:
    before = result.states.get(event.subject)
    decision = decide(before, event, now, playbook, tz=zone, tenant=tenant,
                      calendar=calendar, recent_days=recent_days)
    local = now.astimezone(zone)
    if number is not None and did_nothing(before, decision):
        ignored = SimIgnored(local, event, why_ignored(playbook, before, event, decision), number)
        result.ignored.append(ignored)
        result.timeline.append(ignored)
        result.audit.append((local, f"{event.type} {event.id}: ignored: {ignored.reason}"))
    if decision is None:
        return
    result.decisions += 1
    result.states[event.subject] = decision.state
    for key in decision.cancel_timers:
        result.pending.pop((event.subject, key), None)
    for timer in decision.set_timers:
        result.pending[(timer.onboarding_id, timer.key)] = timer
    done = [SimAction(local, a) for a in decision.actions]
    result.actions.extend(done)
    result.timeline.extend(done)
    result.audit.extend((local, line) for line in decision.audit)


def did_nothing(before: Onboarding | None, decision: Decision | None) -> bool:
    """No action, no timer, no change of state: the playbook ignored the event (the flows
    keep such an event's inbox row as ignored, with ``why_ignored``)."""
    if decision is None:
        return True
    if decision.actions or decision.set_timers or decision.cancel_timers or before is None:
        return False
    return _meaning(decision.state) == _meaning(before)


def _meaning(state: Onboarding) -> dict[str, Any]:
    """The state without its version and empty bookkeeping (an empty list the engine starts)."""
    dump = state.model_dump(exclude={"version"})
    dump["facts"] = {k: v for k, v in dump["facts"].items() if v not in ({}, [], None)}
    return dump


def why_ignored(playbook: Playbook, state: Onboarding | None, event: Event, decision: Decision | None) -> str:
    """Why the playbook did nothing with ``event``, from what its triggers ask for."""
    if state is None:
        if event.type not in playbook.start.on:
            return (f"no onboarding {event.subject} yet, and {event.type} starts none "
                    f"({playbook.name} starts on {', '.join(playbook.start.on)})")
        return f"the start condition does not hold: {' and '.join(playbook.start.when)}"
    triggers = playbook.by_event.get(event.type, [])
    if not triggers:
        return f"{playbook.name} has no trigger on {event.type}"
    needs: list[str] = []
    for trigger in triggers:
        if trigger.tasks is not None:
            needs.append(f"{trigger.rule} only for task(s) {', '.join(trigger.tasks)}")
        elif trigger.stages is not None and state.stage not in trigger.stages:
            needs.append(f"{trigger.rule} only in stage {', '.join(trigger.stages)}")
        elif trigger.status is not None and str(state.status) not in trigger.status:
            needs.append(f"{trigger.rule} only when {', '.join(trigger.status)}")
    failed = [line for line in (decision.audit if decision else [])
              if line.endswith((" fails", ": ignored"))]
    found = list(dict.fromkeys(needs + failed))
    return f"stage {state.stage} ({state.status}): " + ("; ".join(found) or "no trigger changes anything")


Item = SimAction | SimIgnored


def to_jsonl(items: Sequence[Item]) -> str:
    """One JSON object a line: an action (at, rule, tool, kind, due, payload, onboarding, key)
    or an ignored event (at, kind "ignored", event, line, onboarding, reason)."""
    return "".join(json.dumps(a.as_dict(), ensure_ascii=False) + "\n" for a in items)


def to_table(items: Sequence[Item]) -> str:
    """The same as a readable timeline, a task's due time in its own column."""
    many = len({_subject(i) for i in items}) > 1
    rows = []
    for item in items:
        stamp = item.at.strftime("%Y-%m-%d %a %H:%M %z")
        subject = (_subject(item),) if many else ()
        if isinstance(item, SimIgnored):
            what = f"{item.event.type} (line {item.number}): {item.reason}"
            rows.append((stamp, "", "", "ignored", *subject, "", what))
            continue
        a, due = item.action, item.due
        rows.append((stamp, a.rule, a.tool, str(a.kind), *subject,
                     due.strftime("%Y-%m-%d %a %H:%M") if due else "", _describe(a.payload)))
    header = ("at", "rule", "tool", "kind", *(("onboarding",) if many else ()), "due", "what")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines) + "\n"


def _subject(item: Item) -> str:
    return item.event.subject if isinstance(item, SimIgnored) else item.action.onboarding_id


def _describe(payload: dict[str, Any]) -> str:
    parts = []
    for key in ("subject", "description", "stage", "owner", "object", "template", "body", "task_key"):
        if payload.get(key):
            text = str(payload[key]).replace("\n", " ")
            parts.append(text if len(text) <= 70 else text[:67] + "...")
            break
    if payload.get("to"):
        parts.append("to " + ", ".join(payload["to"]))
    if payload.get("record"):
        parts.append(f"[{payload['record']}]")
    return " ".join(parts)
