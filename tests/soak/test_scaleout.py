"""The scale-out soak (issue 7), opt-in only: it needs the machine's PostgreSQL on
127.0.0.1:5432 (user postgres, trust) and takes minutes. Not part of ``make test``:
``KICKOFF_SCALEOUT_SOAK=1 pytest tests/soak/test_scaleout.py``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("KICKOFF_SCALEOUT_SOAK") != "1",
                                 reason="set KICKOFF_SCALEOUT_SOAK=1 (needs PostgreSQL, takes minutes)")]


def test_steps_1_to_4_come_up_and_leave_nothing_behind(tmp_path: Path) -> None:
    from soak.scaleout import pg
    from soak.scaleout.stack import scaleout_stack

    with scaleout_stack(tmp_path, workers=3) as st:
        assert len(st.workers) == 3 and all(w.poll() is None for w in st.workers)
        pids = [w.pid for w in st.workers]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert pg.leftover_databases() == []


def test_one_scaleout_run_has_no_violations(tmp_path: Path) -> None:
    from soak.scaleout.drive import run_one
    from soak.scaleout.stack import scaleout_stack

    with scaleout_stack(tmp_path, workers=3) as st:
        violations, stats, _, _ = run_one(st, 4)
    assert not violations, "\n".join(v.splitlines()[0] for v in violations)
    assert stats["rows handled twice"] == 0 and stats["429s"] == 0
