"""Stopping a child we started in its own process group, with everything it spawned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process_group(process: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM to the whole group, SIGKILL after ``grace`` seconds, and a last SIGKILL for any
    grandchild still in the group (a flow run started by a worker): nothing survives."""
    if process.poll() is None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
