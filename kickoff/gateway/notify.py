"""Telling Prefect that deliveries are waiting, without ever holding up the vendor's answer.

The delivery is already safe in the inbox when this runs; a lost notification only means
the scheduled sweep picks the rows up a little later. So notifications go through a
bounded queue to one background thread: a slow, hanging or failing notifier can delay
nothing but other notifications, and when the queue is full they are dropped (logged).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("kickoff.gateway.notify")

EVENT_NAME = "kickoff.inbox.received"
DEFAULT_MAX_PENDING = 10_000

_warned_no_api = False

Notify = Callable[[str, Sequence[int]], None]
"""(tool, new inbox ids) -> None. May raise or hang: the gateway runs it in the background."""


def inbox_event(tool: str, inbox_ids: Sequence[int]) -> dict[str, Any]:
    """The arguments of ``emit_event`` for new inbox rows of one tool (what triggers match on)."""
    return {
        "event": EVENT_NAME,
        "resource": {"prefect.resource.id": f"kickoff.inbox.{tool}", "kickoff.tool": tool},
        "payload": {"inbox_ids": list(inbox_ids), "count": len(inbox_ids), "source": "webhook"},
    }


def emit_kickoff_event(event: str, resource: dict[str, str], payload: dict[str, Any]) -> bool:
    """Emit one of Kickoff's own Prefect events; False (logged, never raised) if it could not.

    Prefect is imported here, not at module import: the core never imports it up front.
    Without ``PREFECT_API_URL`` nothing is sent: Prefect would start a throwaway ephemeral
    server in this process, whose events no deployment ever sees; the sweeps run instead.
    """
    global _warned_no_api
    try:
        from prefect.events import emit_event
        from prefect.settings import get_current_settings

        if not get_current_settings().api.url:
            if not _warned_no_api:
                _warned_no_api = True
                log.warning("PREFECT_API_URL is not set: Prefect is not told about Kickoff's events; "
                            "the scheduled sweeps pick the work up")
            return False
        return emit_event(event=event, resource=resource, payload=payload) is not None
    except Exception as exc:  # noqa: BLE001 - Prefect down: the sweeps find the rows
        log.warning("could not tell Prefect about %s for %s (%s); the sweep will pick the work up",
                    event, resource.get("kickoff.tool", "?"), type(exc).__name__)
        return False


def prefect_notify(tool: str, inbox_ids: Sequence[int]) -> None:
    """The gateway's default notifier: ``kickoff.inbox.received`` for the rows just stored."""
    emit_kickoff_event(**inbox_event(tool, inbox_ids))


class BackgroundNotifier:
    """Runs a ``Notify`` on one daemon thread, fed by a bounded queue; ``submit`` never blocks."""

    def __init__(self, notify: Notify, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._notify = notify
        self._queue: queue.Queue[tuple[str, list[int]] | None] = queue.Queue(max_pending)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, tool: str, inbox_ids: Sequence[int]) -> bool:
        """Queue one notification; False (and a log line) when the queue is full."""
        try:
            self._queue.put_nowait((tool, list(inbox_ids)))
        except queue.Full:
            log.warning("notification queue full: %d %s inbox row(s) left for the sweep",
                        len(inbox_ids), tool)
            return False
        self._ensure_thread()
        return True

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notification was attempted (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Let queued notifications go out for up to ``timeout`` seconds, then stop the thread."""
        self.wait_idle(timeout)
        thread = self._thread
        if thread is not None and thread.is_alive():
            try:
                self._queue.put(None, timeout=0.1)
            except queue.Full:
                return  # a hung notifier: the thread is a daemon and dies with the process
            thread.join(timeout=0.5)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="kickoff-gateway-notify",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                tool, ids = item
                try:
                    self._notify(tool, ids)
                except Exception as exc:  # noqa: BLE001 - any notifier failure: log, go on
                    log.warning("notifier failed for %d %s inbox row(s) (%s); the sweep will pick "
                                "them up", len(ids), tool, type(exc).__name__)
            finally:
                self._queue.task_done()
