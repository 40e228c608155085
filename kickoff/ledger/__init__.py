"""The ledger: Kickoff's durable state on SQLite or PostgreSQL (SQLAlchemy 2 + Alembic).

One module per job: ``inbox``, ``outbox``, ``results``, ``timers``, ``crosswalk``,
``cursors``, ``state``, ``audit``, ``journal``, ``pauses``, ``commit``, ``budgets``, ``firing`` (a tick's claim at once), ``webhook_secrets``
(sealed by ``sealing``); ``claims`` holds the claim every queue uses, ``database`` the
per-backend locking, ``migrate`` the schema.
``Ledger`` is the facade: each of its methods is one transaction. Its reschedule delay is
``kickoff.retry.Backoff`` (the one retry module). The records the facade hands out are in
``records``; this package exports what its callers build or catch.
"""

from kickoff.ledger.commit import state_after
from kickoff.ledger.errors import ClaimLost, CrosswalkConflict, LedgerError, NotFound, StateConflict
from kickoff.ledger.journal import write_fingerprint
from kickoff.ledger.ledger import Ledger
from kickoff.ledger.records import Budget, Decided, Firing, SourceLink
from kickoff.ledger.sealing import SecretKeyError

__all__ = [
    "Budget",
    "ClaimLost",
    "CrosswalkConflict",
    "Decided",
    "Firing",
    "Ledger",
    "LedgerError",
    "NotFound",
    "SecretKeyError",
    "SourceLink",
    "StateConflict",
    "state_after",
    "write_fingerprint",
]
