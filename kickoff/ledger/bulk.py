"""Many rows written through the driver's own executemany, each value converted by its
column's type exactly as SQLAlchemy converts it (UTC text on SQLite, JSON, JSONB...).

For the tick's claim, where SQLAlchemy's per-row parameter handling (about 22 rows per timer:
audit lines, timers, actions) cost more than the database itself. The statements are plain
SQL written with ``?`` for each value, the same text on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table


def execute_many(conn: Connection, sql: str, table: Table, columns: Sequence[str],
                 rows: Sequence[Sequence[Any]]) -> None:
    """Run ``sql`` (one ``?`` per column of ``columns``, in order) for every row of values."""
    if not rows:
        return
    dialect = conn.dialect
    convert: list[Callable[[Any], Any] | None] = [
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
    memo: list[dict[Any, Any]] = [{} for _ in columns]  # a claim's ``now`` is converted once

    def value(i: int, raw: Any) -> Any:
        fn = convert[i]
        if fn is None or raw is None:
            return raw
        if isinstance(raw, (dict, list)):
            return fn(raw)
        seen = memo[i]
        if raw not in seen:
            seen[raw] = fn(raw)
        return seen[raw]

    slot = "?" if dialect.paramstyle == "qmark" else "%s"
    text = sql.replace("?", slot)
    conn.exec_driver_sql(text, [tuple(value(i, v) for i, v in enumerate(row)) for row in rows])
