"""Settings and config: wrong files fail at load with the file, the field and what was expected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from kickoff.settings import ConfigError, KickoffSettings, load_config

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    shutil.copytree(REPO / "config", folder)
    return folder


def refused(config_dir: Path, name: str, old: str, new: str) -> ConfigError:
    """The error loading ``config_dir`` raises once ``old`` is ``new`` in its file ``name``."""
    path = config_dir / name
    path.write_text(path.read_text().replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    return info.value


def test_shipped_config_loads() -> None:
    config = load_config(REPO / "config")
    assert config.tenants["assist"].timezone == "Europe/Stockholm"
    assert config.tools["movidesk"].rate_limit.requests == 10


def test_corrupt_config_names_the_file_and_field(config_dir: Path) -> None:
    error = refused(config_dir, "tenants.yaml", "timezone: Europe/Stockholm", "timezone: Mars/Olympus")
    assert error.file == str(config_dir / "tenants.yaml")
    assert error.field == "tenants.assist.timezone"
    assert "IANA time zone" in error.expected


def test_broken_yaml_names_the_line(config_dir: Path) -> None:
    (config_dir / "tools.yaml").write_text("tools:\n  hubspot: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert info.value.file.endswith("tools.yaml") and info.value.field.startswith("line ")


def test_credentials_by_value_are_refused(config_dir: Path) -> None:
    error = refused(config_dir, "tools.yaml", "token: env:HUBSPOT_ACCESS_TOKEN", "token: pat-na1-secret")
    assert error.field == "tools.hubspot.credentials"
    assert "reference" in error.expected
    assert "pat-na1-secret" not in str(error)


def test_unknown_field_is_refused(config_dir: Path) -> None:
    error = refused(config_dir, "tenants.yaml", "    playbook: assist-se\n", "    playbook: assist-se\n    colour: blue\n")
    assert error.field == "tenants.assist.colour"


def test_tenant_tool_must_be_configured(config_dir: Path) -> None:
    error = refused(config_dir, "tenants.yaml", "tools: [movidesk, slack]", "tools: [movidesk, pipedrive]")
    assert error.field == "tenants.core.tools" and "pipedrive" in error.expected


def test_config_check_on_broken_yaml_exits_non_zero_with_one_line(config_dir: Path) -> None:
    (config_dir / "tenants.yaml").write_text("tenants: {assist: {name: x}}\n")
    result = CliRunner().invoke(app, ["config", "check", "--config-dir", str(config_dir)])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "tenants.yaml" in lines[0] and "tenants.assist" in lines[0]


def test_config_check_on_good_config_says_ok() -> None:
    result = CliRunner().invoke(app, ["config", "check", "--config-dir", str(REPO / "config")])
    assert result.exit_code == 0 and "config ok" in result.stdout


def test_database_url_defaults_to_sqlite_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KICKOFF_DATABASE_URL", raising=False)
    monkeypatch.setenv("KICKOFF_HOME", str(tmp_path))
    assert KickoffSettings().resolved_database_url == f"sqlite:///{tmp_path.resolve()}/ledger.sqlite3"
    monkeypatch.setenv("KICKOFF_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert KickoffSettings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_tool_base_url_can_point_at_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KICKOFF_HUBSPOT_BASE_URL", "http://127.0.0.1:9")
    assert load_config(REPO / "config").tools["hubspot"].base_url == "http://127.0.0.1:9"


def test_schema_commands_print_json_schema() -> None:
    import json

    runner = CliRunner()
    events = json.loads(runner.invoke(app, ["schema", "events"]).stdout)
    actions = json.loads(runner.invoke(app, ["schema", "actions"]).stdout)
    assert "contract.signed" in events["discriminator"]["mapping"] and events["title"] == "Kickoff event"
    assert set(actions["$defs"]["ActionKind"]["enum"]) >= {"set_stage", "create_task", "post_action", "notify"}
    assert actions["properties"]["rule"]["pattern"].startswith("^[ETAWM]")


def test_only_true_and_false_are_booleans_in_every_config_file(config_dir: Path) -> None:
    tools = config_dir / "tools.yaml"
    tools.write_text(tools.read_text().replace(
        "  hubspot:\n",
        "  hubspot:\n    options: {region: no, verbose: yes, on: off, strict: true}\n",
        1,
    ))
    options = load_config(config_dir).tools["hubspot"].options
    assert options == {"region": "no", "verbose": "yes", "on": "off", "strict": True}


def test_a_wrong_field_names_its_line(config_dir: Path) -> None:
    tenants = config_dir / "tenants.yaml"
    text = tenants.read_text()
    tenants.write_text(text.replace("timezone: Europe/Stockholm", "timezone: Mars/Olympus"))
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    lines = text.splitlines()
    assert info.value.line == lines.index("    timezone: Europe/Stockholm") + 1
    assert f"tenants.assist.timezone (line {info.value.line})" in str(info.value)


def test_broken_yaml_carries_its_line(config_dir: Path) -> None:
    (config_dir / "tenants.yaml").write_text("tenants:\n  core: {name: x\n  other: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    assert info.value.line == 3 and info.value.field == "line 3"


def test_one_yaml_loader_reads_every_config_file() -> None:
    """Only kickoff/yamlfile.py parses YAML in the core and the mappings."""
    import ast

    readers = []
    for folder in ("kickoff", "mappings"):
        for path in sorted((REPO / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
            names |= {node.module for node in ast.walk(tree)
                      if isinstance(node, ast.ImportFrom) and node.module}
            if "yaml" in names:
                readers.append(str(path.relative_to(REPO)))
    assert readers == ["kickoff/yamlfile.py"]
