"""poll-<tool>: the changes since the stored cursor go into the inbox, and the cursor moves
in the same transaction, so a crash between the two can neither lose nor double a change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.runtime import Runtime

STREAM = "changes"


@dataclass
class PollReport:
    tool: str
    read: int
    stored: int
    duplicates: int
    cursor: str | None
    pages: int


def poll(rt: Runtime, tool: str, now: datetime, *, max_pages: int = 50,
         page_limit: int | None = None) -> PollReport:
    """Read pages of changes until the tool has no more (or ``max_pages``); store each page
    with its cursor atomically."""
    connector = rt.connector(tool)
    cursor = rt.ledger.get_cursor(tool, STREAM)
    read = stored = pages = 0
    while pages < max_pages:
        result = connector.read_changes(cursor, now=now, limit=page_limit)
        pages += 1
        outcomes = rt.ledger.store_deliveries(result.deliveries, cursor=(tool, STREAM, result.next_cursor or cursor or ""),
                                              now=now)
        read += len(result.deliveries)
        stored += sum(1 for _, created in outcomes if created)
        moved = result.next_cursor is not None and result.next_cursor != cursor
        cursor = result.next_cursor or cursor
        if not result.deliveries or not moved:
            break
    return PollReport(tool, read, stored, read - stored, cursor, pages)
