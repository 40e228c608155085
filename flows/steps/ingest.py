"""poll-<tool>: the changes since the stored cursor go into the inbox, and the cursor moves
in the same transaction, so a crash between the two can neither lose nor double a change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flows.runtime import Runtime
from kickoff.settings import SHARED_ACCOUNT

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
    with its cursor atomically. Each account of the tool (the shared one, tenants' own) is read
    with its own connector from its own cursor."""
    reports = [_poll_account(rt, tool, account, now, max_pages=max_pages, page_limit=page_limit)
               for account in rt.accounts(tool)]
    if len(reports) == 1:
        return reports[0]
    return PollReport(tool, sum(r.read for r in reports), sum(r.stored for r in reports),
                      sum(r.duplicates for r in reports), reports[0].cursor, sum(r.pages for r in reports))


def stream_of(account: str) -> str:
    """The cursor's stream name of an account's changes (the shared account keeps ``changes``)."""
    return STREAM if account == SHARED_ACCOUNT else f"{STREAM}@{account}"


def _poll_account(rt: Runtime, tool: str, account: str, now: datetime, *, max_pages: int,
                  page_limit: int | None) -> PollReport:
    connector = rt.connector(tool, account)
    stream = stream_of(account)
    cursor = rt.ledger.get_cursor(tool, stream)
    read = stored = pages = 0
    while pages < max_pages:
        result = connector.read_changes(cursor, now=now, limit=page_limit)
        pages += 1
        deliveries = [d.from_account(account) for d in result.deliveries]
        outcomes = rt.ledger.store_deliveries(deliveries, cursor=(tool, stream, result.next_cursor or cursor or ""),
                                              now=now)
        read += len(result.deliveries)
        stored += sum(1 for _, created in outcomes if created)
        moved = result.next_cursor is not None and result.next_cursor != cursor
        cursor = result.next_cursor or cursor
        if not result.deliveries or not moved:
            break
    return PollReport(tool, read, stored, read - stored, cursor, pages)
