"""The audit log: why each onboarding is where it is, line by line, each line with its rule id.

One row per decision (or adoption, or failed timer): its lines in order, one per line of the
row's text. A decision's lines are written together and read together, and a dozen rows per
decision were most of what a tick wrote (and what the ledger kept for ever). A line's own
line breaks become spaces when written. ``rule`` is the first rule the row mentions; readers
get each line with its own (``lines_of``), and rows written one line each read the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from kickoff.ledger.schema import audit

RULE_IN_LINE = re.compile(r"\b([ETAWM][0-9]{1,2})\b")
COLUMNS = ("at", "onboarding_id", "event_id", "timer_key", "rule", "line")
"""A row's values in ``row``'s order."""


def rule_of(line: str) -> str | None:
    """The first rule id a line mentions (``E3``, ``T12``, ...), if any."""
    match = RULE_IN_LINE.search(line)
    return match.group(1) if match else None


def text_of(lines: Sequence[str]) -> str:
    """The lines as one row's text: one per line (a line's own line breaks become spaces)."""
    text = "\n".join(lines)
    if text.count("\n") != len(lines) - 1 or "\r" in text:
        text = "\n".join(" ".join(line.splitlines()) for line in lines)
    return text


def row(at: datetime, onboarding_id: str, event_id: str | None, timer_key: str | None,
        lines: Sequence[str]) -> tuple[Any, ...]:
    """The row of ``lines`` (not empty), its values in ``COLUMNS``' order."""
    text = text_of(lines)
    return (at, onboarding_id, event_id, timer_key, rule_of(text), text)


def write(
    conn: Connection,
    onboarding_id: str,
    lines: Sequence[str],
    at: datetime,
    event_id: str | None = None,
    timer_key: str | None = None,
) -> int:
    """``lines`` as one row (none if empty); how many lines."""
    if lines:
        conn.execute(insert(audit), dict(zip(COLUMNS, row(at, onboarding_id, event_id, timer_key, lines),
                                             strict=True)))
    return len(lines)


def lines_of(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's lines in order, each as the row's values with its own ``line`` and ``rule``."""
    return [{**r, "line": line, "rule": rule_of(line)} for r in rows for line in r["line"].split("\n")]


def lines_for(conn: Connection, onboarding_id: str) -> list[dict[str, Any]]:
    query = select(audit).where(audit.c.onboarding_id == onboarding_id).order_by(audit.c.id)
    return lines_of(dict(r) for r in conn.execute(query).mappings())
