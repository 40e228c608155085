"""Counts for ops: what is waiting and what is stuck, in one read."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Table, func, select

from kickoff.ledger.pauses import all_paused
from kickoff.ledger.records import LedgerStatus
from kickoff.ledger.schema import inbox, outbox, timers


def _count(conn: Connection, table: Table, *where: ColumnElement[bool]) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def status(conn: Connection, now: datetime) -> LedgerStatus:
    return LedgerStatus(
        pending_inbox=_count(conn, inbox, inbox.c.status.in_(("pending", "claimed"))),
        failed_inbox=_count(conn, inbox, inbox.c.status == "failed"),
        pending_outbox=_count(conn, outbox, outbox.c.status.in_(("pending", "claimed"))),
        dead_outbox=_count(conn, outbox, outbox.c.status == "dead"),
        due_timers=_count(conn, timers, timers.c.status == "pending", timers.c.fire_at <= now),
        paused_tools=[p.tool for p in all_paused(conn)],
    )
