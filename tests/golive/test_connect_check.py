"""``kickoff connect check``: per tool, one line, ``ok`` or what is wrong and the setting that
fixes it; exit 0 only when every tool is ok; no secret ever printed."""

from __future__ import annotations

import pytest

from tests.golive.conftest import kickoff


def lines(result) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in result.stdout.splitlines())


def test_given_the_sandbox_credentials_then_every_tool_is_ok_and_exit_0(seeded):
    result = kickoff("connect", "check")
    assert result.exit_code == 0, result.output
    found = lines(result)
    assert set(found) == {"hubspot", "salesforce", "zendesk", "movidesk", "asana", "dealbuilder", "slack", "email"}
    assert all(v.startswith("ok") for v in found.values())
    assert found["dealbuilder"] == "ok (nothing to call: the webhook key is set)"


def test_given_a_wrong_hubspot_token_then_token_rejected_naming_the_setting_and_exit_1(seeded, monkeypatch):
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-eu1-not-the-token")
    result = kickoff("connect", "check", "hubspot", "slack")
    assert result.exit_code == 1
    assert lines(result) == {"hubspot": "token rejected: set HUBSPOT_ACCESS_TOKEN", "slack": "ok"}


def test_given_a_token_without_the_owners_scope_then_missing_scope_named_as_hubspot_does(seeded, monkeypatch):
    everything_but_owners = ["tickets", "crm.objects.contacts.read", "crm.objects.contacts.write",
                             "crm.objects.companies.write"]
    seeded.seed({"hubspot": {"tokens": [{"token": "pat-no-owners", "scopes": everything_but_owners}]}})
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-no-owners")
    result = kickoff("connect", "check", "hubspot")
    assert result.exit_code == 1
    assert lines(result)["hubspot"] == ("missing scope crm.objects.owners.read (read the owners the owner roles "
                                        "stand for): grant it to the private app of HUBSPOT_ACCESS_TOKEN")


def test_given_a_token_without_the_write_scopes_then_each_is_named_though_reads_work(seeded, monkeypatch):
    seeded.seed({"hubspot": {"tokens": [{"token": "pat-read-only", "scopes": ["tickets", "crm.objects.owners.read"]}]}})
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-read-only")
    line = lines(kickoff("connect", "check", "hubspot"))["hubspot"]
    assert "missing scope crm.objects.contacts.write (create tasks and notes)" in line
    assert "missing scope crm.objects.companies.write" in line


def test_given_an_unreachable_host_then_host_unreachable_naming_the_base_url_setting(seeded, monkeypatch):
    monkeypatch.setenv("KICKOFF_ZENDESK_BASE_URL", "http://127.0.0.1:9")
    result = kickoff("connect", "check", "zendesk")
    assert result.exit_code == 1
    assert lines(result) == {"zendesk": "host unreachable: KICKOFF_ZENDESK_BASE_URL"}


@pytest.mark.parametrize(("tool", "variable", "expected"), [
    ("slack", "SLACK_BOT_TOKEN", "token rejected: set SLACK_BOT_TOKEN"),
    ("asana", "ASANA_ACCESS_TOKEN", "token rejected: set ASANA_ACCESS_TOKEN"),
    ("movidesk", "MOVIDESK_TOKEN", "token rejected: set MOVIDESK_TOKEN"),
    ("zendesk", "ZENDESK_API_TOKEN", "token rejected: set ZENDESK_API_TOKEN"),
    ("salesforce", "SALESFORCE_SESSION_ID", "session_id rejected: set SALESFORCE_SESSION_ID"),
])
def test_given_a_wrong_token_for_each_api_tool_then_its_setting_is_named(seeded, monkeypatch, tool, variable,
                                                                         expected):
    monkeypatch.setenv(variable, "wrong-value-0000")
    assert lines(kickoff("connect", "check", tool)) == {tool: expected}


def test_given_a_slack_token_without_channels_read_then_missing_scope(seeded, monkeypatch):
    seeded.seed({"slack": {"tokens": [{"token": "xoxb-post-only", "scopes": ["chat:write", "channels:history"]}]}})
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-post-only")
    assert lines(kickoff("connect", "check", "slack"))["slack"].startswith("missing scope channels:read")


def test_given_no_dealbuilder_key_then_the_setting_is_named(seeded, monkeypatch):
    monkeypatch.delenv("DEALBUILDER_WEBHOOK_KEY", raising=False)
    result = kickoff("connect", "check", "dealbuilder")
    assert result.exit_code == 1
    assert lines(result) == {"dealbuilder": "webhook_key not set: set DEALBUILDER_WEBHOOK_KEY"}


def test_given_an_unknown_tool_then_one_line_naming_it(seeded):
    result = kickoff("connect", "check", "pipedrive")
    assert result.exit_code == 2 and "pipedrive is not configured" in result.stderr


def test_given_any_outcome_then_no_secret_value_is_printed(seeded, sandbox_env, monkeypatch):
    secrets = {v for k, v in sandbox_env.items() if not k.startswith("KICKOFF_") and len(v) > 6}
    outputs = [kickoff("connect", "check").output]
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-eu1-wrong-and-secret")
    monkeypatch.setenv("KICKOFF_ZENDESK_BASE_URL", "http://127.0.0.1:9")
    outputs.append(kickoff("connect", "check").output)
    for output in outputs:
        assert not [s for s in {*secrets, "pat-eu1-wrong-and-secret"} if s in output]


def test_given_a_tenant_then_only_its_tools_are_checked(seeded):
    result = kickoff("connect", "check", "--tenant", "assist")
    assert result.exit_code == 0
    assert set(lines(result)) == {"dealbuilder", "hubspot", "email"}
