"""Moments in the tenant's time zone: 'the day after the start date at 08:00', 'two
business days later', 'one hour before the meeting'.

Calendar steps (days, business days, a time of day) are taken on the local wall clock, so
08:00 stays 08:00 across a DST change; hours and minutes are elapsed time, so 'one hour
before' is one real hour. Nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kickoff.calendar import WEEKDAYS, Calendar
from kickoff.memo import IdentityMemo
from kickoff.playbooks.functions import as_date, as_datetime


class NoAnchor(ValueError):
    """The date a moment is relative to is empty (e.g. no start date on the contract)."""


def localize(value: Any, zone: ZoneInfo) -> datetime:
    """An aware local datetime: a date is its local midnight; naive means local wall time."""
    moment = as_datetime(value)
    if moment is None:
        day = as_date(value)
        if day is None:
            raise NoAnchor(f"no date or time in {value!r}")
        return wall(day, time(0, 0), zone)
    if moment.tzinfo is None:
        return wall(moment.date(), moment.time(), zone)
    return moment.astimezone(zone)


def wall(day: date, at: time, zone: ZoneInfo, fold: int = 0) -> datetime:
    """``day`` at local ``at``; a time skipped by DST moves forward by the gap."""
    naive = datetime.combine(day, at).replace(tzinfo=zone, fold=fold)
    return naive.astimezone(UTC).astimezone(zone)


def add_business_days(day: date, count: int, calendar: Calendar | None = None) -> date:
    """Move ``count`` business days of ``calendar`` (default: Monday to Friday, no holidays);
    negative moves back."""
    return (calendar or WEEKDAYS).add_business_days(day, count)


def shift(
    anchor: datetime,
    zone: ZoneInfo,
    *,
    days: int = 0,
    business_days: int = 0,
    at: time | None = None,
    hours: int = 0,
    minutes: int = 0,
    calendar: Calendar | None = None,
) -> datetime:
    """Apply calendar steps on the local wall clock, then elapsed hours and minutes."""
    local = anchor.astimezone(zone)
    if days or business_days or at is not None:
        day = local.date() + timedelta(days=days)
        if business_days:
            day = add_business_days(day, business_days, calendar)
        local = wall(day, at or local.time().replace(tzinfo=None), zone, fold=local.fold)
    if hours or minutes:
        local = (local.astimezone(UTC) + timedelta(hours=hours, minutes=minutes)).astimezone(zone)
    return local


def parse_hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def resolve(spec: Any, zone: ZoneInfo, evaluate: Callable[[str], Any],
            calendar: Calendar | None = None) -> datetime:
    """The moment a ``TimeSpec`` names; ``evaluate`` reads expressions (``from``, ``days``,
    ``business_days``); business days are ``calendar``'s (holidays skipped)."""
    if spec.latest_of:
        return max(resolve(s, zone, evaluate, calendar) for s in spec.latest_of)
    if spec.earliest_of:
        return min(resolve(s, zone, evaluate, calendar) for s in spec.earliest_of)
    anchor_value = evaluate(spec.from_)
    if anchor_value is None:
        raise NoAnchor(f"{spec.from_} is empty")
    days = spec.days if isinstance(spec.days, int) else evaluate(spec.days)
    business = spec.business_days if isinstance(spec.business_days, int) else evaluate(spec.business_days)
    minutes = spec.minutes if isinstance(spec.minutes, int) else evaluate(spec.minutes)
    steps = (int(days or 0), int(business or 0), spec.time, spec.hours, int(minutes or 0))
    return _moment(anchor_value, zone, steps, calendar)


_Steps = tuple[int, int, str | None, int, int]
"""Days, business days, time of day, hours, minutes: the steps of a ``TimeSpec`` once read."""
_MOMENTS: IdentityMemo[datetime] = IdentityMemo(kept=10_000)
"""Per calendar: (anchor's type, anchor, its zone and fold, zone, steps) -> the moment."""


def _moment(anchor_value: Any, zone: ZoneInfo, steps: _Steps, calendar: Calendar | None) -> datetime:
    """``anchor_value`` moved by ``steps``, worked out once per anchor, zone, steps and
    calendar: the onboardings of one tick set the same few moments (the next business day at
    09:00), and the wall-clock arithmetic was a fifth of a decision. A datetime's key carries
    its type, zone and fold, which equality ignores within one zone (the repeated hour)."""
    key = (type(anchor_value), anchor_value, getattr(anchor_value, "tzinfo", None),
           getattr(anchor_value, "fold", 0), zone, steps)
    return _MOMENTS.get(calendar, key, _shift_by, anchor_value, zone, steps, calendar)


def _shift_by(anchor_value: Any, zone: ZoneInfo, steps: _Steps, calendar: Calendar | None) -> datetime:
    days, business, at, hours, minutes = steps
    return shift(localize(anchor_value, zone), zone, days=days, business_days=business,
                 at=parse_hhmm(at) if at else None, hours=hours, minutes=minutes, calendar=calendar)
