"""The tick in more than one process (``flows.steps.helpers``): helpers forked beside the
tick claim, decide and commit on connections of their own; every due timer fires once, one
report tells them all, and what a helper logs, sends or fails with comes back to the tick. A
helper that dies or hangs leaves its claim to the lease, as any worker that dies does.

Real processes on both ledgers (SQLite, PostgreSQL); the onboardings are started by the
Assist playbook's real decision."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from flows.prefect_events import Send
from flows.runtime import Runtime
from flows.steps import helpers
from flows.steps.process import tick
from kickoff.ledger import Ledger
from kickoff.ledger.ledger import DEFAULT_LEASE_SECONDS
from kickoff.settings import load_config
from tests.assist_onboardings import start

REPO = Path(__file__).resolve().parents[2]
IDS = [f"ob-{n:02d}" for n in range(40)]


@pytest.fixture
def rt(ledger: Ledger) -> Runtime:
    return Runtime.build(load_config(REPO / "config"), ledger=ledger)


def decisions_of_timer(ledger: Ledger, oid: str, key: str) -> int:
    """How many times the onboarding's audit says the timer fired (each decision says it once)."""
    return sum(row["line"].startswith(f"timer {key} (rule ") for row in ledger.audit_for(oid))


def test_a_tick_in_two_processes_fires_every_due_timer_once_and_one_report_tells_them_all(rt: Runtime) -> None:
    ledger = rt.ledger
    due, key = start(ledger, *IDS)

    report = tick(rt, due, limit=2, processes=2)  # a full first claim: the helper starts

    assert (report.processed, report.failed, report.deferred) == (len(IDS), 0, 0)
    assert set(report.workers) == {"tick", "tick-2"} and sum(report.workers.values()) == len(IDS)
    assert len(report.lines) == len(IDS) and {line["onboarding"] for line in report.lines} == set(IDS)
    assert ledger.status(due).due_timers == 0
    firsts = ledger.load_state(IDS[0])
    for oid in IDS:
        assert ledger.timer_row(oid, key)["status"] == "fired"
        state = ledger.load_state(oid)
        assert (state.version, state.stage) == (2, firsts.stage)
        assert decisions_of_timer(ledger, oid, key) == 1
    queued = Counter(row["onboarding_id"] for row in ledger.outbox_rows() if row["caused_by_timer"] == key)
    assert set(queued) == set(IDS) and len(set(queued.values())) == 1  # the same actions, once each
    assert sum(queued.values()) == sum(report.actions.values())


def test_a_helper_that_dies_holding_a_claim_leaves_it_to_the_lease_then_it_fires_once(rt: Runtime) -> None:
    ledger = rt.ledger
    ids = IDS[:4]
    due, key = start(ledger, *ids)

    def die_holding_a_claim(worker: str, send: Send) -> None:
        ledger.claim_due_timers(now=due, limit=2, worker=worker)
        os._exit(9)

    [outcome] = helpers.finish(helpers.start(1, "tick", ledger, die_holding_a_claim), wait_seconds=60)

    assert (outcome.worker, outcome.error, outcome.result) == ("tick-2", "died (exit code 9)", None)
    assert tick(rt, due, processes=1).processed == 2  # the other two: the dead helper's claim is held
    later = due + timedelta(seconds=DEFAULT_LEASE_SECONDS + 1)
    assert tick(rt, later, processes=1).processed == 2  # its lease ran out: they fire now
    for oid in ids:
        assert ledger.timer_row(oid, key)["status"] == "fired" and ledger.load_state(oid).version == 2
        assert decisions_of_timer(ledger, oid, key) == 1


def test_what_a_helper_logs_sends_and_fails_with_comes_back_to_the_tick(
        ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    event = ("kickoff.onboarding.timer.fired", {"prefect.resource.id": "kickoff.onboarding.assist.ob-1"}, {"n": 1})

    def work(worker: str, send: Send) -> None:
        logging.getLogger("kickoff.flows.process").warning("timer a2_start of ob-1 failed: no anchor")
        assert send([event]) == 1
        raise ValueError("the ledger went away")

    with caplog.at_level(logging.INFO):
        [outcome] = helpers.finish(helpers.start(1, "tick", ledger, work), wait_seconds=60)

    assert outcome.error == "ValueError: the ledger went away"
    assert outcome.events == [event]
    assert "timer a2_start of ob-1 failed: no anchor (tick-2)" in caplog.messages
    warned = next(r for r in caplog.records if r.getMessage().endswith("(tick-2)"))
    assert (warned.name, warned.levelno) == ("kickoff.flows.process", logging.WARNING)


def test_a_helper_still_busy_when_the_wait_is_over_is_killed(ledger: Ledger) -> None:
    def hang(worker: str, send: Send) -> None:
        time.sleep(120)

    started = helpers.start(1, "tick", ledger, hang)
    [outcome] = helpers.finish(started, wait_seconds=0.5)

    assert outcome.error == "still busy a lease after the last claim: killed"
    assert not started[0].process.is_alive()


def test_the_tick_runs_in_as_many_processes_as_it_is_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(helpers.PROCESSES_ENV, "3")
    assert helpers.process_count() == 3
    assert helpers.process_count(1) == 1
    monkeypatch.delenv(helpers.PROCESSES_ENV)
    assert helpers.process_count() == min(2, os.cpu_count() or 1)
    monkeypatch.setenv(helpers.PROCESSES_ENV, "two")
    with pytest.raises(ValueError, match=f"{helpers.PROCESSES_ENV}: a whole number of processes, not 'two'"):
        helpers.process_count()


def test_a_tick_with_less_than_two_claims_due_starts_no_helper(rt: Runtime) -> None:
    ledger = rt.ledger
    due, key = start(ledger, *IDS)

    report = tick(rt, due, limit=len(IDS) // 2 + 1, processes=2)  # two claims would hold them all, not two full ones

    assert report.workers == {} and report.processed == len(IDS)
    assert all(ledger.timer_row(oid, key)["status"] == "fired" for oid in IDS)


def test_when_the_ticks_own_claims_fail_its_helper_is_waited_for_and_the_failure_raised(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = rt.ledger
    due, key = start(ledger, *IDS)
    tick_process = os.getpid()
    commit = Ledger.commit_firings

    def gone_in_the_ticks_own_process(self: Ledger, *args: object, **kwargs: object) -> object:
        if os.getpid() == tick_process:
            raise ConnectionError("the ledger went away")
        return commit(self, *args, **kwargs)

    monkeypatch.setattr(Ledger, "commit_firings", gone_in_the_ticks_own_process)
    with pytest.raises(ConnectionError, match="the ledger went away"):
        tick(rt, due, limit=2, processes=2)

    assert multiprocessing.active_children() == []  # the helper finished, not left running
    monkeypatch.undo()
    fired = [oid for oid in IDS if ledger.timer_row(oid, key)["status"] == "fired"]
    assert fired and all(decisions_of_timer(ledger, oid, key) == 1 for oid in fired)  # the helper's, kept
