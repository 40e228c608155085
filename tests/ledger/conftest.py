"""Ledger backends for tests: SQLite always, PostgreSQL when KICKOFF_TEST_DATABASE_URL names one.

Each PostgreSQL test gets its own freshly created schema (``kt_<random>``, put on the
search_path by ``Ledger.open(schema=...)``) and drops it afterwards, so runs and parallel
sessions never see each other's rows. Nothing here depends on tests/conftest.py, so these
fixtures can move there unchanged (with ``ledger_backends.py`` beside them).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_backends import (
    BACKENDS,
    PG_URL_ENV,
    LedgerBackend,
    drop_pg_backend,
    new_pg_backend,
    sqlite_backend,
)

from kickoff.ledger import Ledger


@pytest.fixture
def pg_backend() -> Iterator[LedgerBackend]:
    """A PostgreSQL ledger in a schema of its own, dropped at the end."""
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set")
    backend = new_pg_backend(url)
    yield backend
    drop_pg_backend(backend)


@pytest.fixture(params=BACKENDS)
def ledger_backend(request: pytest.FixtureRequest, tmp_path: Path) -> LedgerBackend:
    """Each backend in turn: the test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_backend(tmp_path)
    return request.getfixturevalue("pg_backend")


@pytest.fixture
def ledger(ledger_backend: LedgerBackend) -> Iterator[Ledger]:
    """A migrated, empty ledger on each backend."""
    opened = ledger_backend.open()
    yield opened
    opened.close()
