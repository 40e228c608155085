"""Where a ledger test's database lives: SQLite always, PostgreSQL when KICKOFF_TEST_DATABASE_URL is set.

Plain code (no fixtures) so tests and spawned worker processes can import it by name.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from kickoff.ledger import Ledger

PG_URL_ENV = "KICKOFF_TEST_DATABASE_URL"


@dataclass(frozen=True)
class LedgerBackend:
    """Where a test's ledger lives; ``open()`` may be called again (reopen, other workers)."""

    name: str
    url: str
    schema: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.name == "postgres"

    def open(self, **kwargs: Any) -> Ledger:
        kwargs.setdefault("max_attempts", 8)
        return Ledger.open(self.url, schema=self.schema, **kwargs)


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "postgres",
        id="postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(not os.environ.get(PG_URL_ENV), reason=f"{PG_URL_ENV} is not set"),
        ],
    ),
]


def sqlite_backend(folder: Path) -> LedgerBackend:
    """A ledger file in ``folder`` (a test's tmp_path: fresh every test)."""
    return LedgerBackend("sqlite", f"sqlite:///{folder / 'ledger.sqlite3'}")


def new_pg_backend(url: str) -> LedgerBackend:
    """A PostgreSQL ledger in a schema of its own (created by the first ``open``)."""
    return LedgerBackend("postgres", url, f"kt_{uuid.uuid4().hex[:16]}")


def drop_pg_backend(backend: LedgerBackend) -> None:
    admin = create_engine(backend.url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{backend.schema}" CASCADE'))
    finally:
        admin.dispose()
