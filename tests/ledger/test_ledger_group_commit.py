"""Group commit of inbox stores: concurrent stores share one transaction, each caller returns
only once its own rows are committed, a bad one fails only its own caller, closing waits."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from ledger_backends import LedgerBackend
from ledger_builders import delivery
from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from kickoff.ledger import Ledger, inbox
from kickoff.ledger.group_commit import GroupCommit
from kickoff.ledger.schema import inbox as inbox_table
from kickoff.model import Delivery


def stored_keys(ledger: Ledger) -> list[str]:
    with ledger.database.connect() as conn:
        return list(conn.execute(select(inbox_table.c.dedup_key)).scalars())


class Held:
    """A group held open by its leader (its work waits on ``gate``) while others queue behind it."""

    def __init__(self, committer: GroupCommit) -> None:
        self.committer = committer
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.threads: list[threading.Thread] = []
        self.results: dict[int, Any] = {}
        self.errors: dict[int, BaseException] = {}
        self._start(-1, self._hold)
        assert self.entered.wait(10)

    def _hold(self, conn: Connection) -> tuple[int, bool]:
        self.entered.set()
        assert self.gate.wait(10)
        return inbox.store(conn, delivery("leader"))

    def _start(self, n: int, work: Callable[[Connection], Any]) -> None:
        def call() -> None:
            try:
                self.results[n] = self.committer.run(work)
            except Exception as exc:  # noqa: BLE001 - kept for the test's assertions
                self.errors[n] = exc

        thread = threading.Thread(target=call)
        thread.start()
        self.threads.append(thread)

    def queue(self, works: list[Callable[[Connection], Any]]) -> None:
        """Start one caller per work and wait until all of them are queued behind the leader."""
        before = self.committer.queued
        for n, work in enumerate(works):
            self._start(n, work)
        deadline = time.monotonic() + 10
        while self.committer.queued < before + len(works):
            assert time.monotonic() < deadline, "callers did not queue"
            time.sleep(0.005)

    def release(self) -> None:
        self.gate.set()
        for thread in self.threads:
            thread.join(10)
            assert not thread.is_alive()


def storing(one: Delivery) -> Callable[[Connection], tuple[int, bool]]:
    return lambda conn: inbox.store(conn, one)


def test_stores_queued_behind_a_commit_share_the_next_one_and_each_delivery_is_stored_once(
        ledger: Ledger) -> None:
    committer = GroupCommit(ledger.database.begin)
    held = Held(committer)
    held.queue([storing(delivery(n % 15)) for n in range(20)])  # 5 vendor re-deliveries among them
    held.release()

    assert committer.groups == 2  # the leader's, then all 20 callers in one transaction
    assert held.errors == {}
    by_key: dict[int, set[int]] = {}
    created = 0
    for n, (inbox_id, new) in held.results.items():
        if n >= 0:
            by_key.setdefault(n % 15, set()).add(inbox_id)
            created += new
    assert all(len(ids) == 1 for ids in by_key.values()) and len(by_key) == 15
    assert created == 15
    assert sorted(stored_keys(ledger)) == sorted(["evt-leader", *(f"evt-{n}" for n in range(15))])


def test_a_bad_delivery_in_a_group_fails_only_its_own_caller(ledger: Ledger) -> None:
    committer = GroupCommit(ledger.database.begin)
    bad = delivery("bad").model_copy(update={"kind": "carrier-pigeon"})  # refused by the CHECK constraint
    held = Held(committer)
    held.queue([storing(delivery(0)), storing(delivery(1)), storing(bad), storing(delivery(3))])
    held.release()

    assert list(held.errors) == [2] and isinstance(held.errors[2], IntegrityError)
    assert sorted(stored_keys(ledger)) == ["evt-0", "evt-1", "evt-3", "evt-leader"]
    assert {n: new for n, (_, new) in held.results.items()} == {-1: True, 0: True, 1: True, 3: True}


def test_flush_waits_for_the_group_in_progress_and_what_is_queued(ledger_backend: LedgerBackend) -> None:
    writer = ledger_backend.open()
    committer = GroupCommit(writer.database.begin)
    held = Held(committer)
    held.queue([storing(delivery(n)) for n in range(3)])
    flushed = threading.Event()
    flusher = threading.Thread(target=lambda: (committer.flush(), flushed.set()))
    flusher.start()

    assert not flushed.wait(0.3)  # the leader's transaction is still open
    held.release()
    flusher.join(10)

    assert flushed.is_set() and held.errors == {}
    writer.close()
    reader = ledger_backend.open(upgrade=False)  # a new connection sees all of it
    assert sorted(stored_keys(reader)) == ["evt-0", "evt-1", "evt-2", "evt-leader"]
    reader.close()


def test_every_store_is_readable_from_another_connection_when_it_returns(
        ledger_backend: LedgerBackend) -> None:
    writer, reader = ledger_backend.open(), ledger_backend.open(upgrade=False)
    threads_before = threading.active_count()
    not_yet_visible: list[str] = []
    results: list[tuple[int, bool]] = []

    def caller(first: int) -> None:
        for n in range(first, first + 25):
            [(inbox_id, new)] = writer.store_deliveries([delivery(n % 120)])  # overlapping: duplicates
            results.append((inbox_id, new))
            if reader.inbox_row(inbox_id) is None:
                not_yet_visible.append(f"evt-{n % 120}")

    threads = [threading.Thread(target=caller, args=(k * 20,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not_yet_visible == []
    assert len(results) == 200 and sum(new for _, new in results) == 120
    with reader.database.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox_table)).scalar_one() == 120
    writer.close()
    reader.close()
    assert threading.active_count() == threads_before  # the committer keeps no thread of its own


@pytest.mark.parametrize("with_cursor", [False, True])
def test_a_failing_page_is_stored_not_at_all_and_its_cursor_not_moved(ledger: Ledger, with_cursor: bool) -> None:
    bad = delivery("bad").model_copy(update={"kind": "carrier-pigeon"})
    cursor = ("hubspot", "tickets", "page-2") if with_cursor else None

    with pytest.raises(IntegrityError):
        ledger.store_deliveries([delivery(1), bad], cursor=cursor)

    assert stored_keys(ledger) == []
    assert ledger.get_cursor("hubspot", "tickets") is None
