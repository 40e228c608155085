"""The cyclic garbage collector paused over one bounded batch of work.

A tick's claim builds tens of thousands of short-lived objects (states, decisions, rows),
almost all freed by reference counting. With a large heap (a flow run's process holds
Prefect, SQLAlchemy, pydantic) every few thousand allocations the collector walks the older
generations anyway: measured as about a fifth of the tick (``bench tick``). Pausing it for
one claim of a bounded size and letting it run again afterwards keeps memory flat (whatever
cycles a claim made are collected at the next collection) and spends that fifth on work.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic collection inside the block; the collector runs again as before after it
    (a block already paused by a caller leaves it paused)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
