"""Many rows written (inserted or updated) through the driver's own executemany (or COPY), each value converted by
its column's type exactly as SQLAlchemy converts it (UTC text on SQLite, JSON, JSONB...).

For the tick's claim, where SQLAlchemy's per-row parameter handling (about 22 rows per timer:
audit lines, timers, actions) cost more than the database itself. The statements are plain
SQL written with ``?`` for each value, the same text on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.exc import DBAPIError


@dataclass(frozen=True)
class Prepared:
    """Rows' values column by column, each converted as its column's type sends it on one
    backend. Made before the transaction that writes them: on SQLite the write lock is then
    held for the statements alone, not for the JSON and times they carry (a claim's
    decisions are committed while another tick process decides its own)."""

    table: Table
    columns: tuple[str, ...]
    values: list[list[Any]]  # one list per column
    aliases: Mapping[str, str]
    count: int


def prepare(dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
            aliases: Mapping[str, str] | None = None) -> Prepared:
    """``rows`` (one value per name of ``columns``) converted for ``dialect``. A name is a
    column of ``table`` or an alias of one (``aliases``, for ``update_many``)."""
    aliases = dict(aliases or {})
    if not rows:
        return Prepared(table, tuple(columns), [[] for _ in columns], aliases, 0)
    convert: list[Callable[[Any], Any] | None] = [
        table.c[aliases.get(name, name)].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    values = [_converted(fn, list(column)) for fn, column in zip(convert, zip(*rows, strict=True), strict=True)]
    return Prepared(table, tuple(columns), values, aliases, len(rows))


def execute_many(conn: Connection, sql: str, rows: Prepared) -> None:
    """Run ``sql`` for every row of ``rows``: ``INSERT INTO t (...) VALUES (<row>) [ON CONFLICT ...]``
    with one ``?`` per column of ``rows`` in ``<row>``, in order.

    SQLite: the driver's executemany (its loop is in C). PostgreSQL: one statement whose
    rows come from one array per column (``unnest``).
    """
    if not rows.count:
        return
    dialect = conn.dialect
    if dialect.paramstyle == "qmark":
        conn.exec_driver_sql(sql, list(zip(*rows.values, strict=True)))
        return
    # PostgreSQL: one array per column, unnested into rows: a handful of parameters whatever
    # the row count (psycopg's executemany and many-row VALUES both spend per row in Python).
    head, rest = sql.split(" VALUES ", 1)
    one_row, tail = _one_row(rest)
    names = iter(f"u.c{i}" for i in range(len(rows.columns)))
    selected = re.sub(r"\?", lambda _: next(names), one_row[1:-1])
    statement = f"{head} SELECT {selected} FROM unnest({_arrays(dialect, rows)}) AS u({_unnamed(rows)}) {tail}"
    # %b: arrays sent in binary (in text, psycopg escapes every element in Python)
    conn.exec_driver_sql(statement, tuple(rows.values))


def append_many(conn: Connection, rows: Prepared) -> None:
    """Rows added to a table that only grows (no conflict to settle: the audit). SQLite: the
    driver's executemany of one INSERT. PostgreSQL: COPY, which takes the rows as one stream
    (a third less time than ``INSERT ... unnest`` for a claim's audit lines, a dozen per timer)."""
    if not rows.count:
        return
    names = ", ".join(f'"{name}"' for name in rows.columns)
    if conn.dialect.paramstyle == "qmark":
        sql = f"INSERT INTO {rows.table.name} ({names}) VALUES ({', '.join('?' for _ in rows.columns)})"
        execute_many(conn, sql, rows)
        return
    copy_rows(conn, f"COPY {rows.table.name} ({names}) FROM STDIN", zip(*rows.values, strict=True))


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


def update_many(conn: Connection, rows: Prepared, *, set_: Sequence[str], where: Sequence[str], fixed: str = "",
                also: str = "") -> int:
    """``UPDATE table SET <set_> [, fixed] WHERE <where> [AND also]`` for every row of values;
    returns how many rows changed (the caller compares it with ``rows.count`` for its version
    or claim check). A name is a column of the table, or an alias of one given to ``prepare``
    (``{"old_version": "version"}`` matches the stored version while ``version`` sets the new
    one). ``fixed`` and ``also`` are constant SQL, the same for every row (``status = 'fired'``).

    SQLite: the driver's executemany. PostgreSQL: one ``UPDATE ... FROM unnest(...)``.
    """
    if not rows.count:
        return 0
    dialect = conn.dialect
    column_of = {name: rows.aliases.get(name, name) for name in rows.columns}
    position = {name: i for i, name in enumerate(rows.columns)}
    name = rows.table.name
    if dialect.paramstyle == "qmark":
        assignments = [f'"{column_of[c]}" = ?' for c in set_] + ([fixed] if fixed else [])
        tests = [f'"{column_of[c]}" = ?' for c in where] + ([also] if also else [])
        sql = f"UPDATE {name} SET {', '.join(assignments)} WHERE {' AND '.join(tests)}"
        order = [position[c] for c in (*set_, *where)]
        params = [tuple(row[i] for i in order) for row in zip(*rows.values, strict=True)]
        return conn.exec_driver_sql(sql, params).rowcount
    assignments = [f'"{column_of[c]}" = u.c{position[c]}' for c in set_] + ([fixed] if fixed else [])
    tests = [f'{name}."{column_of[c]}" = u.c{position[c]}' for c in where] + ([also] if also else [])
    sql = (f"UPDATE {name} SET {', '.join(assignments)} FROM unnest({_arrays(dialect, rows)}) AS u({_unnamed(rows)}) "
           f"WHERE {' AND '.join(tests)}")
    return conn.exec_driver_sql(sql, tuple(rows.values)).rowcount


def _arrays(dialect: Dialect, rows: Prepared) -> str:
    """One binary array parameter per column, typed as its column (PostgreSQL's unnest)."""
    table = rows.table
    return ", ".join(f"%b::{table.c[rows.aliases.get(c, c)].type.compile(dialect=dialect)}[]" for c in rows.columns)


def _unnamed(rows: Prepared) -> str:
    return ", ".join(f"c{i}" for i in range(len(rows.columns)))


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
