"""Timers: wake-up calls per onboarding, one per (onboarding, key), so setting again replaces.

A due timer is claimed by the tick like an inbox row; the decision it leads to marks it
fired in the same transaction. A cancelled timer never fires.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic_core import to_jsonable_python
from sqlalchemy import Connection, Dialect, bindparam, select, text, update

from kickoff.ledger.bulk import Prepared, prepare, update_many
from kickoff.ledger.claims import claim_rows, claimed, lease_expired, waiting
from kickoff.ledger.errors import ClaimLost
from kickoff.ledger.records import DueTimer
from kickoff.ledger.schema import timers
from kickoff.ledger.types import JSONType, UTCDateTime
from kickoff.model import Timer

tc = timers.c


def set_timer(conn: Connection, timer: Timer, now: datetime) -> None:
    """Insert or replace the timer (onboarding, key): pending again at its new fire_at."""
    set_timers(conn, [timer], now)


# Written out rather than built with the dialects' ``insert().on_conflict_do_update()``, which
# SQLAlchemy compiles anew on every execution (those constructs have no cache key): the compile
# was most of the cost of committing a decision. The same text runs on SQLite and PostgreSQL.
_UPSERT = text(
    'INSERT INTO timers (onboarding_id, "key", fire_at, rule, data, status, claimed_by, lease_until, updated_at) '
    "VALUES (:onboarding_id, :key, :fire_at, :rule, :data, 'pending', NULL, NULL, :updated_at) "
    'ON CONFLICT (onboarding_id, "key") DO UPDATE SET fire_at = excluded.fire_at, rule = excluded.rule, '
    "data = excluded.data, status = 'pending', claimed_by = NULL, lease_until = NULL, error = NULL, "
    "updated_at = excluded.updated_at"
).bindparams(
    bindparam("fire_at", type_=UTCDateTime()),
    bindparam("updated_at", type_=UTCDateTime()),
    bindparam("data", type_=JSONType),
)


def set_timers(conn: Connection, new_timers: Iterable[Timer], now: datetime) -> None:
    """``set_timer`` for several timers (the last of a repeated key wins, as if set one after
    another), as one cached statement run for each."""
    latest: dict[tuple[str, str], Timer] = {}
    for timer in new_timers:
        latest[(timer.onboarding_id, timer.key)] = timer
    if not latest:
        return
    conn.execute(
        _UPSERT,
        [
            {
                "onboarding_id": timer.onboarding_id,
                "key": timer.key,
                "fire_at": timer.fire_at,
                "rule": timer.rule,
                "data": to_jsonable_python(timer.data),  # as model_dump(mode="json") has it, for one field
                "updated_at": now,
            }
            for timer in latest.values()
        ],
    )


def cancel(conn: Connection, onboarding_id: str, keys: Iterable[str], now: datetime) -> int:
    """Cancel pending (or claimed, not yet fired) timers; returns how many were cancelled."""
    wanted = list(keys)
    if not wanted:
        return 0
    return conn.execute(
        update(timers)
        .where(
            tc.onboarding_id == onboarding_id,
            tc.key.in_(wanted),
            tc.status.in_(("pending", "claimed")),
        )
        .values(status="cancelled", claimed_by=None, lease_until=None, updated_at=now)
    ).rowcount


def claim_due(
    conn: Connection, now: datetime, limit: int, worker: str, lease: timedelta
) -> list[Any]:
    """Claim timers whose time has come (and ones whose claimer died), earliest first: their
    rows, for ``due`` to read once the claim is committed (not while it holds the write lock)."""
    claim = claimed(worker, now + lease, updated_at=now)
    taken = claim_rows(conn, timers, pending=waiting(timers, tc.fire_at <= now), expired=lease_expired(timers, now),
                       order_by=[tc.fire_at, tc.id], limit=limit, values=claim)
    return taken.rows


def due(row: Any) -> DueTimer:
    """A claimed timer row as the tick reads it."""
    timer = Timer.model_validate(row, from_attributes=True)  # its fields are the columns
    return DueTimer(id=row.id, timer=timer, lease_until=row.lease_until, claimed_by=row.claimed_by)


def mark_fired(conn: Connection, timer: DueTimer | int, now: datetime) -> str:
    """The claimed timer's decision is being committed; ClaimLost if it was cancelled or taken.

    Given the ``DueTimer`` of a claim, only that claim may mark it (same worker, same lease):
    a worker whose lease ran out and whose timer was claimed again cannot fire it too.
    Returns the timer's key (for the audit).
    """
    timer_id = timer.id if isinstance(timer, DueTimer) else timer
    query = update(timers).where(tc.id == timer_id, tc.status == "claimed")
    if isinstance(timer, DueTimer) and timer.claimed_by is not None:
        query = query.where(tc.claimed_by == timer.claimed_by, tc.lease_until == timer.lease_until)
    key = conn.execute(
        query.values(status="fired", claimed_by=None, lease_until=None, updated_at=now).returning(tc.key)
    ).scalar_one_or_none()
    if key is None:
        status = conn.execute(select(tc.status).where(tc.id == timer_id)).scalar_one_or_none()
        raise ClaimLost(f"timer {timer_id} is {status or 'gone'}, not claimed by this claim: it cannot fire now")
    return str(key)


def prepare_marks(dialect: Dialect, claimed_timers: Sequence[DueTimer], now: datetime,
                  errors: Sequence[str] | None = None) -> Prepared:
    """What ``mark_all`` writes for a claim's timers (with each one's error when they failed),
    made before its transaction."""
    rows = [(t.id, t.claimed_by, t.lease_until, now) for t in claimed_timers]
    columns: tuple[str, ...] = ("id", "claimed_by", "lease_until", "updated_at")
    if errors is not None:  # a claimed timer has no error (setting or retrying it cleared it): only a failure writes one
        rows = [(*row, error) for row, error in zip(rows, errors, strict=True)]
        columns = (*columns, "error")
    return prepare(dialect, timers, columns, rows)


def mark_all(conn: Connection, marks: Prepared, status: Literal["fired", "failed"]) -> None:
    """``mark_fired`` for a whole claim in one statement (``prepare_marks``), or "failed" with
    each one's error (their decision could not be made: they wait for ``retry_failed``);
    ClaimLost (nothing kept, the caller's transaction rolls back) if any of them is no longer
    held by its claim."""
    if not marks.count:
        return
    set_ = ("updated_at", "error") if "error" in marks.columns else ("updated_at",)
    done = update_many(conn, marks, set_=set_, where=("id", "claimed_by", "lease_until"),
                       fixed=f"status = '{status}', claimed_by = NULL, lease_until = NULL", also="status = 'claimed'")
    if done != marks.count:
        raise ClaimLost(f"{marks.count - done} of {marks.count} timers are no longer this claim's")


_CANCEL = (
    update(timers)
    .where(
        tc.onboarding_id == bindparam("oid"),
        tc.key == bindparam("timer_key"),
        tc.status.in_(("pending", "claimed")),
    )
    .values(status="cancelled", claimed_by=None, lease_until=None, updated_at=bindparam("now"))
)


def cancel_many(conn: Connection, wanted: Sequence[tuple[str, str]], now: datetime) -> None:
    """``cancel`` of (onboarding, key) pairs of several onboardings, in one statement."""
    if wanted:
        conn.execute(_CANCEL, [{"oid": oid, "timer_key": key, "now": now} for oid, key in wanted])


def retry_failed(conn: Connection, now: datetime, onboarding_ids: Sequence[str] | None = None) -> int:
    """Failed timers (of ``onboarding_ids``, or all) pending again at their own moment, so
    the next tick fires them as they were set (once the playbook that failed is fixed);
    returns how many."""
    query = update(timers).where(tc.status == "failed")
    if onboarding_ids is not None:
        query = query.where(tc.onboarding_id.in_(list(onboarding_ids)))
    return conn.execute(query.values(status="pending", error=None, updated_at=now)).rowcount


def failed(conn: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The failed timers, latest first: onboarding, key, rule, when it was due, when it
    failed, and why."""
    query = (select(tc.onboarding_id, tc.key, tc.rule, tc.fire_at, tc.updated_at, tc.error)
             .where(tc.status == "failed").order_by(tc.updated_at.desc(), tc.id.desc()).limit(limit))
    return [dict(row) for row in conn.execute(query).mappings()]


def get(conn: Connection, onboarding_id: str, key: str) -> dict[str, Any] | None:
    """One timer as a dict, for inspection and tests."""
    row = (
        conn.execute(select(timers).where(tc.onboarding_id == onboarding_id, tc.key == key))
        .mappings()
        .first()
    )
    return dict(row) if row else None
