"""The ledger: Kickoff's durable state on SQLite or PostgreSQL (SQLAlchemy 2 + Alembic).

One module per job: ``inbox``, ``outbox``, ``results``, ``timers``, ``crosswalk``,
``cursors``, ``state``, ``audit``, ``journal``, ``pauses``, ``commit``; ``claims`` holds
the claim every queue uses, ``engine`` the per-backend locking, ``migrate`` the schema.
``Ledger`` is the facade: each of its methods is one transaction.
"""

from kickoff.ledger.backoff import Backoff
from kickoff.ledger.errors import ClaimLost, CrosswalkConflict, LedgerError, NotFound, StateConflict
from kickoff.ledger.journal import fingerprint, write_fingerprint
from kickoff.ledger.ledger import Ledger
from kickoff.ledger.records import (
    CommitResult,
    DeadLetter,
    DueTimer,
    InboxItem,
    LedgerStatus,
    OutboxItem,
    PausedTool,
)

__all__ = [
    "Backoff",
    "ClaimLost",
    "CommitResult",
    "CrosswalkConflict",
    "DeadLetter",
    "DueTimer",
    "InboxItem",
    "Ledger",
    "LedgerError",
    "LedgerStatus",
    "NotFound",
    "OutboxItem",
    "PausedTool",
    "StateConflict",
    "fingerprint",
    "write_fingerprint",
]
