"""Helpers every tool's mapping shares: parsing the vendors' many date spellings and yes/no
words, and fingerprinting one field change. Reading a value at a path in a vendor payload is
``kickoff.paths`` (connectors use it too).

Written once here so each tool's module only says *where* its facts are, not *how* to dig.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["as_bool", "as_int", "change_fingerprint", "normalised", "parse_date", "parse_datetime",
           "stable_id"]

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2}))?$")
TRUE_WORDS = {"true", "yes", "ja", "sim", "oui", "1", "y"}
FALSE_WORDS = {"false", "no", "nej", "não", "nao", "non", "0", "n"}


def as_bool(value: Any) -> bool | None:
    """A vendor's yes/no in any spelling (SOAP "false", "Sim", 1); None when it is neither."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    return None


def as_int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(float(str(value).strip().replace(",", ".")))
    except ValueError:
        return None


def parse_datetime(value: Any, zone: ZoneInfo | None = None) -> datetime | None:
    """A moment from ISO 8601, epoch milliseconds, ``dd/mm/yyyy [hh:mm]`` or a date.

    Naive values are read in ``zone`` (the tenant's: a person typed them), else UTC.
    Returns None for an empty value; raises ValueError for one that does not parse.
    """
    if value in (None, ""):
        return None
    zone = zone or ZoneInfo("UTC")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        return datetime.combine(value, time(), zone)
    if isinstance(value, (int, float)) or str(value).strip().lstrip("-").isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    text = str(value).strip()
    dmy = _DMY.match(text)
    if dmy:
        day, month, year, hour, minute = dmy.groups()
        return datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), tzinfo=zone)
    text = text.replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # Salesforce's +0000
    fraction = re.match(r"^(.*T\d{2}:\d{2}:\d{2})\.(\d+)(.*)$", text)
    if fraction:  # .NET's seven digits (Movidesk)
        text = f"{fraction.group(1)}.{fraction.group(2)[:6].ljust(6, '0')}{fraction.group(3)}"
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def parse_date(value: Any, zone: ZoneInfo | None = None) -> date | None:
    """A calendar date: a datetime is read in ``zone`` (a signature at 23:30 UTC is the next
    day in Stockholm); raises ValueError for a value that does not parse."""
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text)
    moment = parse_datetime(value, zone)
    assert moment is not None
    return moment.astimezone(zone or UTC).date()


def normalised(value: Any) -> str:
    """How a written value and the value a webhook reports are compared: vendors send
    everything back as text (``true``, ``12``, ``""`` for cleared)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value).strip()


def change_fingerprint(record_id: str, field: str, value: Any) -> str:
    """The fingerprint of one field change of one record: what Kickoff journals when it
    writes, and what a webhook reporting the same change hashes to (echo suppression)."""
    raw = "\x1f".join([str(record_id), field.lower(), normalised(value)])
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def stable_id(*parts: object) -> str:
    """A short id that is the same every time for the same parts (a re-processed delivery
    gives the same event id)."""
    raw = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]
