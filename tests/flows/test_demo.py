"""``kickoff demo`` on its fast path (the flows called directly, no Prefect server): the same
acts through the vendors' front doors, the same virtual clock, the same checks read back
from the sandbox. Every check must pass and the exit code must be 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.demo.main import run_demo
from flows.demo.procedures import all_procedures

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

REPO = Path(__file__).resolve().parents[2]


def test_the_demo_plays_the_five_procedures_and_every_check_passes(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)  # the fast path: no Prefect, in-process limits
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(REPO / "config"))
    lines: list[str] = []

    code = run_demo(tmp_path / "demo", days=60, use_prefect=False, out=lines.append)

    output = "\n".join(lines)
    failed = [line for line in lines if line.lstrip().startswith("✗")]
    assert code == 0, f"failed checks: {failed}\n{output[-4000:]}"
    total = sum(len(p.checks) for p in all_procedures())
    assert f"{total}/{total} checks passed" in output
    for family in ("A", "T", "W", "M", "E"):
        assert f"== {family} · " in output  # a timeline per procedure
    assert "DEAD" not in output  # no action ended as a dead letter


def test_each_procedure_starts_from_acts_and_has_checks() -> None:
    procedures = all_procedures()
    assert [p.key for p in procedures] == ["assist", "marketplace", "retention", "core", "network"]
    for procedure in procedures:
        assert procedure.acts and procedure.checks
        assert all(act.procedure == procedure.key and act.at.tzinfo is not None for act in procedure.acts)
