"""Every request the sandbox answered: the witness for call counts in tests and benchmarks."""

from __future__ import annotations

import threading
from collections import Counter as _Counter
from dataclasses import asdict, dataclass


@dataclass
class LoggedRequest:
    seq: int
    at: float
    vendor: str
    method: str
    path: str
    route: str
    status: int
    fault: str | None
    duration_ms: float


class RequestLog:
    def __init__(self) -> None:
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def add(self, **fields: object) -> None:
        with self._lock:
            self._entries.append(LoggedRequest(seq=len(self._entries) + 1, **fields))  # type: ignore[arg-type]

    def entries(self, vendor: str | None = None, since: int = 0) -> list[LoggedRequest]:
        with self._lock:
            return [e for e in self._entries if e.seq > since and (vendor is None or e.vendor == vendor)]

    def counts(self, vendor: str | None = None, since: int = 0) -> dict[str, int]:
        """Calls per "VENDOR METHOD route" (and per status 429 as "VENDOR 429")."""
        counter: _Counter[str] = _Counter()
        for e in self.entries(vendor, since):
            counter[f"{e.vendor} {e.method} {e.route}"] += 1
            if e.status == 429:
                counter[f"{e.vendor} 429"] += 1
        return dict(counter)

    def last_seq(self) -> int:
        with self._lock:
            return len(self._entries)

    def as_dicts(self, vendor: str | None = None, since: int = 0) -> list[dict]:
        return [asdict(e) for e in self.entries(vendor, since)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
