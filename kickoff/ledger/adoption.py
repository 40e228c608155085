"""Entering an onboarding that was already running in a tool (``kickoff adopt --apply``).

One transaction per onboarding: its state (a new onboarding: it must not exist yet), the
steps of its past in the outbox as done (never sent: ``result`` says they were adopted), its
pending timers, the crosswalk links of its record, and the audit lines that say so. An
onboarding the ledger already holds is left as it is: adopting twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select, update

from kickoff.ledger import audit, crosswalk, outbox, state, timers
from kickoff.ledger.schema import onboardings
from kickoff.ledger.schema import outbox as outbox_table
from kickoff.model import Action, Onboarding, Timer

ADOPTED = {"adopted": True, "note": "a step of the past, taken as done when the onboarding was adopted"}


def adopt(conn: Connection, onboarding: Onboarding, done: Sequence[Action], pending: Sequence[Timer],
          links: Sequence[tuple[str, str, str, str]], lines: Sequence[str], now: datetime) -> bool:
    """Enter ``onboarding`` as described; False (nothing written) if the ledger holds it already.
    ``links``: (canonical id, tool, external id, object kind) rows for the crosswalk."""
    if conn.execute(select(onboardings.c.id).where(onboardings.c.id == onboarding.id)).first() is not None:
        return False
    state.save(conn, onboarding.model_copy(update={"version": 0}), now)
    outbox.enqueue_many(conn, list(done), now)
    keys = [action.idempotency_key for action in done]
    made = {canonical: external for canonical, _, external, _ in links}
    ob = outbox_table.c
    for key in keys:
        conn.execute(update(outbox_table).where(ob.idempotency_key == key, ob.status == "pending")
                     .values(status="done", result=ADOPTED, external_id=made.get(key), updated_at=now))
    timers.set_timers(conn, pending, now)
    for canonical, tool, external, kind in links:
        crosswalk.link(conn, canonical, tool, external, kind, now)
    audit.write(conn, onboarding.id, lines, now)
    return True
