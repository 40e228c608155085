"""Many rows written (inserted or updated) through the driver's own executemany (or COPY), each value converted by
its column's type exactly as SQLAlchemy converts it (UTC text on SQLite, JSON, JSONB...).

For the tick's claim, where SQLAlchemy's per-row parameter handling (about 22 rows per timer:
audit lines, timers, actions) cost more than the database itself. The statements are plain
SQL written with ``?`` for each value, the same text on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError


def execute_many(conn: Connection, sql: str, table: Table, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql`` for every row of values: ``INSERT INTO t (...) VALUES (<row>) [ON CONFLICT ...]``
    with one ``?`` per column of ``columns`` in ``<row>``, in order.

    SQLite: the driver's executemany (its loop is in C). PostgreSQL: one statement whose
    rows come from one array per column (``unnest``).
    """
    if not rows:
        return
    dialect = conn.dialect
    by_column = _by_column(conn, table, columns, rows)
    if dialect.paramstyle == "qmark":
        conn.exec_driver_sql(sql, list(zip(*by_column, strict=True)))
        return
    # PostgreSQL: one array per column, unnested into rows: a handful of parameters whatever
    # the row count (psycopg's executemany and many-row VALUES both spend per row in Python).
    head, rest = sql.split(" VALUES ", 1)
    one_row, tail = _one_row(rest)
    names = iter(f"u.c{i}" for i in range(len(columns)))
    selected = re.sub(r"\?", lambda _: next(names), one_row[1:-1])
    arrays = ", ".join(f"%b::{table.c[name].type.compile(dialect=dialect)}[]" for name in columns)
    unnamed = ", ".join(f"c{i}" for i in range(len(columns)))
    statement = f"{head} SELECT {selected} FROM unnest({arrays}) AS u({unnamed}) {tail}"
    # %b: arrays sent in binary (in text, psycopg escapes every element in Python)
    conn.exec_driver_sql(statement, tuple(by_column))


def append_many(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows added to a table that only grows (no conflict to settle: the audit), one value per
    name of ``columns``. SQLite: the driver's executemany of one INSERT. PostgreSQL: COPY, which
    takes the rows as one stream (a third less time than ``INSERT ... unnest`` for a claim's
    audit lines, a dozen per timer)."""
    if not rows:
        return
    names = ", ".join(f'"{name}"' for name in columns)
    if conn.dialect.paramstyle == "qmark":
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' for _ in columns)})"
        execute_many(conn, sql, table, columns, rows)
        return
    converted = zip(*_by_column(conn, table, columns, rows), strict=True)
    copy_rows(conn, f"COPY {table.name} ({names}) FROM STDIN", converted)


def copy_rows(conn: Connection, copy_sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL's ``COPY ... FROM STDIN`` fed ``rows`` through psycopg, on ``conn``'s own
    connection (so in its transaction). Out of SQLAlchemy's sight: no cursor events fire, and
    psycopg's errors are raised as SQLAlchemy's (a value too long is a ``DataError``), as for
    every other statement."""
    driver = conn.connection.driver_connection
    assert driver is not None
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi_error as exc:
        raise DBAPIError.instance(copy_sql, None, exc, dbapi_error, dialect=conn.dialect) from exc


def update_many(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                set_: Sequence[str], where: Sequence[str], fixed: str = "", also: str = "",
                aliases: Mapping[str, str] | None = None) -> int:
    """``UPDATE table SET <set_> [, fixed] WHERE <where> [AND also]`` for every row of values,
    one value per name of ``columns``; returns how many rows changed (the caller compares it
    with ``len(rows)`` for its version or claim check). A name is a column of ``table``, or
    an alias of one (``aliases``: ``{"old_version": "version"}`` matches the stored version
    while ``version`` sets the new one). ``fixed`` and ``also`` are constant SQL, the same
    for every row (``status = 'fired'``).

    SQLite: the driver's executemany. PostgreSQL: one ``UPDATE ... FROM unnest(...)``.
    """
    if not rows:
        return 0
    dialect = conn.dialect
    column_of = {name: (aliases or {}).get(name, name) for name in columns}
    by_column = _by_column(conn, table, [column_of[c] for c in columns], rows)
    position = {name: i for i, name in enumerate(columns)}
    name = table.name
    if dialect.paramstyle == "qmark":
        assignments = [f'"{column_of[c]}" = ?' for c in set_] + ([fixed] if fixed else [])
        tests = [f'"{column_of[c]}" = ?' for c in where] + ([also] if also else [])
        sql = f"UPDATE {name} SET {', '.join(assignments)} WHERE {' AND '.join(tests)}"
        order = [position[c] for c in (*set_, *where)]
        params = [tuple(row[i] for i in order) for row in zip(*by_column, strict=True)]
        return conn.exec_driver_sql(sql, params).rowcount
    assignments = [f'"{column_of[c]}" = u.c{position[c]}' for c in set_] + ([fixed] if fixed else [])
    tests = [f'{name}."{column_of[c]}" = u.c{position[c]}' for c in where] + ([also] if also else [])
    arrays = ", ".join(f"%b::{table.c[column_of[c]].type.compile(dialect=dialect)}[]" for c in columns)
    unnamed = ", ".join(f"c{i}" for i in range(len(columns)))
    sql = (f"UPDATE {name} SET {', '.join(assignments)} FROM unnest({arrays}) AS u({unnamed}) "
           f"WHERE {' AND '.join(tests)}")
    return conn.exec_driver_sql(sql, tuple(by_column)).rowcount


def _by_column(conn: Connection, table: Table, columns: Sequence[str],
               rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows' values column by column, each converted as its column's type sends it."""
    dialect = conn.dialect
    convert: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    return [_converted(fn, list(column)) for fn, column in zip(convert, zip(*rows, strict=True), strict=True)]


def _converted(fn: Callable[[Any], Any] | None, values: list[Any]) -> list[Any]:
    """One column's values as its type sends them; a repeated value (a claim's ``now``, a
    due time) converted once."""
    if fn is None:
        return values
    seen: dict[Any, Any] = {}
    out = []
    for raw in values:
        if raw is None:
            out.append(None)
        elif isinstance(raw, (dict, list)):
            out.append(fn(raw))
        else:
            if raw not in seen:
                seen[raw] = fn(raw)
            out.append(seen[raw])
    return out


def _one_row(rest: str) -> tuple[str, str]:
    """``(<row>)`` and what follows it, from the text after VALUES."""
    depth = 0
    for i, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and char == ")":
            return rest[: i + 1], rest[i + 1:].strip()
    raise ValueError(f"no row of values in {rest!r}")
