"""Tools whose credentials were refused: nothing is pushed to them until someone resumes them.

An auth failure is not the action's fault, so it does not count as an attempt; hammering
the vendor with bad credentials would only get the account locked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select

from kickoff.ledger.database import insert_for
from kickoff.ledger.records import PausedTool
from kickoff.ledger.schema import paused_tools


def pause(conn: Connection, tool: str, since: datetime, reason: str | None) -> None:
    """Flag ``tool`` as paused; if it already is, keep the first time and reason."""
    conn.execute(
        insert_for(conn, paused_tools)
        .values(tool=tool, since=since, reason=reason)
        .on_conflict_do_nothing(index_elements=["tool"])
    )


def resume(conn: Connection, tool: str) -> bool:
    """Lift the pause; True if the tool was paused."""
    return conn.execute(delete(paused_tools).where(paused_tools.c.tool == tool)).rowcount == 1


def is_paused(conn: Connection, tool: str) -> bool:
    return (
        conn.execute(select(paused_tools.c.tool).where(paused_tools.c.tool == tool)).first()
        is not None
    )


def all_paused(conn: Connection) -> list[PausedTool]:
    rows = conn.execute(select(paused_tools).order_by(paused_tools.c.tool))
    return [PausedTool(tool=r.tool, since=r.since, reason=r.reason) for r in rows]
