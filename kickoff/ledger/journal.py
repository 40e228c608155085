"""The writes journal: what Kickoff wrote where, so the webhook reporting it is known as an echo.

Every successful action leaves (tool, record id, fingerprint, time). When a webhook later
reports a change to that record, the mapping computes the fingerprint of what the change
says and asks ``is_echo``: if Kickoff wrote exactly that there recently, the delivery is
only our own write coming back and two-way sync does not loop.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from kickoff.ledger.schema import writes


def fingerprint(value: Any) -> str:
    """A stable hash of a JSON-able value (key order and spacing do not matter)."""
    raw = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def write_fingerprint(kind: str, payload: dict[str, Any]) -> str:
    """The fingerprint of an action's write: its kind and payload (without ``target``)."""
    body = {k: v for k, v in payload.items() if k != "target"}
    return fingerprint({"kind": str(kind), "payload": body})


def record(
    conn: Connection,
    tool: str,
    record_id: str,
    fp: str,
    at: datetime,
    outbox_id: int | None = None,
) -> None:
    conn.execute(
        insert(writes).values(
            tool=tool, record_id=record_id, fingerprint=fp, at=at, outbox_id=outbox_id
        )
    )


def is_echo(
    conn: Connection, tool: str, record_id: str, fp: str, now: datetime, window: timedelta
) -> bool:
    """Did Kickoff write exactly ``fp`` to this record within ``window`` before ``now``?"""
    hit = conn.execute(
        select(writes.c.id)
        .where(
            writes.c.tool == tool,
            writes.c.record_id == record_id,
            writes.c.fingerprint == fp,
            writes.c.at >= now - window,
        )
        .limit(1)
    ).first()
    return hit is not None


def prune(conn: Connection, before: datetime) -> int:
    """Forget writes older than ``before``; returns how many."""
    return conn.execute(delete(writes).where(writes.c.at < before)).rowcount
