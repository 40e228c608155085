"""Claim loops run by the concurrency tests in threads or in spawned processes.

A module of its own (not a test file) so a ``spawn`` child can import it by name.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from kickoff.ledger import Ledger

NOW = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


def claim_until_empty(ledger: Ledger, tool: str, worker: str, limit: int) -> list[int]:
    """Claim batches for ``worker`` until nothing is left; the ids it got.

    A short pause after each batch stands for pushing it; it also lets the others in, so
    the claims really interleave (SQLite's busy wait would otherwise let one worker drain all).
    """
    got: list[int] = []
    while batch := ledger.claim_outbox(tool, worker, limit=limit, now=NOW, lease_seconds=3600):
        got.extend(item.id for item in batch)
        time.sleep(0.002)
    return got


def process_claimer(
    url: str, schema: str | None, tool: str, worker: str, limit: int, barrier: Any, results: Any
) -> None:
    """Entry point of a spawned claimer: open its own ledger, wait for the others, claim."""
    ledger = Ledger.open(url, schema=schema)
    try:
        barrier.wait(timeout=60)
        results.put((worker, claim_until_empty(ledger, tool, worker, limit)))
    except BaseException as exc:  # report instead of hanging the parent
        results.put((worker, repr(exc)))
        raise
    finally:
        ledger.close()
