"""Times in a fixture relative to the sandbox's clock: ``now-12d``, ``now-3d+2h``, ``now``, and
dates: ``today-10d`` (a ``YYYY-MM-DD`` date field, in UTC).

A fixture of records already under way (tickets created weeks ago, entered a stage days ago)
means the same whenever it is seeded: each such string becomes the ISO 8601 UTC time that far
from the sandbox clock's now. Units: ``d`` days, ``h`` hours, ``m`` minutes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

RELATIVE = re.compile(r"^(now|today)((?:[+-]\d+[dhm])*)$")
STEP = re.compile(r"([+-])(\d+)([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def resolve(value: Any, now: datetime) -> Any:
    """``value`` with every relative time in it (recursively) made absolute."""
    if isinstance(value, dict):
        return {k: resolve(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, now) for v in value]
    if isinstance(value, str):
        match = RELATIVE.match(value.strip())
        if match:
            at = now.replace(microsecond=0)
            for sign, amount, unit in STEP.findall(match.group(2)):
                delta = timedelta(**{UNITS[unit]: int(amount)})
                at = at + delta if sign == "+" else at - delta
            return at.date().isoformat() if match.group(1) == "today" else at.isoformat().replace("+00:00", "Z")
    return value
