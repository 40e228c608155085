"""``kickoff ledger status|dead|replay|resume|failed|retry-inbox|retry-timers`` against a ledger under KICKOFF_HOME."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from ledger_builders import T0, action, decision, delivery, state, timer
from typer.testing import CliRunner

from cli import app
from kickoff.ledger import Firing, Ledger
from kickoff.model import ActionResult, ResultStatus
from kickoff.settings import KickoffSettings

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KICKOFF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KICKOFF_DATABASE_URL", raising=False)
    return tmp_path / "home"


@pytest.fixture
def seeded(home: Path) -> int:
    """2 inbox rows, 3 actions of which 1 dead, 1 due timer, hubspot paused; the dead row's id."""
    ledger = Ledger.open(settings=KickoffSettings())
    ledger.store_delivery(delivery(1))
    ledger.store_delivery(delivery(2))
    dead, ok, paused = action(1, tool="asana"), action(2), action(3)
    ids = ledger.commit_decision(
        decision(state(), actions=[dead, ok, paused], set_timers=[timer("nudge", fire_at=T0)]),
        now=T0,
    ).outbox_ids
    ledger.claim_outbox("asana", "w", 1, now=T0)
    ledger.record_result(
        ids[0],
        ActionResult(
            idempotency_key=dead.idempotency_key,
            status=ResultStatus.PERMANENT,
            reason="422 no such project",
        ),
        now=T0,
        claim=None,
    )
    ledger.claim_outbox("hubspot", "w", 1, now=T0)
    ledger.record_result(
        ids[1],
        ActionResult(idempotency_key=ok.idempotency_key, status=ResultStatus.AUTH, reason="401"),
        now=T0,
        claim=None,
    )
    ledger.close()
    assert (home / "ledger.sqlite3").exists()
    return ids[0]


def test_ledger_status_prints_counts(seeded: int) -> None:
    out = runner.invoke(app, ["ledger", "status"])

    assert out.exit_code == 0, out.output
    lines = dict(line.split(":", 1) for line in out.output.strip().splitlines())
    assert {k: v.strip() for k, v in lines.items()} == {
        "pending inbox": "2",
        "failed inbox": "0",
        "pending outbox": "2",
        "dead outbox": "1",
        "due timers": "1",
        "failed timers": "0",
        "paused tools": "hubspot",
    }


def test_ledger_status_json(seeded: int) -> None:
    out = runner.invoke(app, ["ledger", "status", "--json"])

    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == {
        "pending_inbox": 2,
        "failed_inbox": 0,
        "pending_outbox": 2,
        "dead_outbox": 1,
        "due_timers": 1,
        "failed_timers": 0,
        "paused_tools": ["hubspot"],
        "budgets": [],
    }


def test_ledger_status_on_a_fresh_home_creates_the_ledger(home: Path) -> None:
    out = runner.invoke(app, ["ledger", "status"])

    assert out.exit_code == 0, out.output
    assert "pending inbox:   0" in out.output
    assert (home / "ledger.sqlite3").exists()


def test_ledger_dead_lists_and_replay_revives_dead_letters(seeded: int) -> None:
    listed = runner.invoke(app, ["ledger", "dead"])
    assert listed.exit_code == 0
    assert f"{seeded}\tasana\tset_stage\tE1\tob-1" in listed.output
    assert "422 no such project" in listed.output
    as_json = json.loads(runner.invoke(app, ["ledger", "dead", "--json"]).output)
    assert [d["id"] for d in as_json] == [seeded]

    replayed = runner.invoke(app, ["ledger", "replay", str(seeded)])
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed 1: {seeded}" in replayed.output
    assert "no dead letters" in runner.invoke(app, ["ledger", "dead"]).output

    again = runner.invoke(app, ["ledger", "replay", str(seeded), "999"])
    assert again.exit_code == 1
    assert "not dead letters (left alone)" in again.output


def test_ledger_resume_lifts_a_pause(seeded: int) -> None:
    assert "hubspot resumed" in runner.invoke(app, ["ledger", "resume", "hubspot"]).output
    assert "hubspot was not paused" in runner.invoke(app, ["ledger", "resume", "hubspot"]).output
    assert (
        json.loads(runner.invoke(app, ["ledger", "status", "--json"]).output)["paused_tools"] == []
    )


def test_ledger_status_shows_each_daily_budget_used_allowed_and_reset(home: Path) -> None:
    from kickoff.ledger import Budget

    ledger = Ledger.open(settings=KickoffSettings())
    ledger.record_budget(Budget(tool="hubspot", account="default", used=240_100, allowed=250_000,
                                resets_at=T0.replace(hour=0, minute=0) + timedelta(days=1), updated_at=T0))
    ledger.record_budget(Budget(tool="salesforce", account="default", used=18, allowed=5_000, resets_at=None,
                                updated_at=T0))
    ledger.close()

    out = runner.invoke(app, ["ledger", "status"])
    assert out.exit_code == 0, out.output
    reset = (T0.replace(hour=0, minute=0) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert f"budget hubspot/default: used 240,100 of 250,000, resets {reset}Z" in out.output
    assert "budget salesforce/default: used 18 of 5,000, rolling" in out.output
    listed = json.loads(runner.invoke(app, ["ledger", "status", "--json"]).output)["budgets"]
    assert [(b["tool"], b["used"], b["allowed"]) for b in listed] == [("hubspot", 240_100, 250_000),
                                                                      ("salesforce", 18, 5_000)]


def test_limits_show_lists_each_rate_limit_then_each_daily_budget_the_ledger_keeps(home: Path) -> None:
    from kickoff.ledger import Budget

    assert "daily budgets:  none reported yet" in runner.invoke(app, ["limits", "show"]).output
    ledger = Ledger.open(settings=KickoffSettings())
    ledger.record_budget(Budget(tool="hubspot", account="default", used=249_500, allowed=250_000,
                                resets_at=T0.replace(hour=0, minute=0) + timedelta(days=1), updated_at=T0))
    ledger.close()

    out = runner.invoke(app, ["limits", "show"])

    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("asana ") and "vendor 150/60s" in lines[0]
    reset = (T0.replace(hour=0, minute=0) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    assert lines[-1] == f"budget hubspot/default: used 249,500 of 250,000, resets {reset}Z"
    assert "none reported yet" not in out.output


def test_ledger_retry_timers_sets_failed_timers_pending_again_and_status_counts_them(seeded: int) -> None:
    ledger = Ledger.open(settings=KickoffSettings())
    (due,) = ledger.claim_due_timers(now=T0, limit=10, worker="tick")
    failed = Firing(due, None, "timer:ob-1:nudge", failure="TypeError: no")
    assert ledger.commit_firings([failed], now=T0) == [failed]
    ledger.close()
    assert "failed timers:   1" in runner.invoke(app, ["ledger", "status"]).output

    out = runner.invoke(app, ["ledger", "retry-timers", "--onboarding", "ob-1"])

    assert out.exit_code == 0, out.output
    assert out.output.strip() == "1 failed timer pending again"
    counts = json.loads(runner.invoke(app, ["ledger", "status", "--json"]).output)
    assert (counts["failed_timers"], counts["due_timers"]) == (0, 1)
    assert runner.invoke(app, ["ledger", "retry-timers"]).output.strip() == "0 failed timers pending again"


def test_ledger_failed_lists_failed_facts_and_timers_with_why_and_retry_inbox_decides_facts_again(
        seeded: int) -> None:
    ledger = Ledger.open(settings=KickoffSettings())
    fact = ledger.store_delivery(delivery(3))[0]
    ledger.fail_inbox(fact, "mapping: stage: unknown id 99", now=T0)
    (due,) = ledger.claim_due_timers(now=T0, limit=10, worker="tick")
    ledger.commit_firings([Firing(due, None, "timer:ob-1:nudge", failure="TypeError: no")], now=T0)
    ledger.close()

    out = runner.invoke(app, ["ledger", "failed"])

    assert out.exit_code == 0, out.output
    facts, timers = [line for line in out.output.splitlines() if line.startswith("fact ")], \
        [line for line in out.output.splitlines() if line.startswith("timer ")]
    assert facts == [f"fact {fact}\thubspot webhook\t2025-03-03 09:00Z\t-\tmapping: stage: unknown id 99"]
    assert len(timers) == 1 and timers[0].startswith("timer nudge\tob-1\t")
    assert timers[0].endswith("\tTypeError: no")
    listed = json.loads(runner.invoke(app, ["ledger", "failed", "--json"]).output)
    assert [f["id"] for f in listed["facts"]] == [fact] and [t["key"] for t in listed["timers"]] == ["nudge"]

    retried = runner.invoke(app, ["ledger", "retry-inbox", str(fact), "1"])
    assert retried.exit_code == 1  # row 1 is pending, not failed: said, and left alone
    assert f"1 failed fact pending again: {fact}" in retried.output and "not failed (left alone): 1" in retried.output
    counts = json.loads(runner.invoke(app, ["ledger", "status", "--json"]).output)
    assert (counts["failed_inbox"], counts["pending_inbox"]) == (0, 3)
    assert runner.invoke(app, ["ledger", "retry-inbox"]).output.strip() == "0 failed facts pending again: -"
