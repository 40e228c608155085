"""Two workers never get the same outbox row: threads, and separate processes (spawn).

500 rows, 4 claimers in small batches released together by a barrier: every row is
claimed by exactly one of them (union == all, pairwise intersections empty).
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from itertools import combinations

from ledger_backends import LedgerBackend
from ledger_builders import T0, action, decision, state
from ledger_workers import NOW, claim_until_empty, process_claimer

from kickoff.ledger import Ledger
from kickoff.ledger import outbox as outbox_rows
from kickoff.ledger.records import OutboxItem

ROWS = 500
CLAIMERS = 4
BATCH = 5


def seed(ledger: Ledger, rows: int = ROWS) -> set[int]:
    actions = [action(n, due_at=T0 + timedelta(seconds=n % 7)) for n in range(rows)]
    actions.append(action("other-tool", tool="asana"))
    ids = ledger.commit_decision(decision(state(), actions=actions), now=T0).outbox_ids
    return set(ids[:rows])


def assert_disjoint_cover(everything: set[int], claims: dict[str, list[int]]) -> None:
    for worker, ids in claims.items():
        assert len(ids) == len(set(ids)), f"{worker} got a row twice"
    for (a, ids_a), (b, ids_b) in combinations(claims.items(), 2):
        assert not set(ids_a) & set(ids_b), (
            f"{a} and {b} both claimed {sorted(set(ids_a) & set(ids_b))[:5]}"
        )
    assert set().union(*map(set, claims.values())) == everything


def test_concurrent_thread_claimers_never_get_the_same_outbox_row(ledger: Ledger) -> None:
    everything = seed(ledger)
    barrier = threading.Barrier(CLAIMERS)

    def run(worker: str) -> list[int]:
        barrier.wait(timeout=30)
        return claim_until_empty(ledger, "hubspot", worker, BATCH)

    workers = [f"thread-{i}" for i in range(CLAIMERS)]
    with ThreadPoolExecutor(CLAIMERS) as pool:
        claims = dict(zip(workers, pool.map(run, workers), strict=True))

    assert_disjoint_cover(everything, claims)
    assert ledger.status(NOW).pending_outbox == ROWS + 1


def test_concurrent_process_claimers_never_get_the_same_outbox_row(
    ledger: Ledger, ledger_backend: LedgerBackend
) -> None:
    everything = seed(ledger)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(CLAIMERS)
    results = ctx.Queue()
    workers = [f"process-{i}" for i in range(CLAIMERS)]
    procs = [
        ctx.Process(
            target=process_claimer,
            args=(ledger_backend.url, ledger_backend.schema, "hubspot", w, BATCH, barrier, results),
        )
        for w in workers
    ]
    for p in procs:
        p.start()
    try:
        claims = dict(results.get(timeout=120) for _ in workers)
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()

    failed = {w: r for w, r in claims.items() if isinstance(r, str)}
    assert not failed, failed
    assert_disjoint_cover(everything, claims)
    assert [p.exitcode for p in procs] == [0] * CLAIMERS


def test_a_claim_in_progress_is_skipped_on_postgres_and_waited_for_on_sqlite(
    ledger: Ledger, ledger_backend: LedgerBackend
) -> None:
    everything = seed(ledger, rows=10)
    got: dict[str, list[OutboxItem]] = {}

    def claim_other() -> None:
        got["other"] = ledger.claim_outbox("hubspot", "other", limit=10, now=NOW)

    other = threading.Thread(target=claim_other)

    with ledger.transaction() as conn:  # the holder's claim, not yet committed
        held = outbox_rows.claim(conn, "hubspot", "holder", 4, NOW, timedelta(hours=1))
        other.start()
        other.join(timeout=5 if ledger_backend.is_postgres else 0.3)
        if ledger_backend.is_postgres:
            assert not other.is_alive(), "FOR UPDATE SKIP LOCKED should not wait for the holder"
        else:
            assert other.is_alive(), "BEGIN IMMEDIATE should make the second claim wait"
    other.join(timeout=10)

    assert_disjoint_cover(
        everything, {"holder": [i.id for i in held], "other": [i.id for i in got["other"]]}
    )
    assert (len(held), len(got["other"])) == (4, 6)
