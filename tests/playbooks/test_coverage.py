"""Every rule of RULES.md has a test named after it, and no personal data from the seeds leaks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cli.schema_cmd import events_schema
from kickoff.events import EVENT_DATA_MODELS, EventType
from kickoff.playbooks.rules import RULES
from tests.playbooks.conftest import ROOT

HERE = Path(__file__).parent
RULES_MD = ROOT.parent / "shared" / "RULES.md"


def test_every_rule_has_at_least_one_test():
    names = set(re.findall(r"^def (test_\w+)", "\n".join(p.read_text(encoding="utf-8") for p in HERE.glob("test_*.py")), re.MULTILINE))
    proven = {rule for name in names for rule in re.findall(r"_([ETAWM]\d{1,2})(?=_)", name + "_")}
    missing = sorted(set(RULES) - proven, key=lambda r: (r[0], int(r[1:])))
    assert missing == []
    assert len(RULES) == 51


@pytest.mark.skipif(not RULES_MD.is_file(), reason="the workplace's RULES.md is not next to the checkout")
def test_the_rule_catalogue_matches_rules_md():
    text = RULES_MD.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| ([ETAWM]\d{1,2}) \|.*\| ([^|]+) \|$", text, re.MULTILINE))
    assert set(rows) == set(RULES)
    assert {k: v.strip() for k, v in rows.items()} == {k: r.kind for k, r in RULES.items()}


def test_no_personal_data_from_the_seeds_in_playbooks_or_scenarios():
    texts = [p.read_text(encoding="utf-8") for folder in ("config/playbooks", "config/scenarios") for p in (ROOT / folder).glob("*")]
    blob = "\n".join(texts).lower()
    for forbidden in ("emelie", "larsson", "gaelle", "hotmail", "form.asana.com", "futuresimple", "iyjgbna3"):
        assert forbidden not in blob
    for address in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", blob):
        assert address.endswith("example.com"), address


def test_schema_events_publishes_every_event_type_an_outside_source_writes():
    schema = events_schema()
    assert set(schema["discriminator"]["mapping"]) == {t.value for t in EventType} - {"timer.fired"}
    assert set(EVENT_DATA_MODELS) == set(EventType)
