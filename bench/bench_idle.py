"""The idle stack: ``kickoff up --sandbox`` on free loopback ports, left alone for a number of
minutes with nothing happening, then stopped as Ctrl-C stops it. Prints how many flow runs the
Prefect server holds (the Runs page should show work, not heartbeats: at most a handful), by
deployment and state, and whether stopping printed a traceback or an ERROR line.

``python -m bench idle --minutes 10`` (``--quick``: 3 minutes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import REPO
from sandbox.smtp import free_port

BOUND = 5
"""A handful: at most this many runs in ten idle minutes."""
READY_TIMEOUT = 240.0


def _wait_for_serving(log: Path, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"kickoff up exited {child.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if "Serving every deployment" in log.read_text(errors="replace"):
            return
        time.sleep(1.0)
    raise RuntimeError("kickoff up did not come up in time")


def _flow_runs(api_url: str) -> Counter[str]:
    """Every flow run the server holds that started (a schedule's future run is not one)."""
    os.environ["PREFECT_API_URL"] = api_url
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = {d.id: d.name for d in client.read_deployments()}
        runs = client.read_flow_runs(limit=200)
    return Counter(f"{names.get(r.deployment_id, '?')} {r.state.type.value if r.state else '-'}"
                   for r in runs if r.state is None or r.state.type.value != "SCHEDULED")


def idle(minutes: float) -> tuple[Counter[str], list[str]]:
    """Run the stack idle for ``minutes``; the runs it made and the stop's bad stderr lines."""
    with tempfile.TemporaryDirectory(prefix="kickoff-idle-") as tmp:
        prefect_port, gateway_port = free_port("127.0.0.1"), free_port("127.0.0.1")
        out, err = Path(tmp) / "out.log", Path(tmp) / "err.log"
        env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        env.pop("KICKOFF_DATABASE_URL", None)
        with out.open("w") as stdout, err.open("w") as stderr:
            child = subprocess.Popen(
                [sys.executable, "-c", "from cli import main; main()", "up", "--sandbox", "--home", str(Path(tmp) / "home"),
                 "--prefect-port", str(prefect_port), "--gateway-port", str(gateway_port)],
                cwd=REPO, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
            try:
                _wait_for_serving(out, child)
                print(f"  kickoff up serving (Prefect on port {prefect_port}); idle for {minutes:g} min…", flush=True)
                time.sleep(minutes * 60)
                runs = _flow_runs(f"http://127.0.0.1:{prefect_port}/api")
            finally:
                if child.poll() is None:
                    child.send_signal(signal.SIGINT)  # what Ctrl-C does
                    try:
                        child.wait(timeout=60)
                    except subprocess.TimeoutExpired:
                        os.killpg(child.pid, signal.SIGKILL)
                        child.wait()
        if os.environ.get("KICKOFF_IDLE_STDERR"):
            Path(os.environ["KICKOFF_IDLE_STDERR"]).write_text(err.read_text(errors="replace"))
        bad = [line for line in err.read_text(errors="replace").splitlines()
               if "Traceback" in line or " ERROR " in line or line.startswith("ERROR")]
        return runs, bad


def run(quick: bool = False, minutes: float | None = None) -> None:
    minutes = minutes if minutes is not None else (3.0 if quick else 10.0)
    runs, bad = idle(minutes)
    total = sum(runs.values())
    print(f"  flow runs in {minutes:g} idle minutes: {total} (bound {BOUND} in ten minutes)")
    for name, count in sorted(runs.items()):
        print(f"    {count:3d}  {name}")
    print(f"  stopping: {len(bad)} traceback/ERROR lines on stderr" + ("" if not bad else ":"))
    for line in bad[:10]:
        print(f"    {line}")
