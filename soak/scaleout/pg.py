"""Fresh PostgreSQL databases on the machine's server (127.0.0.1:5432, user postgres,
trust auth), created per soak and dropped at the end."""

from __future__ import annotations

import os
import secrets

import psycopg

ADMIN_DSN = os.environ.get("KICKOFF_SOAK_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
HOST = os.environ.get("KICKOFF_SOAK_PG_HOSTPORT", "postgres@127.0.0.1:5432")


def create_database(prefix: str, extensions: tuple[str, ...] = ()) -> str:
    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    if extensions:
        with psycopg.connect(dsn(name), autocommit=True) as conn:
            for ext in extensions:
                conn.execute(f"CREATE EXTENSION IF NOT EXISTS {ext}")
    return name


def dsn(name: str, driver: str = "") -> str:
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{HOST}/{name}"


def drop_database(name: str) -> None:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def leftover_databases(prefixes: tuple[str, ...] = ("kickoff_prefect_", "kickoff_ledger_")) -> list[str]:
    with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT datname FROM pg_database")]
    return [n for n in names if n.startswith(prefixes)]
