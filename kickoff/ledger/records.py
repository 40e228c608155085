"""Plain read-only records the ledger hands out, so callers never touch SQL rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kickoff.model import Action, Decision, Delivery, Timer


@dataclass(frozen=True)
class Budget:
    """A daily allowance as the vendor last reported it (``kickoff.ledger.budgets``)."""

    tool: str
    account: str
    used: int
    allowed: int
    resets_at: datetime | None  # None: a rolling allowance, re-checked (``RECHECK``)
    updated_at: datetime

    @property
    def left(self) -> int:
        return max(self.allowed - self.used, 0)

    def in_reserve(self, reserve: float) -> bool:
        """At most ``reserve`` (a share of the allowance) is left: only urgent pushes spend it."""
        return self.left <= self.allowed * reserve

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "account": self.account, "used": self.used, "allowed": self.allowed,
                "resets_at": self.resets_at.isoformat() if self.resets_at else None,
                "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True)
class InboxItem:
    """A claimed inbox row: the delivery plus how often it has been claimed."""

    id: int
    delivery: Delivery
    attempts: int
    lease_until: datetime


@dataclass(frozen=True)
class OutboxItem:
    """A claimed outbox row: the action to carry out, with its attempt count so far.

    ``reclaimed``: the row was taken over from a worker whose lease ran out (it died or hung
    mid-push), so the write may already be in the tool. ``claimed_by`` and ``lease_until``
    are the claim: pass the item to ``record_result(claim=...)`` so that only this claim,
    while the row still carries it, may record the tool's answer."""

    id: int
    action: Action
    attempts: int
    lease_until: datetime
    claimed_by: str
    reclaimed: bool = False


@dataclass(frozen=True)
class DueTimer:
    """A claimed timer; pass it to ``commit_decision(timer=...)`` to mark it fired.

    ``claimed_by`` and ``lease_until`` are the claim: only while the row still carries both
    may it be marked fired (a worker whose lease ran out and was taken over cannot)."""

    id: int
    timer: Timer
    lease_until: datetime
    claimed_by: str | None = None

    @property
    def key(self) -> str:
        return self.timer.key

    @property
    def onboarding_id(self) -> str:
        return self.timer.onboarding_id


@dataclass(frozen=True)
class DeadLetter:
    """An action that gave up: what it was, how often it was tried and why it failed."""

    id: int
    idempotency_key: str
    tool: str
    kind: str
    rule: str
    onboarding_id: str
    attempts: int
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class PausedTool:
    """A tool whose credentials were refused: its outbox waits until ``resume_tool``."""

    tool: str
    since: datetime
    reason: str | None


@dataclass(frozen=True)
class SourceLink:
    """The record a fact came from, to become the record in that tool of the onboarding's
    running cycle (``canonical_id`` is ``Onboarding.cycle_id``) when neither side is linked
    yet (the Zendesk alert ticket that opened a case)."""

    canonical_id: str
    tool: str
    external_id: str
    object_kind: str


@dataclass(frozen=True)
class Decided:
    """One event's decision within a delivery: what ``commit_delivery`` writes for it."""

    decision: Decision
    event_id: str | None = None
    source: SourceLink | None = None


@dataclass(frozen=True)
class Firing:
    """A claimed timer and what its ``timer.fired`` event decided (None: nothing to change):
    what ``Ledger.commit_firings`` writes for it. ``failure``: why it could not be decided;
    the timer is then kept as ``failed`` with that reason (its ``error``, and its onboarding's audit)."""

    timer: DueTimer
    decision: Decision | None
    event_id: str
    failure: str | None = None


@dataclass(frozen=True)
class CommitResult:
    """What ``commit_decision`` wrote: the new state version and which actions were new."""

    version: int
    outbox_ids: list[int] = field(default_factory=list)
    skipped_keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LedgerStatus:
    """Counts for ops: what is waiting, what is stuck."""

    pending_inbox: int
    failed_inbox: int
    pending_outbox: int
    dead_outbox: int
    due_timers: int
    paused_tools: list[str]
    failed_timers: int = 0
    """Timers whose decision failed, kept until ``kickoff ledger retry-timers``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "pending_inbox": self.pending_inbox,
            "failed_inbox": self.failed_inbox,
            "pending_outbox": self.pending_outbox,
            "dead_outbox": self.dead_outbox,
            "due_timers": self.due_timers,
            "failed_timers": self.failed_timers,
            "paused_tools": list(self.paused_tools),
        }
