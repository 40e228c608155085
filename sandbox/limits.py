"""Rate-limit bookkeeping shared by every vendor: sliding windows, blocks and daily budgets.

Windows run on the monotonic clock divided by ``time_scale`` (scale 60 makes a minute
pass in a second), so benchmarks can exercise the real limits quickly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class LimitSettings:
    """One vendor's limits for this run. ``enabled`` False turns rate limits off (not auth)."""

    enabled: bool = True
    requests: int = 100
    window_seconds: float = 10.0
    daily: int | None = None
    extra: dict[str, float] = field(default_factory=dict)


class Clock:
    """Monotonic seconds, scaled: the time rate limits live in."""

    def __init__(self) -> None:
        self.time_scale = 1.0

    def __call__(self) -> float:
        return time.monotonic() * self.time_scale


class SlidingWindow:
    """At most ``limit`` hits per ``window`` seconds per key; says how long until the next slot."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, float]:
        """Record a hit if allowed. Returns (allowed, remaining, seconds until a slot frees)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= limit:
                wait = hits[0] + window - now
                return False, 0, max(wait / self._clock.time_scale, 0.001)
            hits.append(now)
            return True, limit - len(hits), 0.0

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class Block:
    """A key blocked until a moment (Movidesk's 60 s after repeated failures)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._until: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def remaining(self, key: str) -> float:
        with self._lock:
            left = self._until.get(key, 0.0) - self._clock()
            return max(left / self._clock.time_scale, 0.0)

    def failure(self, key: str, threshold: int, block_seconds: float) -> None:
        with self._lock:
            count = self._failures.get(key, 0) + 1
            self._failures[key] = count
            if count >= threshold:
                self._until[key] = self._clock() + block_seconds
                self._failures[key] = 0

    def success(self, key: str) -> None:
        with self._lock:
            self._failures[key] = 0

    def reset(self) -> None:
        with self._lock:
            self._until.clear()
            self._failures.clear()


class Counter:
    """A plain counter per key (Salesforce's daily allocation, HubSpot's daily limit)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, key: str) -> int:
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def get(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
