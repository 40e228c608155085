"""Onboarding state with optimistic concurrency: a commit must be based on the latest version.

``Onboarding.version`` is the version the decision was made on (0 for a new onboarding);
the ledger stores version + 1. If someone committed in between, the write matches no row
(or the insert clashes) and ``StateConflict`` is raised, rolling back the whole decision.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

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


def save(conn: Connection, state: Onboarding, now: datetime) -> int:
    """Write ``state`` if the stored version is still ``state.version``; return the new version."""
    new_version = state.version + 1
    data = state.model_dump(mode="json") | {"version": new_version}
    values = {
        "tenant": state.tenant,
        "playbook": state.playbook,
        "stage": state.stage,
        "state": data,
        "version": new_version,
        "updated_at": now,
    }
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
