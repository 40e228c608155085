"""One event format: the JSON Schema ``kickoff schema events`` prints accepts exactly what
events files, ``kickoff simulate`` and ``/webhooks/events`` read (``kickoff.event_input``),
the shipped scenarios follow it, and the README shows one example of each type."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from typer.testing import CliRunner

from cli import app
from kickoff.event_input import EXAMPLES, INPUT_TYPES, EventRefused, read_event
from tests.playbooks.conftest import ROOT, SCENARIOS

runner = CliRunner()
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def printed() -> dict[str, Any]:
    result = runner.invoke(app, ["schema", "events"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def validator(printed: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(printed)
    return jsonschema.Draft202012Validator(printed, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def reader_takes(event: Any) -> bool:
    try:
        read_event(event, PARIS)
    except EventRefused:
        return False
    return True


def test_the_printed_schema_has_one_example_of_each_type(printed: dict[str, Any]) -> None:
    assert sorted(e["type"] for e in printed["examples"]) == sorted(t.value for t in INPUT_TYPES)
    assert printed["examples"] == EXAMPLES


def test_every_example_follows_the_schema_and_is_read(validator, printed: dict[str, Any]) -> None:
    for example in printed["examples"]:
        validator.validate(example)
        assert read_event(example).data == example["data"]


def _with(change: dict[str, Any], data: dict[str, Any] | None = None, base: int = 0) -> dict[str, Any]:
    event = json.loads(json.dumps(EXAMPLES[base]))
    event.update(change)
    event["data"].update(data or {})
    return {k: v for k, v in event.items() if v is not None}


SIGNED, CREATED, BOOKED, NPS = 0, 2, 4, 16
CASES = {
    "as is": _with({}),
    "with id and tenant": _with({"id": "e-1", "tenant": "assist"}),
    "local time": _with({"occurred_at": "2026-03-02T10:00"}),
    "local meeting start": _with({}, {"start": "2026-03-10 10:00"}, base=BOOKED),
    "Z time": _with({"occurred_at": "2026-03-02T09:00:00Z"}),
    "misspelt data key": _with({}, {"startOn": "2026-03-09"}),
    "unknown top-level key": _with({"at": "2026-03-02T10:00:00+01:00"}),
    "no subject": _with({"subject": None}),
    "empty subject": _with({"subject": ""}),
    "no occurred_at": _with({"occurred_at": None}),
    "time in words": _with({"occurred_at": "yesterday"}),
    "epoch time": _with({"occurred_at": 1772442000}),
    "impossible date": _with({}, {"signed_on": "2026-02-30"}),
    "score as text": _with({}, {"score": "5"}, base=NPS),
    "score out of range": _with({}, {"score": 11}, base=NPS),
    "sign-up without e-mail": {**EXAMPLES[CREATED], "data": {"account_name": "Example Company"}},
    "e-mail without @": _with({}, {"email": "alex.example.com"}, base=CREATED),
    "value outside its enum": _with({}, {"origin": "somewhere"}, base=CREATED),
    "timer.fired": {"type": "timer.fired", "occurred_at": "2026-03-02T10:00:00+01:00", "subject": "s",
                    "data": {"timer": "a8_call", "rule": "A8"}},
    "unknown type": _with({"type": "meeting.teleported"}),
    "not an object": ["an", "array"],
}


@pytest.mark.parametrize("name", CASES)
def test_the_schema_and_the_reader_agree(validator, name: str) -> None:
    event = CASES[name]
    assert validator.is_valid(event) == reader_takes(event), name


def test_the_reader_refuses_what_the_schema_refuses_and_says_where() -> None:
    with pytest.raises(EventRefused) as refused:
        read_event(CASES["misspelt data key"])
    assert refused.value.field == "data.startOn"
    assert str(refused.value).startswith("data.startOn: unknown key; contract.signed data has: account_name, ")


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.jsonl")), ids=lambda p: p.stem)
def test_every_shipped_scenario_follows_the_printed_schema(validator, path: Path) -> None:
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        errors = [e.message for e in validator.iter_errors(json.loads(text))]
        assert errors == [], f"{path.name}:{number}"


@pytest.mark.parametrize("tenant", ["assist", "marketplace", "network", "retention", "core"])
def test_simulate_runs_a_file_written_from_the_schemas_examples(printed, tmp_path: Path, tenant: str) -> None:
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in printed["examples"]), encoding="utf-8")
    result = runner.invoke(app, ["simulate", "--tenant", tenant, "--events", str(path)])
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines()]
    ignored = {x["line"] for x in lines if x["kind"] == "ignored"}
    assert any(x["kind"] != "ignored" for x in lines)  # the playbook started and acted
    assert ignored < set(range(1, len(EXAMPLES) + 1))
    assert all(x["reason"] for x in lines if x["kind"] == "ignored")


def test_the_readme_shows_one_example_of_each_type_in_the_format(validator) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"One example of each event type.*?```jsonl\n(.*?)```", readme, re.DOTALL)
    shown = [json.loads(x) for x in block.splitlines()]
    assert sorted(e["type"] for e in shown) == sorted(t.value for t in INPUT_TYPES)
    assert shown == EXAMPLES
    for example in shown:
        validator.validate(example)
