"""A timer whose firing cannot be decided is its own failure, never its claim's: the tick
keeps it as ``failed`` with the reason in its onboarding's audit, fires the rest of the
claim, leaves it alone on later ticks, and ``retry_failed_timers`` fires it again.

Before, one such timer raised out of the tick with its whole claim held: after each lease it
came first again, and no timer behind it ever fired. The onboardings here are started by the
Assist playbook's real decision; the broken timer is a row whose data its event refuses (as
one written by hand or by an older version would be)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from ledger_backends import LedgerBackend

from flows.runtime import Runtime
from flows.steps.process import tick
from kickoff.ledger import Ledger
from kickoff.model import Decision, Timer
from kickoff.settings import load_config
from tests.assist_onboardings import set_timer_data, start

REPO = Path(__file__).resolve().parents[2]
BROKEN = "ob-2"


@pytest.fixture
def rt(ledger: Ledger) -> Runtime:
    return Runtime.build(load_config(REPO / "config"), ledger=ledger)


def test_a_timer_whose_decision_fails_is_kept_failed_and_the_rest_of_its_claim_fires(rt: Runtime) -> None:
    ledger = rt.ledger
    due, key = start(ledger, "ob-1", BROKEN, "ob-3")
    set_timer_data(ledger, BROKEN, key, {"set_by": 5})  # the event wants text

    report = tick(rt, due)

    assert (report.processed, report.failed, report.deferred) == (2, 1, 0)
    assert [ledger.timer_row(oid, key)["status"] for oid in ("ob-1", BROKEN, "ob-3")] == ["fired", "failed", "fired"]
    assert ledger.load_state(BROKEN).version == 1  # nothing of its decision was kept
    assert ledger.load_state("ob-1").version == 2 and ledger.load_state("ob-3").version == 2
    kept = ledger.timer_row(BROKEN, key)
    assert kept["error"].startswith("ValidationError: set_by: ")
    why = ledger.audit_for(BROKEN)[-1]
    assert why["timer_key"] == key and why["rule"] == kept["rule"] and kept["error"] in why["line"]
    assert f"timer {key} failed: ValidationError: " in why["line"] and "set_by" in why["line"]
    assert "kickoff ledger retry-timers" in why["line"]
    assert ledger.status(due).failed_timers == 1 and ledger.status(due).due_timers == 0
    failed_line = next(line for line in report.lines if line["onboarding"] == BROKEN)
    assert failed_line["ignored"].startswith("failed: ValidationError")


def test_a_failed_timer_is_not_claimed_again_until_it_is_retried_then_fires(rt: Runtime) -> None:
    ledger = rt.ledger
    due, key = start(ledger, BROKEN)
    good = ledger.timer_row(BROKEN, key)["data"]
    set_timer_data(ledger, BROKEN, key, {"set_by": 5})
    assert tick(rt, due).failed == 1

    later = due + timedelta(hours=1)  # every lease has run out
    assert (tick(rt, later).processed, tick(rt, later).failed) == (0, 0)
    assert ledger.timer_row(BROKEN, key)["status"] == "failed"

    set_timer_data(ledger, BROKEN, key, good)  # what a fix does (here: the row as it was set)
    assert ledger.retry_failed_timers([BROKEN], now=later) == 1
    assert (ledger.timer_row(BROKEN, key)["status"], ledger.timer_row(BROKEN, key)["error"]) == ("pending", None)

    again = tick(rt, later)
    assert (again.processed, again.failed) == (1, 0)
    assert ledger.timer_row(BROKEN, key)["status"] == "fired"
    assert ledger.load_state(BROKEN).version == 2
    assert ledger.status(later).failed_timers == 0


def test_retrying_another_onboardings_failed_timers_leaves_these_failed(rt: Runtime) -> None:
    ledger = rt.ledger
    due, key = start(ledger, "ob-1", BROKEN)
    for oid in ("ob-1", BROKEN):
        set_timer_data(ledger, oid, key, {"set_by": 5})
    assert tick(rt, due).failed == 2

    assert ledger.retry_failed_timers(["ob-1"], now=due) == 1
    assert [ledger.timer_row(oid, key)["status"] for oid in ("ob-1", BROKEN)] == ["pending", "failed"]
    assert ledger.retry_failed_timers(now=due) == 1  # all that are left


def test_a_firing_postgresql_refuses_is_kept_failed_with_its_reason_and_the_rest_fire(
        pg_backend: LedgerBackend) -> None:
    ledger = pg_backend.open()
    try:
        rt = Runtime.build(load_config(REPO / "config"), ledger=ledger)
        long_id = "ob-" + "x" * 240  # fits an onboarding's id; its timer's event id does not fit the audit's
        due, key = start(ledger, "ob-1", long_id)

        report = tick(rt, due)

        assert (report.processed, report.failed) == (1, 1)
        assert [ledger.timer_row(oid, key)["status"] for oid in ("ob-1", long_id)] == ["fired", "failed"]
        why = ledger.audit_for(long_id)[-1]
        assert why["event_id"] is None and why["timer_key"] == key
        assert "failed: StringDataRightTruncation: value too long" in why["line"]
    finally:
        ledger.close()


def test_a_failed_timer_set_again_by_a_later_decision_is_pending_with_no_error(rt: Runtime) -> None:
    ledger = rt.ledger
    due, key = start(ledger, BROKEN)
    set_timer_data(ledger, BROKEN, key, {"set_by": 5})
    assert tick(rt, due).failed == 1
    rule = ledger.timer_row(BROKEN, key)["rule"]

    again = Timer(key=key, onboarding_id=BROKEN, fire_at=due + timedelta(days=1), rule=rule)
    ledger.commit_decision(Decision(state=ledger.load_state(BROKEN), set_timers=[again]), now=due)

    row = ledger.timer_row(BROKEN, key)
    assert (row["status"], row["error"], row["fire_at"]) == ("pending", None, again.fire_at)
    assert ledger.status(due).failed_timers == 0


def test_a_failed_timer_after_the_listed_items_is_still_named_by_the_runs_message(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big tick lists only its first ``MAX_LINES`` items; a timer that fails after them is
    still among the report's failures, and the Failed message names it, whose and why."""
    from flows.runs import failed_timers_message
    from flows.steps import process

    monkeypatch.setattr(process, "MAX_LINES", 2)
    due, key = start(rt.ledger, "ob-1", "ob-2", "ob-3", "ob-4")
    set_timer_data(rt.ledger, "ob-4", key, {"set_by": 5})  # claimed last: its timer row is the newest

    report = tick(rt, due)

    assert (report.processed, report.failed, report.left_out) == (3, 1, 2)
    assert "ob-4" not in {line["onboarding"] for line in report.lines}
    [failure] = report.failures
    assert failure.startswith(f"timer {key} (") and " of ob-4: ValidationError: set_by: " in failure
    message = failed_timers_message(report.failed, report.failures)
    assert message.startswith("1 timer failed, kept until `kickoff ledger retry-timers`: timer ")
    assert " of ob-4: ValidationError: set_by: " in message
