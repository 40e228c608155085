"""``kickoff up``: the whole stack on one machine for the embedded default — a local Prefect
server with SQLite, every deployment served in this process, the gateway, and (with
``--sandbox``) the sandbox — until Ctrl-C or SIGTERM, then everything it started is stopped."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import FrameType

from flows.local.processes import stop_process_group

log = logging.getLogger("kickoff.up")


def stop_on_sigterm() -> None:
    """SIGTERM ends the process like Ctrl-C does, so every ``finally`` runs and the Prefect
    server, the sandbox and the gateway are stopped rather than orphaned."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def ensure_alert_automations(config_dir: Path) -> bool:
    """The alerts (``flows.alerts``): a push run's dead letters, or a tick run's failed timers,
    notify through the block config/alerts.yaml names, or only show up when it names none."""
    from flows.alerts import sync_alerts

    try:
        synced = sync_alerts(config_dir)
    except Exception as exc:  # noqa: BLE001 - the stack runs without them; `kickoff alerts sync` says why
        log.warning("could not sync the alerts' automations: %s: %s", type(exc).__name__, exc)
        return False
    for one in synced:
        print(f"Alert:        {one.kind.name} {one.outcome}, "
              + (f"notifies through {one.block}" if one.block else "no notification block"))
    return True


def serve_until_stopped() -> int:
    """Run ``flows.local.serve`` as a child until it ends or we are asked to stop."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    child = subprocess.Popen([sys.executable, "-m", "flows.local.serve"], start_new_session=True)
    try:
        while not stop.wait(1.0):
            if child.poll() is not None:
                return child.returncode or 0
        return 0
    finally:
        stop_process_group(child, grace=30.0, leader_first=True)


def _config_dir() -> Path:
    from kickoff.settings import KickoffSettings

    return Path(KickoffSettings().config_dir)


def run_up(home: Path, with_sandbox: bool, prefect_port: int, gateway_port: int) -> int:
    from flows.local.stack import local_stack

    stop_on_sigterm()
    try:
        with local_stack(home, with_sandbox=with_sandbox, prefect_port=prefect_port, gateway_port=gateway_port) as stack:
            ensure_alert_automations(_config_dir())  # the stack synced the rate limits (stack.limits)
            print(f"Prefect UI:   {stack.prefect.ui_url if stack.prefect else '-'}")
            print(f"Gateway:      {stack.gateway.url if stack.gateway else '-'}/webhooks/<tool>")
            if stack.sandbox:
                print(f"Sandbox:      {stack.sandbox.url}/_sandbox/")
            print(f"Rate limits:  {stack.limits} Prefect global concurrency limits synced")
            print("Serving every deployment; Ctrl-C stops everything.", flush=True)
            return serve_until_stopped()
    except KeyboardInterrupt:
        return 0
