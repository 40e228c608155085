"""``kickoff simulate``: the whole timeline from an events file, the same every time."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from tests.playbooks.conftest import PLAYBOOKS, SCENARIOS

runner = CliRunner()
ASSIST = SCENARIOS / "assist-se-60-days.jsonl"


def simulate(*args: str):
    return runner.invoke(app, ["simulate", *args])


def test_simulate_prints_the_whole_60_day_assist_timeline_deterministically():
    first = simulate("--playbook", "assist-se", "--events", str(ASSIST))
    second = simulate("--playbook", "assist-se", "--events", str(ASSIST))
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert all(set(line) >= {"at", "rule", "tool", "kind", "payload"} for line in lines)
    stages = [(line["at"], line["payload"]["stage"]) for line in lines if line["kind"] == "set_stage" and "record" not in line["payload"]]
    assert stages == [
        ("2024-10-22T08:00:00+02:00", "onboarding_in_progress"),
        ("2024-11-21T08:00:00+01:00", "follow_up"),
        ("2024-12-21T08:00:00+01:00", "inactive"),
        ("2024-12-27T09:40:00+01:00", "closed"),
    ]
    times = [datetime.fromisoformat(line["at"]) for line in lines]
    assert times == sorted(times)
    calls = [line["at"][:10] for line in lines if line["rule"] == "A8" and line["kind"] == "create_task"]
    assert calls == ["2024-10-25", "2024-10-29", "2024-11-05", "2024-11-12", "2024-11-19",
                     "2024-11-26", "2024-12-03", "2024-12-10", "2024-12-17"]
    assert {line["rule"] for line in lines} == {f"A{n}" for n in range(1, 15)} - {"A11", "A15"}
    assert len(lines) == 35


def test_simulate_until_stops_the_clock():
    result = simulate("-p", "assist-se", "-e", str(ASSIST), "--until", "2024-10-25T08:00:00+02:00")
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["at"] == "2024-10-25T08:00:00+02:00" and lines[-1]["rule"] == "A8"
    local = simulate("-p", "assist-se", "-e", str(ASSIST), "--until", "2024-10-25T07:59")
    assert len(local.stdout.splitlines()) == len(lines) - 1  # no offset: the tenant's local time


def test_simulate_table_is_a_readable_timeline():
    result = simulate("-p", "assist-se", "-e", str(ASSIST), "--format", "table")
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["at", "rule", "tool", "kind", "what"]
    assert "2024-10-22 Tue 08:00 +0200  A2    hubspot  set_stage      onboarding_in_progress" in rows
    assert len(rows) == 36


def test_simulate_uses_the_tenant_time_zone():
    result = simulate("-p", "assist-se", "-e", str(ASSIST), "--tenant", "core", "--until", "2024-10-23")
    moves = [json.loads(x) for x in result.stdout.splitlines() if '"A2"' in x and "set_stage" in x]
    assert moves[0]["at"] == "2024-10-22T08:00:00-03:00"


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.jsonl")))
def test_every_shipped_scenario_runs(name):
    playbook = next(p.stem for p in PLAYBOOKS.glob("*.yaml") if name.startswith(p.stem + "-"))
    result = simulate("-p", playbook, "-e", str(SCENARIOS / f"{name}.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) >= 10


@pytest.mark.parametrize(
    ("line3", "reason"),
    [
        ("{not json", "not JSON"),
        ('{"at": "2024-10-23T10:00:00+02:00", "type": "meeting.teleported", "data": {}}', "unknown event type 'meeting.teleported'"),
        ('{"at": "2024-10-23T10:00:00+02:00", "type": "nps.received", "data": {"score": 11}}', "nps.received: score: Input should be less than or equal to 10"),
        ('{"at": "2024-10-23T10:00:00+02:00", "type": "call.logged", "data": {}}', "call.logged: outcome: Field required"),
        ('{"at": "yesterday", "type": "call.logged", "data": {"outcome": "answered"}}', "'at' is not an ISO-8601 time"),
        ('{"at": "2024-10-01T10:00:00+02:00", "type": "call.logged", "data": {"outcome": "answered"}}', "'at' is earlier than the previous event's"),
        ('{"type": "call.logged", "data": {"outcome": "answered"}}', "'at' is missing"),
        ('{"at": "2024-10-23T10:00:00+02:00", "type": "call.logged", "payload": {}}', "unknown key(s) payload"),
    ],
)
def test_a_bad_events_file_names_the_line_and_the_reason(tmp_path: Path, line3, reason):
    lines = ASSIST.read_text(encoding="utf-8").splitlines()[:2] + [line3]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = simulate("-p", "assist-se", "-e", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    [message] = result.stderr.splitlines()
    assert message.startswith(f"kickoff: {path}:3: ")
    assert reason in message


def test_unknown_playbook_or_missing_file_fails_in_one_line(tmp_path: Path):
    missing = simulate("-p", "no-such-playbook", "-e", str(ASSIST))
    assert missing.exit_code == 2 and "no such playbook file" in missing.stderr
    nofile = simulate("-p", "assist-se", "-e", str(tmp_path / "nope.jsonl"))
    assert nofile.exit_code == 2 and "cannot read" in nofile.stderr
