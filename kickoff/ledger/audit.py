"""The audit log: why each onboarding is where it is, one line per reason, with its rule id."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kickoff.ledger.schema import audit

RULE_IN_LINE = re.compile(r"\b([ETAWM][0-9]{1,2})\b")


def rule_of(line: str) -> str | None:
    """The first rule id a line mentions (``E3``, ``T12``, ...), if any."""
    match = RULE_IN_LINE.search(line)
    return match.group(1) if match else None


def write(
    conn: Connection,
    onboarding_id: str,
    lines: Iterable[str],
    at: datetime,
    event_id: str | None = None,
    timer_key: str | None = None,
) -> int:
    rows = [
        {
            "at": at,
            "onboarding_id": onboarding_id,
            "event_id": event_id,
            "timer_key": timer_key,
            "rule": rule_of(line),
            "line": line,
        }
        for line in lines
    ]
    if rows:
        conn.execute(insert(audit), rows)
    return len(rows)


def lines_for(conn: Connection, onboarding_id: str) -> list[dict[str, Any]]:
    query = select(audit).where(audit.c.onboarding_id == onboarding_id).order_by(audit.c.id)
    return [dict(r) for r in conn.execute(query).mappings()]
