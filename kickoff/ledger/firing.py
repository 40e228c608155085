"""Committing a tick's claim of due timers together: every firing's decision in one
transaction, written with a few bulk statements rather than about nine per timer.

What is written is what ``commit_decision(timer=...)`` writes for each firing (timer fired
by its claim only, timers cancelled then set, state version-checked, actions by idempotency
key, audit lines); a firing that decided nothing only marks its timer fired. Two firings of one onboarding in a claim are
written in rounds (every onboarding's first firing, then the second ones...), so the second
is checked against the version the first leaves, as if committed one after the other.
Any lost claim or stale state raises and the whole transaction rolls back; the ledger then
commits the firings one by one so only the failing one is left out (``Ledger.commit_firings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from kickoff.ledger import outbox, state, timers
from kickoff.ledger.audit import rule_of
from kickoff.ledger.records import Firing
from kickoff.ledger.schema import audit


def commit_firings(conn: Connection, firings: Sequence[Firing], now: datetime) -> None:
    """Write every firing on ``conn`` (one transaction), round by round."""
    for batch in _rounds(firings):
        _commit_round(conn, batch, now)


def _rounds(firings: Sequence[Firing]) -> list[list[Firing]]:
    """Firings split so that no onboarding appears twice in a round, order kept per onboarding."""
    rounds: list[list[Firing]] = []
    seen: dict[str, int] = {}
    for firing in firings:
        n = seen.get(firing.timer.onboarding_id, 0)
        seen[firing.timer.onboarding_id] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(firing)
    return rounds


def _commit_round(conn: Connection, batch: Sequence[Firing], now: datetime) -> None:
    timers.mark_all_fired(conn, [f.timer for f in batch], now)
    decided = [f for f in batch if f.decision is not None]
    if not decided:
        return
    cancels: list[tuple[str, str]] = []
    new_timers = []
    actions = []
    lines: list[dict[str, Any]] = []
    for firing in decided:
        decision = firing.decision
        assert decision is not None
        oid = decision.state.id
        cancels.extend((oid, key) for key in decision.cancel_timers)
        new_timers.extend(decision.set_timers)
        actions.extend(decision.actions)
        lines.extend(
            {"at": now, "onboarding_id": oid, "event_id": firing.event_id, "timer_key": firing.timer.key,
             "rule": rule_of(line), "line": line}
            for line in decision.audit
        )
    timers.cancel_many(conn, cancels, now)
    timers.set_timers(conn, new_timers, now)
    states = [f.decision.state for f in decided if f.decision is not None]
    fresh = [s for s in states if s.version == 0]
    for one in fresh:  # a timer that started an onboarding: insert-if-absent, one at a time
        state.save(conn, one, now)
    state.save_many(conn, [s for s in states if s.version != 0], now)
    outbox.enqueue_all(conn, actions, now)
    if lines:
        conn.execute(insert(audit), lines)
