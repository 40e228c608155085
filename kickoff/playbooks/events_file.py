"""An events file: one event a line, in the format ``kickoff schema events`` prints
(``kickoff.event_input``), in time order. What ``kickoff simulate`` and the scenarios read."""

from __future__ import annotations

import json
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from kickoff.event_input import EventRefused, read_event
from kickoff.events import EventType
from kickoff.model import Event


class EventsFileError(ValueError):
    """A line of an events file that is not an event: its number and why."""

    def __init__(self, line: int, reason: str) -> None:
        self.line, self.reason = line, reason
        super().__init__(f"line {line}: {reason}")


def parse_event_line(text: str, number: int, zone: ZoneInfo, tenant: str | None = None) -> Event | None:
    """One line -> Event (None for a blank line); times without an offset are ``zone``'s.

    ``tenant``: the tenant simulated; an event naming another one is refused.
    """
    if not text.strip():
        return None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EventsFileError(number, f"not JSON ({exc.msg} at column {exc.colno})") from None
    try:
        event = read_event(raw, zone)
    except EventRefused as exc:
        kind = raw.get("type") if isinstance(raw, dict) else None
        prefix = f"{kind}: " if kind in EventType._value2member_map_ else ""
        raise EventsFileError(number, f"{prefix}{exc}") from None
    if tenant is not None and event.tenant not in (None, tenant):
        raise EventsFileError(number, f"tenant {event.tenant!r}, but the file is simulated as tenant {tenant!r}")
    return event


def numbered_events(lines: Iterable[str], zone: ZoneInfo, tenant: str | None = None) -> list[tuple[int, Event]]:
    """Every event of the text with its line number; the file must be in time order."""
    events: list[tuple[int, Event]] = []
    for number, text in enumerate(lines, start=1):
        event = parse_event_line(text, number, zone, tenant)
        if event is None:
            continue
        if events and event.occurred_at < events[-1][1].occurred_at:
            raise EventsFileError(
                number, "occurred_at is earlier than the previous event's: keep the file in time order")
        events.append((number, event))
    return events


def parse_events(lines: Iterable[str], zone: ZoneInfo, tenant: str | None = None) -> list[Event]:
    """Every event of the text, in file order (which is time order)."""
    return [event for _, event in numbered_events(lines, zone, tenant)]
