"""Opening the ledger's database (a SQLAlchemy ``Engine``), with the locking each backend needs.

SQLite: a file in WAL mode; every write transaction starts with ``BEGIN IMMEDIATE`` so
writers queue up (with a busy timeout) instead of failing half-way, which is what makes
claims safe between threads and processes. PostgreSQL (``postgresql+psycopg://``): rows
are claimed with ``FOR UPDATE SKIP LOCKED``; an optional schema is put on the search_path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic_core import from_json, to_json
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_S = 30.0
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: execution option: this transaction only reads (SQLite then uses a deferred BEGIN)
READ_ONLY = "kickoff_read_only"


def to_json_text(value: Any) -> str:
    """JSON columns written by pydantic's Rust encoder: a tick writes a state, payloads and
    timer data per firing, and the standard library's encoder was a tenth of its commit."""
    return to_json(value).decode()


#: the engine's JSON codecs (``create_engine``'s ``json_serializer`` / ``json_deserializer``)
JSON_CODECS: dict[str, Any] = {"json_serializer": to_json_text, "json_deserializer": from_json}


def open_database(url: str, *, schema: str | None = None, echo: bool = False) -> Engine:
    """An engine for ``url``; ``schema`` (PostgreSQL only) keeps Kickoff's tables apart."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if schema:
            raise ValueError("a schema can only be given for PostgreSQL")
        return _sqlite_engine(url, echo=echo)
    if backend == "postgresql":
        connect_args: dict[str, Any] = {}
        if schema:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"not a plain schema name: {schema!r}")
            connect_args["options"] = f"-c search_path={schema}"
        return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args, **JSON_CODECS)
    raise ValueError(f"the ledger runs on SQLite or PostgreSQL, not {backend!r}")


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    parsed = make_url(url)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S},
        **JSON_CODECS,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def is_postgres(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def insert_for(conn: Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ``ON CONFLICT`` on this backend (both have it, spelled alike)."""
    if is_postgres(conn):
        return postgresql.insert(table)
    return sqlite.insert(table)
