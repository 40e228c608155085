"""A virtual clock over a playbook: canonical events in, every action out, in order.

The same decision function the flows call, with timers kept in memory and fired in time
order, so a 60-day onboarding runs in well under a second and always prints the same
timeline. Used by ``kickoff simulate``, the demo and the tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from kickoff.events import EventType
from kickoff.model import Action, Event, Onboarding, Timer
from kickoff.playbooks.decide import decide
from kickoff.playbooks.spec import Playbook
from kickoff.playbooks.timers import timer_event

DEFAULT_SUBJECT = "onboarding-1"
MAX_STEPS = 100_000
_LINE_KEYS = {"at", "type", "data", "subject", "id", "tenant"}


class EventsFileError(ValueError):
    """A line of an events file that is not a canonical event: its number and why."""

    def __init__(self, line: int, reason: str) -> None:
        self.line, self.reason = line, reason
        super().__init__(f"line {line}: {reason}")


@dataclass(frozen=True)
class SimAction:
    """One action as the simulator prints it."""

    at: datetime
    action: Action

    def as_dict(self) -> dict[str, Any]:
        a = self.action
        return {
            "at": self.at.isoformat(),
            "rule": a.rule,
            "tool": a.tool,
            "kind": str(a.kind),
            "payload": a.payload,
            "onboarding": a.onboarding_id,
            "key": a.idempotency_key,
        }


@dataclass
class SimResult:
    actions: list[SimAction] = field(default_factory=list)
    states: dict[str, Onboarding] = field(default_factory=dict)
    pending: dict[tuple[str, str], Timer] = field(default_factory=dict)
    audit: list[tuple[datetime, str]] = field(default_factory=list)
    decisions: int = 0
    ignored: list[Event] = field(default_factory=list)


def parse_event_line(text: str, number: int, zone: ZoneInfo) -> Event | None:
    """One JSONL line -> Event (``at`` without an offset is the tenant's local time)."""
    if not text.strip():
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventsFileError(number, f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise EventsFileError(number, "a line is one JSON object with at, type, data")
    unknown = sorted(set(raw) - _LINE_KEYS)
    if unknown:
        raise EventsFileError(number, f"unknown key(s) {', '.join(unknown)}; expected at, type, data, subject")
    for key in ("at", "type"):
        if key not in raw:
            raise EventsFileError(number, f"'{key}' is missing")
    try:
        at = datetime.fromisoformat(str(raw["at"]))
    except ValueError:
        raise EventsFileError(number, f"'at' is not an ISO-8601 time: {raw['at']!r}") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    if raw["type"] not in EventType._value2member_map_:
        raise EventsFileError(number, f"unknown event type {raw['type']!r}")
    try:
        return Event(
            id=str(raw.get("id") or f"line-{number}"),
            type=raw["type"],
            occurred_at=at,
            subject=str(raw.get("subject") or DEFAULT_SUBJECT),
            tenant=raw.get("tenant"),
            data=raw.get("data") or {},
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p != "_data_matches_type")
        reason = err["msg"].removeprefix("Value error, ")
        raise EventsFileError(number, f"{raw['type']}: {where + ': ' if where else ''}{reason}") from None


def parse_events(lines: Iterable[str], zone: ZoneInfo) -> list[Event]:
    """Every event of a JSONL text, in file order, which must also be time order."""
    events: list[Event] = []
    for number, text in enumerate(lines, start=1):
        event = parse_event_line(text, number, zone)
        if event is None:
            continue
        if events and event.occurred_at < events[-1].occurred_at:
            raise EventsFileError(number, "'at' is earlier than the previous event's: keep the file in time order")
        events.append(event)
    return events


def simulate(
    playbook: Playbook,
    events: list[Event],
    *,
    until: datetime | None = None,
    tz: ZoneInfo | str | None = None,
    tenant: str | None = None,
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
        if take_event:
            event, index = next_event, index + 1
        else:
            assert next_timer is not None
            event = timer_event(next_timer, tenant)
            del result.pending[(next_timer.onboarding_id, next_timer.key)]
        clock = event.occurred_at if clock is None else max(clock, event.occurred_at)
        _step(playbook, event, clock, zone, tenant, result)
    raise RuntimeError(f"simulation did not settle after {MAX_STEPS} steps: a timer loop?")


def _step(playbook: Playbook, event: Event, now: datetime, zone: ZoneInfo, tenant: str | None, result: SimResult) -> None:
    decision = decide(result.states.get(event.subject), event, now, playbook, tz=zone, tenant=tenant)
    local = now.astimezone(zone)
    if decision is None:
        result.ignored.append(event)
        result.audit.append((local, f"{event.type} {event.id}: starts nothing in {playbook.name}"))
        return
    result.decisions += 1
    result.states[event.subject] = decision.state
    for key in decision.cancel_timers:
        result.pending.pop((event.subject, key), None)
    for timer in decision.set_timers:
        result.pending[(timer.onboarding_id, timer.key)] = timer
    result.actions.extend(SimAction(local, a) for a in decision.actions)
    result.audit.extend((local, line) for line in decision.audit)


def to_jsonl(actions: list[SimAction]) -> str:
    """One JSON object a line: at, rule, tool, kind, payload (then onboarding and key)."""
    return "".join(json.dumps(a.as_dict(), ensure_ascii=False) + "\n" for a in actions)


def to_table(actions: list[SimAction]) -> str:
    """The same actions as a readable timeline."""
    many = len({a.action.onboarding_id for a in actions}) > 1
    rows = []
    for item in actions:
        a = item.action
        rows.append(
            (
                item.at.strftime("%Y-%m-%d %a %H:%M %z"),
                a.rule,
                a.tool,
                str(a.kind),
                *((a.onboarding_id,) if many else ()),
                _describe(a.payload),
            )
        )
    header = ("at", "rule", "tool", "kind", *(("onboarding",) if many else ()), "what")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines) + "\n"


def _describe(payload: dict[str, Any]) -> str:
    parts = []
    for key in ("subject", "description", "stage", "owner", "object", "template", "body", "task_key"):
        if payload.get(key):
            text = str(payload[key]).replace("\n", " ")
            parts.append(text if len(text) <= 70 else text[:67] + "...")
            break
    if "due_at" in payload:
        parts.append(f"(due {payload['due_at'][:16].replace('T', ' ')})")
    if payload.get("to"):
        parts.append("to " + ", ".join(payload["to"]))
    if payload.get("record"):
        parts.append(f"[{payload['record']}]")
    return " ".join(parts)
