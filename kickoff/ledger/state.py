"""Onboarding state with optimistic concurrency: a commit must be based on the latest version.

``Onboarding.version`` is the version the decision was made on (0 for a new onboarding);
the ledger stores version + 1. If someone committed in between, the write matches no row
(or the insert clashes) and ``StateConflict`` is raised, rolling back the whole decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Dialect, select, update

from kickoff.ledger.bulk import Prepared, prepare, update_many
from kickoff.ledger.database import insert_for
from kickoff.ledger.errors import StateConflict
from kickoff.ledger.schema import onboardings
from kickoff.model import Onboarding

oc = onboardings.c


def load(conn: Connection, onboarding_id: str) -> Onboarding | None:
    row = conn.execute(select(oc.state, oc.version).where(oc.id == onboarding_id)).first()
    if row is None:
        return None
    return Onboarding.model_validate({**row.state, "version": row.version})


def load_many(conn: Connection, onboarding_ids: Iterable[str]) -> dict[str, Onboarding]:
    """``load`` for many onboardings in one SELECT (the ones missing are left out)."""
    wanted = list(onboarding_ids)
    found: dict[str, Onboarding] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        query = select(oc.id, oc.state, oc.version).where(oc.id.in_(wanted[start:start + _IN_CHUNK]))
        for row in conn.execute(query):
            found[row.id] = Onboarding.model_validate({**row.state, "version": row.version})
    return found


_IN_CHUNK = 5000  # ids per IN (...): under SQLite's and PostgreSQL's bound-parameter limits


def _values(state: Onboarding, now: datetime) -> dict[str, Any]:
    new_version = state.version + 1
    return {
        "tenant": state.tenant,
        "playbook": state.playbook,
        "stage": state.stage,
        "state": state.model_dump(mode="json") | {"version": new_version},
        "version": new_version,
        "updated_at": now,
    }


_SAVE_COLUMNS = ("id", "old_version", "tenant", "playbook", "stage", "state", "version", "updated_at")
"""save_many's values per state: its id and the version it was decided on, then ``_values``."""


def prepare_saves(dialect: Dialect, states: Sequence[Onboarding], now: datetime) -> Prepared:
    """What ``save_many`` writes for ``states`` (distinct, existing onboardings), made before
    its transaction."""
    if any(s.version == 0 for s in states):
        raise ValueError("save_many updates existing onboardings; a new one is saved with save")
    rows = [(s.id, s.version, *_values(s, now).values()) for s in states]
    return prepare(dialect, onboardings, _SAVE_COLUMNS, rows, aliases={"old_version": "version"})


def save_many(conn: Connection, saves: Prepared, states: Sequence[Onboarding]) -> None:
    """``save`` for the ``states`` of ``prepare_saves`` in one statement; StateConflict (the
    caller's transaction rolls back) if any of them changed since it was read."""
    updated = update_many(conn, saves, set_=_SAVE_COLUMNS[2:], where=("id", "old_version"))
    if updated != len(states):
        stored = dict(conn.execute(select(oc.id, oc.version).where(oc.id.in_([s.id for s in states]))).tuples().all())
        stale = next((s for s in states if stored.get(s.id) != s.version + 1), states[0])
        raise StateConflict(stale.id, stale.version, stored.get(stale.id))


def save(conn: Connection, state: Onboarding, now: datetime) -> int:
    """Write ``state`` if the stored version is still ``state.version``; return the new version."""
    new_version = state.version + 1
    values = _values(state, now)
    if state.version == 0:
        inserted = conn.execute(
            insert_for(conn, onboardings)
            .values(id=state.id, **values)
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(oc.id)
        ).scalar_one_or_none()
        if inserted is None:
            raise StateConflict(state.id, 0, _version(conn, state.id))
        return new_version
    updated = conn.execute(
        update(onboardings).where(oc.id == state.id, oc.version == state.version).values(**values)
    ).rowcount
    if updated != 1:
        raise StateConflict(state.id, state.version, _version(conn, state.id))
    return new_version


def _version(conn: Connection, onboarding_id: str) -> int | None:
    return conn.execute(select(oc.version).where(oc.id == onboarding_id)).scalar_one_or_none()
