"""Announcing to Prefect that deliveries are waiting, without ever holding up the vendor's answer.

The delivery is already safe in the inbox when this runs; a lost announcement only means
the scheduled sweep picks the rows up a little later. So announcements go through a
bounded queue to one background thread: a slow, hanging or failing announcer can delay
nothing but other announcements, and when the queue is full they are dropped (logged).
Whatever queued up while one announcement went out leaves as one per tool (under load, one
Prefect event for many requests instead of one each: less CPU taken from the gateway).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

from flows.prefect_events import emit_kickoff_event, inbox_event

log = logging.getLogger("kickoff.gateway.announce")

DEFAULT_MAX_PENDING = 10_000
MAX_MERGED = 1000
"""Queued submissions merged into one announcement at most (bounds one event's payload)."""

Announce = Callable[[str, Sequence[int]], None]
"""(tool, new inbox ids) -> None. May raise or hang: the gateway runs it in the background."""


def announce_to_prefect(tool: str, inbox_ids: Sequence[int]) -> None:
    """The gateway's default announcer: ``kickoff.inbox.received`` for the rows just stored."""
    emit_kickoff_event(**inbox_event(tool, inbox_ids))


class BackgroundAnnouncer:
    """Runs an ``Announce`` on one daemon thread, fed by a bounded queue; ``submit`` never blocks."""

    def __init__(self, announce: Announce, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._announce = announce
        self._queue: queue.Queue[tuple[str, list[int]] | None] = queue.Queue(max_pending)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, tool: str, inbox_ids: Sequence[int]) -> bool:
        """Queue one announcement; False (and a log line) when the queue is full."""
        try:
            self._queue.put_nowait((tool, list(inbox_ids)))
        except queue.Full:
            log.warning("announcement queue full: %d %s inbox row(s) left for the sweep",
                        len(inbox_ids), tool)
            return False
        self._ensure_thread()
        return True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued announcement was attempted (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Let queued announcements go out for up to ``timeout`` seconds, then stop the thread."""
        self.wait_idle(timeout)
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
            except queue.Full:
                return  # a hung announcer: the thread is a daemon and dies with the process
            thread.join(timeout=0.5)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kickoff-gateway-announce",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            items = [self._queue.get()]
            while items[-1] is not None and len(items) < MAX_MERGED:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                merged: dict[str, list[int]] = {}  # per tool, in arrival order
                for item in items:
                    if item is not None:
                        merged.setdefault(item[0], []).extend(item[1])
                for tool, ids in merged.items():
                    self._send(tool, ids)
            finally:
                for _ in items:
                    self._queue.task_done()
            if items[-1] is None:
                return

    def _send(self, tool: str, ids: list[int]) -> None:
        try:
            self._announce(tool, ids)
        except Exception as exc:  # noqa: BLE001 - any announcer failure: log, go on
            log.warning("announcer failed for %d %s inbox row(s) (%s); the sweep will pick "
                        "them up", len(ids), tool, type(exc).__name__)
