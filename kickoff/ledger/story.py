"""One customer's story, read from the ledger (read-only): what ops need to answer "why did
this customer not get that?" without reading tables by hand (``kickoff onboarding show``).

An onboarding is found by its id or by the customer's name, ignoring case and accents. Its
story is its state, its decisions (the audit, each line with its rule), its actions (tool,
result, the tool's id, the last reason), its timers, and every inbox row about it: those
linked to it when processed, and those naming one of its records in a tool (the crosswalk),
so a fact that failed before it could be tied to the onboarding is still listed.

"Stuck" (``kickoff onboarding list --stuck``) means one of: an action is a dead letter; a
timer or an action is overdue by more than ``OVERDUE``; a fact about it or a timer of it
failed (kept until ``kickoff ledger retry-timers``); or, none of
these, it is active with nothing pending (no timer, no action) and nothing decided for
``idle`` (no progress: only a fact from outside can move it, and none came).
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from kickoff.ledger import audit as audit_log
from kickoff.ledger.schema import audit, crosswalk, inbox, onboardings, outbox, timers
from kickoff.model import Onboarding, split_cycle_id

OVERDUE = timedelta(minutes=15)
"""A timer or action this late was missed (the tick and push sweeps run every minute)."""
DEFAULT_IDLE = timedelta(days=7)
PENDING_TIMER = ("pending", "claimed")
PENDING_ACTION = ("pending", "claimed")
STUCK = ("dead actions", "overdue timers", "overdue actions", "failed facts", "failed timers")
"""What makes an onboarding stuck, as ``summaries`` counts it."""


def fold(text: str) -> str:
    """``text`` for matching: accents dropped, case folded, spaces collapsed."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


@dataclass(frozen=True)
class Found:
    """An onboarding matching a search: enough to tell candidates apart."""

    id: str
    tenant: str
    name: str | None
    stage: str


@dataclass(frozen=True)
class Story:
    """Everything the ledger knows about one onboarding (rows as dicts, times aware UTC)."""

    onboarding: Onboarding
    updated_at: datetime
    decisions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    timers: list[dict[str, Any]]
    inbox: list[dict[str, Any]]

    @property
    def pending_timers(self) -> list[dict[str, Any]]:
        return [t for t in self.timers if t["status"] in PENDING_TIMER]


@dataclass
class Summary:
    """One line of ``kickoff onboarding list``: the onboarding and why it is stuck, if it is."""

    id: str
    tenant: str
    name: str | None
    stage: str
    status: str
    updated_at: datetime
    counts: Counter[str] = field(default_factory=Counter)
    stuck: list[str] = field(default_factory=list)


_NAME = onboardings.c.state["account_name"].as_string()


def find(conn: Connection, text: str) -> list[Found]:
    """The onboarding whose id is ``text``; else those whose name or id equals it once folded;
    else those whose name or id contains it. Several: the caller says it is ambiguous."""
    oc = onboardings.c
    exact = conn.execute(select(oc.id, oc.tenant, _NAME, oc.stage).where(oc.id == text)).all()
    if exact:
        return [Found(*exact[0])]
    wanted = fold(text)
    rows = [Found(*r) for r in conn.execute(select(oc.id, oc.tenant, _NAME, oc.stage).order_by(oc.id))]
    keys = {r.id: (fold(r.name or ""), fold(r.id)) for r in rows}
    same = [r for r in rows if wanted in keys[r.id]]
    return same or [r for r in rows if any(wanted and wanted in key for key in keys[r.id])]


def _records(conn: Connection, onboarding_id: str, action_keys: list[str]) -> list[tuple[str, str]]:
    """(tool, id) of every record in a tool that is this onboarding's (any cycle's, or one its
    actions created)."""
    cw = crosswalk.c
    mine = or_(cw.canonical_id == onboarding_id, cw.canonical_id.like(f"{onboarding_id}#%"),
               cw.canonical_id.in_(action_keys))
    rows = conn.execute(select(cw.canonical_id, cw.tool, cw.external_id).where(mine))
    return [(r.tool, r.external_id) for r in rows
            if r.canonical_id in action_keys or split_cycle_id(r.canonical_id)[0] == onboarding_id]


def _inbox_rows(conn: Connection, onboarding_id: str, records: list[tuple[str, str]]) -> list[dict[str, Any]]:
    ic = inbox.c
    about = [ic.onboarding_id == onboarding_id]
    about += [and_(ic.onboarding_id.is_(None), ic.tool == tool, ic.record_id == rid) for tool, rid in records]
    query = select(inbox).where(or_(*about)).order_by(ic.received_at, ic.id)
    return [dict(r) for r in conn.execute(query).mappings()]


def story(conn: Connection, onboarding_id: str) -> Story | None:
    """The onboarding's whole story, or None if the ledger has no such onboarding."""
    oc = onboardings.c
    row = conn.execute(select(oc.state, oc.version, oc.updated_at).where(oc.id == onboarding_id)).first()
    if row is None:
        return None
    state = Onboarding.model_validate({**row.state, "version": row.version})
    decisions = audit_log.lines_of(dict(r) for r in conn.execute(
        select(audit).where(audit.c.onboarding_id == onboarding_id).order_by(audit.c.at, audit.c.id)).mappings())
    actions = [dict(r) for r in conn.execute(
        select(outbox).where(outbox.c.onboarding_id == onboarding_id)
        .order_by(outbox.c.due_at, outbox.c.id)).mappings()]
    timer_rows = [dict(r) for r in conn.execute(
        select(timers).where(timers.c.onboarding_id == onboarding_id)
        .order_by(timers.c.fire_at, timers.c.id)).mappings()]
    records = _records(conn, onboarding_id, [a["idempotency_key"] for a in actions])
    return Story(state, row.updated_at, decisions, actions, timer_rows,
                 _inbox_rows(conn, onboarding_id, records))


def _per_onboarding(conn: Connection, table: Any, *where: Any) -> Counter[str]:
    query = select(table.c.onboarding_id, func.count()).where(*where).group_by(table.c.onboarding_id)
    return Counter({r[0]: int(r[1]) for r in conn.execute(query)})


def summaries(conn: Connection, now: datetime, *, tenant: str | None = None, stage: str | None = None,
              idle: timedelta = DEFAULT_IDLE) -> list[Summary]:
    """Every onboarding (of ``tenant``, in ``stage``), with what it waits on and why it is
    stuck (the module's definition), most recently changed first."""
    oc = onboardings.c
    query = select(oc.id, oc.tenant, _NAME, oc.stage, oc.state["status"].as_string(), oc.updated_at)
    if tenant is not None:
        query = query.where(oc.tenant == tenant)
    if stage is not None:
        query = query.where(oc.stage == stage)
    late = now - OVERDUE
    counts = {
        "dead actions": _per_onboarding(conn, outbox, outbox.c.status == "dead"),
        "pending actions": _per_onboarding(conn, outbox, outbox.c.status.in_(PENDING_ACTION)),
        "overdue actions": _per_onboarding(conn, outbox, outbox.c.status.in_(PENDING_ACTION),
                                           outbox.c.next_try_at <= late),
        "pending timers": _per_onboarding(conn, timers, timers.c.status.in_(PENDING_TIMER)),
        "overdue timers": _per_onboarding(conn, timers, timers.c.status.in_(PENDING_TIMER),
                                          timers.c.fire_at <= late),
        "failed facts": _per_onboarding(conn, inbox, inbox.c.status == "failed"),
        "failed timers": _per_onboarding(conn, timers, timers.c.status == "failed"),
    }
    found = []
    for r in conn.execute(query.order_by(oc.updated_at.desc(), oc.id)):
        one = Summary(r[0], r[1], r[2], r[3], r[4] or "active", r[5],
                      Counter({k: c[r[0]] for k, c in counts.items() if c[r[0]]}))
        one.stuck = [f"{n} {k}" for k in STUCK if (n := one.counts[k])]
        waiting = one.counts["pending actions"] + one.counts["pending timers"]
        if not one.stuck and one.status == "active" and not waiting and one.updated_at <= now - idle:
            one.stuck.append(f"no progress for {(now - one.updated_at).days} days, nothing pending")
        found.append(one)
    return found
