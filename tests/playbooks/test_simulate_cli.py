"""``kickoff simulate``: the whole timeline from an events file, the same every time."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from tests.playbooks.conftest import PLAYBOOKS, ROOT, SCENARIOS

runner = CliRunner()
ASSIST = SCENARIOS / "assist-se-60-days.jsonl"


def simulate(*args: str):
    return runner.invoke(app, ["simulate", *args])


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def actions(text: str) -> list[dict]:
    return [line for line in jsonl(text) if line["kind"] != "ignored"]


def with_lines(tmp_path: Path, *extra: str, keep: int = 7) -> Path:
    """The assist scenario's first ``keep`` lines, then ``extra`` lines."""
    lines = ASSIST.read_text(encoding="utf-8").splitlines()[:keep] + list(extra)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def line(type_: str, at: str, data: dict, **more: str) -> str:
    return json.dumps({"type": type_, "occurred_at": at, "subject": "se-exempel-bygg", "data": data, **more})


def test_simulate_prints_the_whole_60_day_assist_timeline_deterministically():
    first = simulate("--playbook", "assist-se", "--events", str(ASSIST))
    second = simulate("--playbook", "assist-se", "--events", str(ASSIST))
    assert first.exit_code == 0, first.stderr
    assert first.stdout == second.stdout
    lines = actions(first.stdout)
    assert all(set(line) >= {"at", "rule", "tool", "kind", "due", "payload"} for line in lines)
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


def test_each_task_due_time_is_a_column_in_the_tenants_zone():
    lines = actions(simulate("-p", "assist-se", "-e", str(ASSIST)).stdout)
    tasks = [line for line in lines if line["kind"] == "create_task"]
    assert tasks and all(line["due"] == datetime.fromisoformat(line["payload"]["due_at"]).isoformat() for line in tasks)
    assert tasks[0]["due"] == "2024-10-22T08:00:00+02:00"
    assert all(line["due"] is None for line in lines if line["kind"] != "create_task")


def test_simulate_until_a_time_stops_the_clock_there():
    result = simulate("-p", "assist-se", "-e", str(ASSIST), "--until", "2024-10-25T08:00:00+02:00")
    lines = actions(result.stdout)
    assert lines[-1]["at"] == "2024-10-25T08:00:00+02:00" and lines[-1]["rule"] == "A8"
    local = simulate("-p", "assist-se", "-e", str(ASSIST), "--until", "2024-10-25T07:59")
    assert len(local.stdout.splitlines()) == len(lines) - 1  # no offset: the tenant's local time


def test_simulate_until_a_date_runs_to_the_end_of_that_day():
    lines = actions(simulate("-p", "assist-se", "-e", str(ASSIST), "--until", "2024-10-22").stdout)
    assert lines[-1]["at"] == "2024-10-22T10:30:00+02:00"  # the day's 08:00 moves and its 10:30 call
    assert [line["rule"] for line in lines if line["at"].startswith("2024-10-22T08:00")] == ["A2", "A2", "A7"]
    bad = simulate("-p", "assist-se", "-e", str(ASSIST), "--until", "next week")
    assert bad.exit_code == 2 and "--until: a date (2024-10-24: to the end of that day) or a time" in bad.stderr


def test_simulate_table_is_a_readable_timeline_with_a_due_column():
    result = simulate("-p", "assist-se", "-e", str(ASSIST), "--format", "table")
    assert result.exit_code == 0
    rows = result.stdout.splitlines()
    assert rows[0].split() == ["at", "rule", "tool", "kind", "due", "what"]
    assert [r.split() for r in rows if "A2    hubspot  set_stage" in r] == [
        ["2024-10-22", "Tue", "08:00", "+0200", "A2", "hubspot", "set_stage", "onboarding_in_progress"]]
    [call] = [r for r in rows if "(day 3)" in r]
    assert "create_task    2024-10-25 Fri 17:00  Call the main user" in call
    assert len(rows) == 36


def test_ignored_events_are_printed_with_their_line_and_why(tmp_path: Path):
    path = with_lines(tmp_path, line("nps.received", "2025-01-10T10:00:00+01:00", {"score": 3}),
                      line("case.updated", "2025-01-10T11:00:00+01:00", {"status": "closed"}, subject="other"))
    result = simulate("-p", "assist-se", "-e", str(path))
    ignored = [line for line in jsonl(result.stdout) if line["kind"] == "ignored"]
    assert ignored == [
        {"at": "2025-01-10T10:00:00+01:00", "kind": "ignored", "event": "nps.received", "line": 8,
         "onboarding": "se-exempel-bygg", "reason": "assist-se has no trigger on nps.received"},
        {"at": "2025-01-10T11:00:00+01:00", "kind": "ignored", "event": "case.updated", "line": 9,
         "onboarding": "other", "reason": "no onboarding other yet, and case.updated starts none "
                                          "(assist-se starts on contract.signed)"},
    ]
    table = simulate("-p", "assist-se", "-e", str(path), "-f", "table").stdout.splitlines()
    assert any("ignored" in row and "nps.received (line 8): assist-se has no trigger on nps.received" in row
               for row in table)


def test_an_event_a_trigger_does_not_take_in_this_stage_says_which_stage_it_needs(tmp_path: Path):
    path = with_lines(tmp_path, line("call.logged", "2024-10-15T10:00:00+02:00", {"outcome": "answered"}), keep=1)
    [ignored] = [x for x in jsonl(simulate("-p", "assist-se", "-e", str(path)).stdout) if x["kind"] == "ignored"]
    assert ignored["reason"].startswith("stage new (active): A7 only in stage onboarding_in_progress")


def test_a_time_without_offset_in_the_file_is_the_tenants_local_time(tmp_path: Path):
    path = with_lines(tmp_path, line("nps.received", "2025-01-10T10:00", {"score": 3}))
    [ignored] = [x for x in jsonl(simulate("-p", "assist-se", "-e", str(path)).stdout) if x["kind"] == "ignored"]
    assert ignored["at"] == "2025-01-10T10:00:00+01:00"  # Europe/Stockholm


def test_a_tenant_running_another_playbook_is_refused():
    result = simulate("-p", "assist-se", "-e", str(ASSIST), "--tenant", "core")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip() == (
        "kickoff: --tenant: core runs the playbook core-implementation, not assist-se (in its time zone "
        "and calendar); assist-se is run by assist")


def test_the_tenant_alone_names_the_playbook_and_its_zone_is_used(tmp_path: Path):
    config = tmp_path / "config"
    shutil.copytree(PLAYBOOKS, config / "playbooks")
    tenants = yaml.safe_load((ROOT / "config" / "tenants.yaml").read_text(encoding="utf-8"))
    tenants["tenants"]["assist-br"] = {**tenants["tenants"]["assist"], "timezone": "America/Sao_Paulo"}
    (config / "tenants.yaml").write_text(yaml.safe_dump(tenants), encoding="utf-8")
    result = simulate("-t", "assist-br", "-e", str(ASSIST), "--until", "2024-10-23", "--config-dir", str(config))
    moves = [x for x in actions(result.stdout) if x["rule"] == "A2" and x["kind"] == "set_stage"]
    assert moves[0]["at"] == "2024-10-22T08:00:00-03:00"


def test_the_tenants_calendar_counts_business_days(tmp_path: Path):
    """A4's task is due one business day later: after a Swedish Christmas, not on julafton."""
    path = tmp_path / "events.jsonl"
    signed = {"account_name": "Exempel Bygg AB", "signed_on": "2024-12-20", "start_on": "2025-01-07",
              "main_user": "Anna Exempel", "main_user_email": "anna@example.com", "licences": 25}
    product = {"account_name": "Exempel Bygg AB", "main_user": "Anna Exempel", "email": "anna@example.com",
               "licences": 20}
    path.write_text(line("contract.signed", "2024-12-20T10:00", signed) + "\n"
                    + line("account.created", "2024-12-23T14:05", product) + "\n", encoding="utf-8")
    lines = actions(simulate("-p", "assist-se", "-e", str(path), "--until", "2024-12-23").stdout)
    [task] = [x for x in lines if x["rule"] == "A4"]
    assert task["due"] == "2024-12-27T14:05:00+01:00"


@pytest.mark.parametrize("name", sorted(p.stem for p in SCENARIOS.glob("*.jsonl")))
def test_every_shipped_scenario_runs(name):
    playbook = next(p.stem for p in PLAYBOOKS.glob("*.yaml") if name.startswith(p.stem + "-"))
    result = simulate("-p", playbook, "-e", str(SCENARIOS / f"{name}.jsonl"))
    assert result.exit_code == 0, result.stderr
    assert len(actions(result.stdout)) >= 10


BAD_LINES = [
    ("{not json", "not JSON"),
    (line("meeting.teleported", "2024-10-23T10:00:00+02:00", {}), "type: unknown event type 'meeting.teleported'; one of"),
    (line("timer.fired", "2024-10-23T10:00:00+02:00", {"timer": "a8_call", "rule": "A8"}),
     "type: timer.fired is Kickoff's own event"),
    (line("nps.received", "2024-10-23T10:00:00+02:00", {"score": 11}),
     "nps.received: data.score: Input should be less than or equal to 10"),
    (line("nps.received", "2024-10-23T10:00:00+02:00", {"score": "5"}), "nps.received: data.score: Input should be a valid integer"),
    (line("call.logged", "2024-10-23T10:00:00+02:00", {}), "call.logged: data.outcome: missing"),
    (line("contract.signed", "2024-10-23T10:00:00+02:00", {"account_name": "Exempel", "signed_on": "2024-10-23",
                                                           "startOn": "2024-11-01"}),
     "contract.signed: data.startOn: unknown key; contract.signed data has: account_name, signed_on, start_on, "),
    (line("call.logged", "yesterday", {"outcome": "answered"}), "call.logged: occurred_at: an ISO 8601 time"),
    (line("call.logged", "2024-10-01T10:00:00+02:00", {"outcome": "answered"}),
     "occurred_at is earlier than the previous event's"),
    ('{"type": "call.logged", "subject": "se-exempel-bygg", "data": {"outcome": "answered"}}',
     "call.logged: occurred_at: missing"),
    ('{"at": "2024-10-23T10:00:00+02:00", "type": "call.logged", "subject": "s", "data": {"outcome": "answered"}}',
     "at: unknown key; an event has: id, type, occurred_at, subject, tenant, data"),
    (line("call.logged", "2024-10-23T10:00:00+02:00", {"outcome": "answered"}, tenant="core"),
     "tenant 'core', but the file is simulated as tenant 'assist'"),
]


@pytest.mark.parametrize(("line3", "reason"), BAD_LINES)
def test_a_bad_events_file_names_the_line_and_the_reason(tmp_path: Path, line3, reason):
    path = with_lines(tmp_path, line3, keep=2)
    result = simulate("-p", "assist-se", "-e", str(path))
    assert result.exit_code == 2
    assert result.stdout == ""
    [message] = result.stderr.splitlines()
    assert message.startswith(f"kickoff: {path}:3: ")
    assert reason in message


def test_unknown_playbook_or_missing_file_fails_in_one_line_listing_the_playbooks(tmp_path: Path):
    missing = simulate("-p", "no-such-playbook", "-e", str(ASSIST))
    assert missing.exit_code == 2 and ":?" not in missing.stderr
    assert "no playbook 'no-such-playbook' in " in missing.stderr
    assert missing.stderr.strip().endswith("the playbooks: " + ", ".join(sorted(p.stem for p in PLAYBOOKS.glob("*.yaml"))))
    nofile = simulate("-p", "assist-se", "-e", str(tmp_path / "nope.jsonl"))
    assert nofile.exit_code == 2 and "cannot read" in nofile.stderr
    neither = simulate("-e", str(ASSIST))
    assert neither.exit_code == 2 and "--playbook or --tenant" in neither.stderr
