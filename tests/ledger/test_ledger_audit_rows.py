"""The audit keeps one row per decision, its lines in order, and reads back line by line with
each line's own rule: a tick's decision of a dozen lines is one row written (and kept), not a
dozen. Rows written one line each (by earlier versions) read the same."""

from __future__ import annotations

from datetime import timedelta

from ledger_builders import T0, decision, state, timer
from sqlalchemy import func, insert, select

from kickoff.ledger import Ledger
from kickoff.ledger.records import Firing
from kickoff.ledger.schema import audit
from kickoff.ledger.story import story


def _rows(ledger: Ledger) -> int:
    with ledger.transaction() as conn:
        return int(conn.execute(select(func.count()).select_from(audit)).scalar_one())


def test_a_decisions_lines_are_one_row_read_back_line_by_line_with_each_lines_rule(ledger: Ledger) -> None:
    lines = ["E1: contract signed", "no rule named here", "T1: nudge in 3 days\nif no meeting", "A9: e-mail set"]
    ledger.commit_decision(decision(state(), audit=lines), event_id="evt-1", now=T0)

    assert _rows(ledger) == 1
    read = ledger.audit_for("ob-1")
    assert [(a["rule"], a["line"]) for a in read] == [
        ("E1", "E1: contract signed"), (None, "no rule named here"),
        ("T1", "T1: nudge in 3 days if no meeting"),  # a line's own break: a space, still one line
        ("A9", "A9: e-mail set")]
    assert {a["event_id"] for a in read} == {"evt-1"}
    with ledger.transaction() as conn:
        told = story(conn, "ob-1")
    assert told is not None and [d["line"] for d in told.decisions] == [a["line"] for a in read]


def test_a_claim_of_fired_timers_writes_one_audit_row_per_decision(ledger: Ledger) -> None:
    """The tick's bulk path (``Ledger.commit_firings``): three firings, each with a few lines,
    and one that failed: four rows, and each onboarding's lines in its own order."""
    firings = []
    for n in range(3):
        onboarding = f"ob-{n}"
        ledger.commit_decision(decision(state(onboarding), set_timers=[timer("wake", onboarding)], audit=[]),
                               now=T0 - timedelta(hours=1))
    claimed = {t.onboarding_id: t for t in ledger.claim_due_timers(now=T0 + timedelta(days=30), limit=10, worker="w")}
    for n in range(2):
        current = ledger.load_state(f"ob-{n}")
        assert current is not None
        lines = [f"timer wake of ob-{n} fired", f"A{n + 2}: stage moved", "A8: call set"]
        firings.append(Firing(claimed[f"ob-{n}"], decision(current, audit=lines), f"evt-{n}"))
    firings.append(Firing(claimed["ob-2"], None, "evt-2", failure="ValueError: no anchor"))
    before = _rows(ledger)

    committed = ledger.commit_firings(firings, now=T0 + timedelta(days=30))

    assert all(isinstance(f, Firing) for f in committed)
    assert _rows(ledger) - before == 3
    assert [(a["rule"], a["timer_key"]) for a in ledger.audit_for("ob-1")] == [
        (None, "wake"), ("A3", "wake"), ("A8", "wake")]
    [failed] = ledger.audit_for("ob-2")
    assert failed["line"].startswith("T1: timer wake failed: ValueError: no anchor") and failed["rule"] == "T1"


def test_rows_of_one_line_each_written_before_read_the_same(ledger: Ledger) -> None:
    ledger.commit_decision(decision(state(), audit=[]), now=T0)
    with ledger.transaction() as conn:
        conn.execute(insert(audit), [{"at": T0, "onboarding_id": "ob-1", "event_id": "evt-0", "timer_key": None,
                                      "rule": rule, "line": line}
                                     for rule, line in (("E1", "E1: signed"), ("T2", "T2: booked"))])
    assert [(a["rule"], a["line"]) for a in ledger.audit_for("ob-1")] == [("E1", "E1: signed"), ("T2", "T2: booked")]
