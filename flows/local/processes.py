"""Stopping a child we started in its own process group, with everything it spawned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, grace: float = 10.0, *, leader_first: bool = False) -> None:
    """SIGTERM to the whole group, SIGKILL after ``grace`` seconds, and a last SIGKILL for any
    grandchild still in the group (a flow run started by a worker): nothing survives.
    ``leader_first``: the SIGTERM goes to the child alone, which stops its own children (a
    runner cancels its flow runs), so they are not killed mid-step and print no traceback."""
    if process.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                if leader_first and sig == signal.SIGTERM:
                    os.kill(process.pid, sig)
                else:
                    os.killpg(process.pid, sig)
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
