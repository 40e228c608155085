"""Poll cursors: how far each tool's change stream has been read (tool + stream -> value)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from kickoff.ledger.database import insert_for
from kickoff.ledger.schema import cursors


def get(conn: Connection, tool: str, stream: str) -> str | None:
    return conn.execute(
        select(cursors.c.value).where(cursors.c.tool == tool, cursors.c.stream == stream)
    ).scalar_one_or_none()


def advance(conn: Connection, tool: str, stream: str, value: str, now: datetime) -> None:
    """Store the cursor's new value (the poller decides what "further" means)."""
    stmt = insert_for(conn, cursors).values(tool=tool, stream=stream, value=value, updated_at=now)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["tool", "stream"], set_={"value": value, "updated_at": now}
        )
    )
