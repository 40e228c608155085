"""The ledger's tables as they are now (the migrations in ``kickoff/migrations`` are their history).

A test checks that migrating an empty database to head gives exactly these tables, so the
two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from kickoff.ledger.types import Id, JSONType, UTCDateTime

INBOX_STATUSES = ("pending", "claimed", "done", "ignored", "failed")
OUTBOX_STATUSES = ("pending", "claimed", "done", "dead")
TIMER_STATUSES = ("pending", "claimed", "fired", "cancelled", "failed")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def fits(column: Column[Any], value: str) -> bool:
    """Whether ``value`` fits the text ``column`` (PostgreSQL refuses a longer one; SQLite keeps it)."""
    length = getattr(column.type, "length", None)
    return length is None or len(value) <= length


def _id() -> Column[int]:
    """The key of a table whose rows are added, never renamed: a number the database hands out."""
    return Column("id", Id, primary_key=True, autoincrement=True)


def _tool() -> Column[str]:
    """The tool a row is about."""
    return Column("tool", String(32), nullable=False)


def _status(statuses: tuple[str, ...]) -> tuple[Column[str], CheckConstraint]:
    """A queue row's status (inbox, outbox, timers): one of ``statuses``, pending at first."""
    return (
        Column("status", String(16), nullable=False, default="pending"),
        CheckConstraint(_one_of("status", statuses), name="status"),
    )


def _lease() -> list[Column[Any]]:
    """Who holds a claimed queue row, and until when (``kickoff.ledger.claims``)."""
    return [Column("claimed_by", String(255)), Column("lease_until", UTCDateTime)]


inbox = Table(
    "inbox",
    metadata,
    _id(),
    _tool(),
    Column("dedup_key", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("record_id", String(255)),
    Column("echo", Boolean, nullable=False, default=False),
    Column("payload", JSONType),
    Column("received_at", UTCDateTime, nullable=False),
    Column("account", String(64)),  # a tenant's own account the delivery came from (None: shared)
    *_status(INBOX_STATUSES),
    Column("attempts", Integer, nullable=False, default=0),
    *_lease(),
    Column("error", Text),
    Column("finished_at", UTCDateTime),
    Column("onboarding_id", String(255)),  # the onboarding its events named, set when processed
    UniqueConstraint("tool", "dedup_key"),
    CheckConstraint(_one_of("kind", ("webhook", "poll")), name="kind"),
    Index(None, "status", "id"),  # a claim's order (kickoff.ledger.claims)
    Index(None, "onboarding_id"),
)

outbox = Table(
    "outbox",
    metadata,
    _id(),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    _tool(),
    Column("kind", String(32), nullable=False),
    Column("rule", String(8), nullable=False),
    Column("onboarding_id", String(255), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    *_status(OUTBOX_STATUSES),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("result", JSONType),
    Column("external_id", String(255)),
    *_lease(),
    Column("caused_by_event", String(255)),
    Column("caused_by_timer", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # the action whose creation this one last waited for (kickoff.ledger.results): its
    # death ends this row too, and replaying it replays this row
    Column("blocked_by", String(64)),
    Index(None, "tool", "status", "next_try_at", "id"),  # a claim's order (kickoff.ledger.claims)
    Index(None, "onboarding_id"),
)

timers = Table(
    "timers",
    metadata,
    _id(),
    Column("onboarding_id", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fire_at", UTCDateTime, nullable=False),
    Column("rule", String(8), nullable=False),
    Column("data", JSONType, nullable=False),
    *_status(TIMER_STATUSES),
    *_lease(),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("error", Text),  # why a failed timer's decision could not be made
    UniqueConstraint("onboarding_id", "key"),
    Index(None, "status", "fire_at", "id"),  # a claim's order (kickoff.ledger.claims)
)

crosswalk = Table(
    "crosswalk",
    metadata,
    _id(),
    Column("canonical_id", String(255), nullable=False),
    _tool(),
    Column("object_kind", String(64), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("linked_at", UTCDateTime, nullable=False),
    UniqueConstraint("canonical_id", "tool", "object_kind"),
    UniqueConstraint("tool", "object_kind", "external_id"),
    Index(None, "tool", "external_id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("tool", String(32), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

onboardings = Table(
    "onboardings",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("playbook", String(64), nullable=False),
    Column("stage", String(64), nullable=False),
    Column("state", JSONType, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(None, "tenant", "stage"),
)

audit = Table(
    "audit",
    metadata,
    _id(),
    Column("at", UTCDateTime, nullable=False),
    Column("onboarding_id", String(255), nullable=False),
    Column("event_id", String(255)),
    Column("timer_key", String(255)),
    Column("rule", String(8)),
    Column("line", Text, nullable=False),
    Index(None, "onboarding_id", "at"),
)

writes = Table(
    "writes",
    metadata,
    _id(),
    _tool(),
    Column("record_id", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("outbox_id", Id),
    Index(None, "tool", "record_id", "fingerprint", "at"),
)

paused_tools = Table(
    "paused_tools",
    metadata,
    Column("tool", String(32), primary_key=True),
    Column("since", UTCDateTime, nullable=False),
    Column("reason", Text),
)

budgets = Table(  # daily allowances shared by every worker (``kickoff.ledger.budgets``)
    "budgets",
    metadata,
    Column("tool", String(32), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("used", Integer, nullable=False),
    Column("allowed", Integer, nullable=False),
    Column("resets_at", UTCDateTime),  # NULL: not known (a rolling allowance)
    Column("updated_at", UTCDateTime, nullable=False),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    _id(),
    _tool(),
    Column("name", String(64), nullable=False),
    Column("secret", Text),  # sealed (kickoff.ledger.sealing); NULL: none kept
    Column("armed_until", UTCDateTime),  # a handshake is accepted until then; NULL: none
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tool", "name"),
)
