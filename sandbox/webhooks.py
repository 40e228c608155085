"""Outbound webhooks: a change made by "a person in the tool" is delivered to the configured
URL the way the vendor delivers it, signed with the vendor's scheme, and on demand
duplicated, delayed or reordered (the vendors promise none of order, uniqueness or speed)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import requests
from pydantic import BaseModel, Field

Signer = Callable[["WebhookTarget", str, str, bytes], dict[str, str]]
"""(target, method, url, body) -> headers carrying the vendor's signature."""


class WebhookTarget(BaseModel):
    """Where one vendor's webhooks go, with what secret, and how badly behaved delivery is."""

    url: str
    secret: str | None = None
    duplicate: bool = Field(default=False, description="send every delivery twice")
    delay_ms: int = Field(default=0, ge=0, description="hold every delivery this long")
    reorder: bool = Field(default=False, description="release queued deliveries newest first")
    retries: int = Field(default=3, ge=0, description="re-sends after a failure, as vendors do")


@dataclass
class Outgoing:
    vendor: str
    body: bytes
    signer: Signer
    method: str = "POST"
    content_type: str = "application/json"
    extra_headers: dict[str, str] = field(default_factory=dict)
    attempt: int = 0
    target: WebhookTarget | None = None
    """Where this one goes (a webhook registered through the vendor's API); None: the
    vendor's target set through ``/_sandbox/webhooks/<vendor>``."""
    epoch: int = 0
    """The sandbox's reset count when this was emitted: a delivery (or retry) from before a
    reset is dropped, never sent to the target configured after it."""


@dataclass
class DeliveryRecord:
    vendor: str
    url: str
    status: int | None
    error: str | None
    attempt: int
    body: str


class WebhookDispatcher:
    """One background thread delivers queued webhooks; ``flush`` waits until all are out.
    ``reset`` starts a new epoch: what is still queued (a retry backing off from a target
    that went away) is dropped rather than delivered to the next test's target."""

    def __init__(self) -> None:
        self.targets: dict[str, WebhookTarget] = {}
        self.deliveries: list[DeliveryRecord] = []
        self._queue: queue.Queue[Outgoing | None] = queue.Queue()
        self._pending = 0
        self._epoch = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._session = requests.Session()

    def configure(self, vendor: str, target: WebhookTarget | None) -> None:
        if target is None:
            self.targets.pop(vendor, None)
        else:
            self.targets[vendor] = target

    def emit(self, item: Outgoing) -> bool:
        """Queue a delivery if it or its vendor has a target; returns whether it was queued."""
        target = item.target or self.targets.get(item.vendor)
        if target is None:
            return False
        copies = 2 if target.duplicate else 1
        with self._cond:
            self._pending += copies
            epoch = self._epoch
        for _ in range(copies):
            self._queue.put(replace(item, epoch=epoch))
        self._ensure_thread()
        return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery was attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def reset(self) -> None:
        with self._cond:
            self._epoch += 1
        self.flush(timeout=2.0)
        self.targets.clear()
        self.deliveries.clear()

    def _stale(self, item: Outgoing) -> bool:
        with self._cond:
            return item.epoch != self._epoch

    def stop(self) -> None:
        if self._thread and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=5)
        self._session.close()

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
            self._thread.start()

    def _take_batch(self) -> list[Outgoing | None]:
        batch = [self._queue.get()]
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if any(item is None for item in batch):
                return
            items = [i for i in batch if i is not None]
            if items and self.targets.get(items[0].vendor, WebhookTarget(url="")).reorder:
                items.reverse()
            for item in items:
                self._deliver(item)

    def _deliver(self, item: Outgoing) -> None:
        target = item.target or self.targets.get(item.vendor)
        try:
            if target is None or self._stale(item):
                return
            if target.delay_ms:
                time.sleep(target.delay_ms / 1000)
            headers = {"Content-Type": item.content_type, **item.extra_headers}
            headers.update(item.signer(target, item.method, target.url, item.body))
            status, error = None, None
            try:
                resp = self._session.request(item.method, target.url, data=item.body, headers=headers, timeout=10)
                status = resp.status_code
            except requests.RequestException as exc:
                error = type(exc).__name__
            self.deliveries.append(
                DeliveryRecord(item.vendor, target.url, status, error, item.attempt, item.body.decode("utf-8", "replace"))
            )
            failed = status is None or status >= 400
            if failed and item.attempt < target.retries:
                item.attempt += 1
                time.sleep(min(0.2 * 2**item.attempt, 2.0))
                with self._cond:
                    self._pending += 1
                self._queue.put(item)
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
