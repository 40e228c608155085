"""Group commit: concurrent writers share one transaction, each still answered only once its
own work is committed.

Why: on SQLite every write transaction takes the one write lock (``BEGIN IMMEDIATE``);
concurrent callers each waiting for it sleep in SQLite's busy handler (1, 2, 5 ... 100 ms
steps), which is what made the gateway's ack tail long. Here the callers queue in Python
instead: the first one free to write becomes the leader, drains everything queued, runs
all of it in one transaction and commits; every caller in that group returns after that
commit, and whoever queued meanwhile forms the next group. No thread of its own, so
nothing to stop (closing the ledger only waits for the group in progress): a caller that returns has its work durable (or its own error raised).

If the shared transaction fails, nothing of it is kept and each work of the group is run
again in its own transaction, so one bad item fails only its own caller. Works must
therefore be idempotent and all-or-nothing on the connection they are given (inbox
stores are: ``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

from kickoff.ledger.errors import LedgerError

T = TypeVar("T")
Work = Callable[[Connection], T]

DEFAULT_MAX_GROUP = 256
"""Works per shared transaction at most: bounds how long one group holds the write lock."""


class GroupInterrupted(LedgerError):
    """The shared transaction was interrupted before this work's fate was known: not acknowledged."""


class _Pending(Generic[T]):
    """One caller's work and, once its group is done, its result or error."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Work[T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None

    def resolve(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True


class GroupCommit:
    """``run(work)``: ``work(conn)`` committed, possibly together with concurrent callers'.

    ``begin`` opens one write transaction (commit on exit, rollback on error), e.g.
    ``engine.begin``. Safe to share between threads.
    """

    def __init__(self, begin: Callable[[], AbstractContextManager[Connection]],
                 max_group: int = DEFAULT_MAX_GROUP) -> None:
        self._begin = begin
        self._max_group = max_group
        self._queue: deque[_Pending[Any]] = deque()
        self._cond = threading.Condition()
        self._busy = False  # a leader is writing a group
        self.groups = 0  # shared transactions committed (or tried): seen by tests and benchmarks

    def run(self, work: Work[T]) -> T:
        """Run ``work`` in a committed transaction; returns its result once durable, or raises
        its own error (the rest of its group is unaffected)."""
        item: _Pending[T] = _Pending(work)
        with self._cond:
            self._queue.append(item)
            while not item.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True
                group = [self._queue.popleft() for _ in range(min(self._max_group, len(self._queue)))]
                self._cond.release()
                try:
                    self._write(group)
                finally:
                    self._cond.acquire()
                    self._busy = False
                    self._cond.notify_all()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    @property
    def queued(self) -> int:
        """Works waiting for the next group."""
        with self._cond:
            return len(self._queue)

    def flush(self) -> None:
        """Return once every work queued so far is committed (or failed): what closing waits for."""
        with self._cond:
            while self._busy or self._queue:
                self._cond.wait()

    def _write(self, group: list[_Pending[Any]]) -> None:
        """All of ``group`` in one transaction; on failure, each in its own. Every item is
        resolved when this returns, whatever happened."""
        try:
            self.groups += 1
            try:
                with self._begin() as conn:
                    results = [item.work(conn) for item in group]
            except Exception as exc:  # noqa: BLE001 - rolled back: find whose work it was
                if len(group) == 1:
                    group[0].resolve(error=exc)
                    return
                for item in group:
                    self._write_alone(item)
                return
            for item, result in zip(group, results, strict=True):
                item.resolve(result)
        finally:
            for item in group:
                if not item.done:  # interrupted (KeyboardInterrupt ...): never leave a caller waiting
                    item.resolve(error=GroupInterrupted("the group's transaction was interrupted"))

    def _write_alone(self, item: _Pending[Any]) -> None:
        try:
            with self._begin() as conn:
                result = item.work(conn)
        except Exception as exc:  # noqa: BLE001 - this caller's own error, raised in its thread
            item.resolve(error=exc)
        else:
            item.resolve(result)
