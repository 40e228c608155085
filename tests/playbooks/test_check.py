"""``playbook check``: every shipped playbook passes; broken ones fail with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from kickoff.playbooks import check_files, load_playbook
from kickoff.playbooks.loader import PlaybookError
from tests.playbooks.conftest import PLAYBOOKS

runner = CliRunner()


def broken(tmp_path: Path, name: str, old: str, new: str) -> tuple[Path, int]:
    """A copy of a shipped playbook with one change; returns the file and the changed line."""
    text = (PLAYBOOKS / f"{name}.yaml").read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path = tmp_path / f"{name}.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path, line


def messages(path: Path) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in check_files([path])]


def test_every_shipped_playbook_checks_clean():
    paths = sorted(PLAYBOOKS.glob("*.yaml"))
    assert [p.stem for p in paths] == [
        "assist-se", "core-implementation", "marketplace-classic", "network-onboarding", "retention-alerts",
    ]
    assert check_files(paths) == []


def test_check_catches_an_unknown_stage_with_file_and_line(tmp_path):
    path, line = broken(tmp_path, "assist-se", "{tool: hubspot, set_stage: follow_up}", "{tool: hubspot, set_stage: folow_up}")
    found = check_files([path])
    assert [(p.file, p.line) for p in found if "unknown stage 'folow_up'" in p.message] == [(str(path), line)]
    assert str(found[0]).startswith(f"{path}:")


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    pytest.param("network-onboarding", "  - rule: E5\n    on: call.logged", "  - rule: E7\n    on: call.logged",
                 "unknown rule id 'E7' (not in RULES.md)", id="an_unknown_rule_id"),
    pytest.param("network-onboarding", "  - rule: E5\n    on: call.logged", "  - rule: A5\n    on: call.logged",
                 "rule A5 belongs to family A, not E", id="a_rule_of_another_family"),
    pytest.param("network-onboarding", "closed:             {terminal: true,", "closed:             {terminal: false,",
                 "stage 'closed' has no way out (mark it terminal: true if it is an end)", id="a_stage_with_no_way_out"),
])
def test_check_catches_with_the_changed_line(tmp_path, name, old, new, message):
    path, line = broken(tmp_path, name, old, new)
    assert (line, message) in messages(path)


def test_check_catches_an_unreachable_stage(tmp_path):
    path, _ = broken(tmp_path, "core-implementation", "  closed:     {seed:", "  parked:     {description: never used}\n  closed:     {seed:")
    text = path.read_text(encoding="utf-8")
    line = text[: text.index("  parked:")].count("\n") + 1
    assert (line, "stage 'parked' is unreachable from the start stage 'new'") in messages(path)


def test_check_catches_a_timer_nobody_handles(tmp_path):
    path, line = broken(tmp_path, "network-onboarding", "set_timer: {key: e3_welcome,", "set_timer: {key: e3_welcom,")
    found = messages(path)
    assert any(ln == line and "timer 'e3_welcom' is set but no trigger handles it" in m for ln, m in found)
    assert any("trigger for timer 'e3_welcome', but no line sets that timer" in m for _, m in found)


def test_check_catches_a_timer_that_re_arms_forever(tmp_path):
    path, _ = broken(tmp_path, "assist-se", "  stop_flow:\n    - cancel_timers: all", "  stop_flow:\n    - cancel_timers: [a2_start]")
    assert any("timer 'a8_call' re-arms itself and nothing cancels it" in m for _, m in messages(path))


def test_check_catches_unknown_fields_owners_tools_and_facts(tmp_path):
    path, _ = broken(tmp_path, "assist-se", "          owner: onboarding_team\n          task_type: call\n          due: {from: event, time: \"17:00\"}",
                        "          owner: onboarding_tem\n          task_type: call\n          colour: red\n          due: {from: event, time: \"17:00\"}")
    found = messages(path)
    assert any("unknown owner 'onboarding_tem'" in m for _, m in found)
    assert any(m.startswith("unknown field 'colour' in create_task") for _, m in found)
    path2, _ = broken(tmp_path, "marketplace-classic", "when: facts.online\n", "when: facts.onlin\n")
    text = path2.read_text(encoding="utf-8")
    line2 = text[: text.index("  - rule: T10\n    on: timer.fired")].count("\n") + 1  # the trigger's line
    assert (line2, "unknown field facts.onlin in 'facts.onlin': declare it under facts:") in messages(path2)
    path3, line3 = broken(tmp_path, "retention-alerts", "- {tool: zendesk, set_stage: closed}", "- {tool: jira, set_stage: closed}")
    assert any(ln == line3 and "unknown tool 'jira'" in m for ln, m in messages(path3))


def test_check_catches_a_check_rule_that_passes_silently(tmp_path):
    old = """      - tool: salesforce
        create_task:
          subject: "Starting Date refused"""
    new = """      - tool: salesforce
        add_note:
          body: "Starting Date refused"""
    path, _ = broken(tmp_path, "marketplace-classic", old, new)
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        '          body: "Agree a Starting Date at most 14 days after the signature with the partner."\n'
        "          owner: sales\n          priority: high\n          due: {from: event, business_days: 1}\n",
        "",
    )
    path.write_text(text, encoding="utf-8")
    line = text[: text.index("  - rule: T3\n")].count("\n") + 1
    assert (line, "check T3 never creates a task or an alert when it fails") in messages(path)


def test_check_reports_yaml_and_schema_errors_with_lines(tmp_path):
    path, line = broken(tmp_path, "network-onboarding", "    on: meeting.cancelled", "    on: meeting.canceled")
    with pytest.raises(PlaybookError) as info:
        load_playbook(path)
    assert info.value.line == line  # the line of the wrong event name itself
    assert info.value.message.startswith("triggers.") and ".on.0: Input should be" in info.value.message
    path2, line2 = broken(tmp_path, "assist-se", "  follow_up:              {seed:", "  follow_up:              {seed: [")
    [problem] = check_files([path2])
    assert problem.line == line2 and "not valid YAML" in problem.message


def test_playbook_check_cli_ok_and_failing(tmp_path):
    ok = runner.invoke(app, ["playbook", "check"])
    assert ok.exit_code == 0, ok.output
    assert "playbooks ok: 5 checked" in ok.stdout
    path, line = broken(tmp_path, "assist-se", "{tool: hubspot, set_stage: follow_up}", "{tool: hubspot, set_stage: folow_up}")
    bad = runner.invoke(app, ["playbook", "check", str(path)])
    assert bad.exit_code == 1
    assert f"{path}:{line}: unknown stage 'folow_up'" in bad.stderr
    listed = runner.invoke(app, ["playbook", "list"])
    assert listed.exit_code == 0 and listed.stdout.splitlines()[0].startswith("assist-se\tA\tseed 002")


@pytest.mark.parametrize(("name", "old", "new", "message"), [
    pytest.param("retention-alerts", "  facts: [open_opportunity, request_open,", "  facts: [open_oportunity, request_open,",
                 "cycles: unknown fact 'open_oportunity': declare it under facts:", id="a_cycle_fact_not_declared"),
    pytest.param("retention-alerts", "nps_band(data.score) != 'high']\n  stage: new", "nps_band(data.score) != 'high']\n  stage: nwe",
                 "unknown stage 'nwe' in cycles", id="a_cycle_stage_unknown"),
    pytest.param("retention-alerts", "nps: {facts: [nps_band, nps_score]", "nps: {facts: [nps_bnd, nps_score]",
                 "signal 'nps': unknown fact 'nps_bnd': declare it under facts:", id="a_signal_fact_not_declared"),
    pytest.param("network-onboarding", "    tasks: [follow_up]", "    tasks: [folow_up]",
                 "tasks: 'folow_up' is not the id of any create_task or create_record", id="a_task_that_is_no_task"),
])
def test_check_catches_cycles_signals_and_tasks(tmp_path, name, old, new, message):
    path, _ = broken(tmp_path, name, old, new)
    assert message in [m for _, m in messages(path)]
