"""The ledger: Kickoff's durable state on SQLite or PostgreSQL (SQLAlchemy 2 + Alembic).

One module per job: ``inbox``, ``outbox``, ``results``, ``timers``, ``crosswalk``,
``cursors``, ``state``, ``audit``, ``journal``, ``pauses``, ``commit``, ``webhook_secrets``
(sealed by ``sealing``); ``claims`` holds the claim every queue uses, ``database`` the
per-backend locking, ``migrate`` the schema.
``Ledger`` is the facade: each of its methods is one transaction. Its reschedule delay is
``kickoff.retry.Backoff`` (the one retry module).
"""

from kickoff.ledger.commit import state_after
from kickoff.ledger.errors import ClaimLost, CrosswalkConflict, LedgerError, NotFound, StateConflict
from kickoff.ledger.journal import fingerprint, write_fingerprint
from kickoff.ledger.ledger import Ledger
from kickoff.ledger.records import (
    CommitResult,
    DeadLetter,
    Decided,
    DueTimer,
    InboxItem,
    LedgerStatus,
    OutboxItem,
    PausedTool,
    SourceLink,
)
from kickoff.ledger.sealing import SecretKeyError

__all__ = [
    "ClaimLost",
    "CommitResult",
    "CrosswalkConflict",
    "DeadLetter",
    "Decided",
    "DueTimer",
    "InboxItem",
    "Ledger",
    "LedgerError",
    "LedgerStatus",
    "NotFound",
    "OutboxItem",
    "PausedTool",
    "SecretKeyError",
    "SourceLink",
    "StateConflict",
    "fingerprint",
    "state_after",
    "write_fingerprint",
]
