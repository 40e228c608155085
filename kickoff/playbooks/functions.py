"""The functions a playbook expression may call: small, pure, and None-tolerant.

Each one exists because a rule needs it (named in its docstring); anything else belongs
in a mapping, not in a playbook.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any


def as_date(value: Any) -> date | None:
    """A date from a date, a datetime or an ISO text (facts keep dates as text)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)
    except ValueError:
        return None


def as_datetime(value: Any) -> datetime | None:
    """A datetime from a datetime or an ISO text."""
    if isinstance(value, datetime):
        return value
    if value is None or value == "" or isinstance(value, date):
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def days_between(start: Any, end: Any) -> int | None:
    """Calendar days from ``start`` to ``end`` (T3: starting date within 14 days)."""
    a, b = as_date(start), as_date(end)
    return None if a is None or b is None else (b - a).days


def hours_between(start: Any, end: Any) -> float | None:
    """Elapsed hours from ``start`` to ``end`` (E4: an appointment booked less than 24 hours
    ahead); None unless both are times."""
    a, b = as_datetime(start), as_datetime(end)
    if a is None or b is None or (a.tzinfo is None) != (b.tzinfo is None):
        return None
    return (b - a).total_seconds() / 3600


def add_days(value: Any, days: int) -> date | None:
    """A date ``days`` later (T4: the webinar 3 days before the starting date)."""
    d = as_date(value)
    return None if d is None else d + timedelta(days=days)


def nps_band(score: Any) -> str | None:
    """W4: 7-10 high, 4-6 medium, 0-3 low."""
    if score is None:
        return None
    score = int(score)
    if score >= 7:
        return "high"
    if score >= 4:
        return "medium"
    return "low"


RECAP_POINTS = 15
_RECAP_LINE = re.compile(r"^\s*(\d{1,2})\s*[.)]\s*([^:]*):(.*)$")


def recap_missing(text: Any) -> list[int]:
    """T9: the numbers of the 15 recap points not answered (``N. label: answer``)."""
    answered: set[int] = set()
    for line in str(text or "").splitlines():
        found = _RECAP_LINE.match(line)
        if found and found.group(3).strip() and 1 <= int(found.group(1)) <= RECAP_POINTS:
            answered.add(int(found.group(1)))
    return [n for n in range(1, RECAP_POINTS + 1) if n not in answered]


def usage_gaps(usage: Any, plan: Any) -> list[str]:
    """T8: which Enable Marketplace criteria are not met yet."""
    usage = usage if isinstance(usage, Mapping) else {}
    gaps: list[str] = []
    if (usage.get("appointments") or 0) < 10:
        gaps.append("agenda: at least 10 appointments")
    if str(plan or "").lower() in ("advanced", "global") and not usage.get("cash_register_used"):
        gaps.append("cash register used (Advanced/Global plan)")
    if not usage.get("pss"):
        gaps.append("PSS")
    if not usage.get("stripe_kyc"):
        gaps.append("Stripe KYC completed")
    return gaps


def missing(record: Any, *names: str) -> list[str]:
    """The names whose value is empty in ``record`` (W8: a request's required fields)."""
    record = record if isinstance(record, Mapping) else {}
    return [n for n in names if record.get(n) in (None, "", [], {})]


def differs(a: Any, b: Any) -> bool:
    """A4: values that disagree; text compared without case or surrounding spaces."""
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() != b.strip().casefold()
    return a != b


def first(*values: Any) -> Any:
    """The first value that is not empty."""
    return next((v for v in values if v not in (None, "", [], {})), None)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "days_between": days_between,
    "hours_between": hours_between,
    "add_days": add_days,
    "date": as_date,
    "datetime": as_datetime,
    "nps_band": nps_band,
    "recap_missing": recap_missing,
    "usage_gaps": usage_gaps,
    "missing": missing,
    "differs": differs,
    "first": first,
    "len": lambda v: 0 if v is None else len(v),
    "lower": lambda v: None if v is None else str(v).lower(),
    "str": lambda v: "" if v is None else str(v),
    "int": lambda v: None if v in (None, "") else int(v),
    "any": lambda v: any(v or []),
    "all": lambda v: all(v or []),
}
