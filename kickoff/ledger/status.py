"""Counts for ops: what is waiting and what is stuck, in one read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Table, func, select

from kickoff.ledger.claims import claimable, waiting
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
        due_timers=_count(conn, timers, _due_timer(now)),
        failed_timers=_count(conn, timers, timers.c.status == "failed"),
        paused_tools=[p.tool for p in all_paused(conn)],
    )


def due_timers_at_least(conn: Connection, now: datetime, wanted: int) -> bool:
    """Whether ``wanted`` timers or more wait, due now: the first ``wanted`` of the claim
    order's index read, no further (a tick deciding whether its backlog is worth helpers)."""
    first = select(timers.c.id).where(waiting(timers, timers.c.fire_at <= now)).limit(wanted).subquery()
    return int(conn.execute(select(func.count()).select_from(first)).scalar_one()) >= wanted


def _due_timer(now: datetime) -> ColumnElement[bool]:
    """A timer to tick now: pending and due, or claimed by a worker whose lease ran out."""
    return claimable(timers, timers.c.fire_at <= now, now)


def next_due(conn: Connection, after: datetime | None = None) -> datetime | None:
    """The earliest moment something pending becomes due (a timer or an outbox row), or a
    dead worker's claim on one runs out, later than ``after`` if given: what a virtual clock
    jumps to next."""
    timer_when = [timers.c.status == "pending"] + ([timers.c.fire_at > after] if after else [])
    outbox_when = [outbox.c.status == "pending"] + ([outbox.c.next_try_at > after] if after else [])
    moments = [
        conn.execute(select(func.min(timers.c.fire_at)).where(*timer_when)).scalar_one(),
        conn.execute(select(func.min(outbox.c.next_try_at)).where(*outbox_when)).scalar_one(),
    ]
    for table in (timers, outbox):
        leased = [table.c.status == "claimed"] + ([table.c.lease_until > after] if after else [])
        moments.append(conn.execute(select(func.min(table.c.lease_until)).where(*leased)).scalar_one())
    found = [m for m in moments if m is not None]
    return min(found) if found else None


def due_outbox_tools(conn: Connection, now: datetime) -> list[str]:
    """Tools with outbox rows due now, or claimed by a worker whose lease ran out (what a
    push sweep must visit: those rows are the next worker's)."""
    rows = conn.execute(
        select(outbox.c.tool).where(claimable(outbox, outbox.c.next_try_at <= now, now)).distinct()
    )
    return sorted(r[0] for r in rows)


@dataclass(frozen=True)
class Overdue:
    """What a safety sweep must start, because no event started it: inbox rows waiting
    since before ``since``, due timers, and tools with outbox rows due since before ``since``."""

    inbox: bool
    timers: bool
    outbox_tools: list[str]


def overdue(conn: Connection, now: datetime, since: datetime, timers_since: datetime | None = None) -> Overdue:
    """Three small look-ups (one row or a DISTINCT each): cheap enough to run every few seconds.
    ``timers_since``: timers due by then count (default ``now``)."""
    waiting = claimable(inbox, inbox.c.received_at <= since, now)
    has_inbox = conn.execute(select(inbox.c.id).where(waiting).limit(1)).first() is not None
    has_timers = conn.execute(select(timers.c.id).where(_due_timer(timers_since or now)).limit(1)).first() is not None
    return Overdue(has_inbox, has_timers, due_outbox_tools(conn, since))


def next_timer(conn: Connection) -> datetime | None:
    """When the earliest pending timer is due (one MIN over the timers' status index)."""
    return conn.execute(select(func.min(timers.c.fire_at)).where(timers.c.status == "pending")).scalar_one()
