"""The ledger's tables as they are now (the migrations in ``kickoff/migrations`` are their history).

A test checks that migrating an empty database to head gives exactly these tables, so the
two cannot drift apart.
"""

from __future__ import annotations

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
TIMER_STATUSES = ("pending", "claimed", "fired", "cancelled")

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


inbox = Table(
    "inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tool", String(32), nullable=False),
    Column("dedup_key", String(255), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("record_id", String(255)),
    Column("echo", Boolean, nullable=False, default=False),
    Column("payload", JSONType),
    Column("received_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_by", String(255)),
    Column("lease_until", UTCDateTime),
    Column("error", Text),
    Column("finished_at", UTCDateTime),
    UniqueConstraint("tool", "dedup_key"),
    CheckConstraint(_one_of("status", INBOX_STATUSES), name="status"),
    CheckConstraint(_one_of("kind", ("webhook", "poll")), name="kind"),
    Index(None, "status", "lease_until"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("idempotency_key", String(64), nullable=False, unique=True),
    Column("tool", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("rule", String(8), nullable=False),
    Column("onboarding_id", String(255), nullable=False),
    Column("payload", JSONType, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_try_at", UTCDateTime, nullable=False),
    Column("last_error", Text),
    Column("result", JSONType),
    Column("external_id", String(255)),
    Column("claimed_by", String(255)),
    Column("lease_until", UTCDateTime),
    Column("caused_by_event", String(255)),
    Column("caused_by_timer", String(255)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint(_one_of("status", OUTBOX_STATUSES), name="status"),
    Index(None, "tool", "status", "next_try_at"),
    Index(None, "onboarding_id"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("onboarding_id", String(255), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fire_at", UTCDateTime, nullable=False),
    Column("rule", String(8), nullable=False),
    Column("data", JSONType, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("claimed_by", String(255)),
    Column("lease_until", UTCDateTime),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("onboarding_id", "key"),
    CheckConstraint(_one_of("status", TIMER_STATUSES), name="status"),
    Index(None, "status", "fire_at"),
)

crosswalk = Table(
    "crosswalk",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("canonical_id", String(255), nullable=False),
    Column("tool", String(32), nullable=False),
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
    Column("id", Id, primary_key=True, autoincrement=True),
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
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tool", String(32), nullable=False),
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

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("tool", String(32), nullable=False),
    Column("name", String(64), nullable=False),
    Column("secret", Text),  # sealed (kickoff.ledger.sealing); NULL: none kept
    Column("armed_until", UTCDateTime),  # a handshake is accepted until then; NULL: none
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tool", "name"),
)
