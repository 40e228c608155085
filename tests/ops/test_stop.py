"""A clean stop: the served deployments (what ``kickoff up`` runs as its child) stop on SIGTERM
the way ``kickoff up`` sends it, exit 0, and print no traceback and no ERROR line (Prefect's
own ``serve`` leaves its runner's stop un-awaited)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.local.prefect_server import PrefectServer
from flows.local.processes import stop_process_group

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def test_stopping_the_served_deployments_prints_no_traceback_and_no_error(
        tmp_path: Path, sandbox_env: dict[str, str]) -> None:
    with PrefectServer(tmp_path / "prefect") as server:
        env = {**os.environ, **server.environment(), "KICKOFF_HOME": str(tmp_path / "home")}
        out, err = tmp_path / "out.log", tmp_path / "err.log"
        with out.open("w") as stdout, err.open("w") as stderr:
            child = subprocess.Popen([sys.executable, "-m", "flows.local.serve"], cwd=REPO, env=env,
                                     stdout=stdout, stderr=stderr, start_new_session=True)
            try:
                deadline = time.monotonic() + 120
                while "Serving" not in out.read_text() and time.monotonic() < deadline and child.poll() is None:
                    time.sleep(0.5)
                assert "Serving" in out.read_text(), err.read_text()[-2000:]
                time.sleep(5)  # the runner is polling and the sweep has looked at the ledger
            finally:
                stop_process_group(child, grace=30.0, leader_first=True)
        assert child.returncode == 0, err.read_text()[-2000:]
    bad = [line for line in err.read_text().splitlines()
           if "Traceback" in line or "| ERROR" in line or "never awaited" in line]
    assert bad == [], "\n".join(bad)
    assert "paused" in err.read_text()  # it stopped the runner's way, not by being killed
