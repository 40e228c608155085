"""The sandbox's clock: real time plus an offset, so a demo can run 60 days in minutes.

Record timestamps (modification dates, webhook times) come from here; rate-limit windows
use the monotonic clock scaled by ``time_scale`` instead, since they model real seconds.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SandboxClock:
    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._frozen: datetime | None = None
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def set(self, at: datetime, frozen: bool = False) -> None:
        """Jump to ``at`` (aware); with ``frozen`` time stands still until set again."""
        if at.tzinfo is None:
            raise ValueError("the sandbox clock takes timezone-aware times")
        with self._lock:
            self._frozen = at if frozen else None
            self._offset = at - datetime.now(UTC)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            if self._frozen is not None:
                self._frozen += timedelta(seconds=seconds)
            else:
                self._offset += timedelta(seconds=seconds)
        return self.now()

    def reset(self) -> None:
        with self._lock:
            self._offset, self._frozen = timedelta(0), None

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)
