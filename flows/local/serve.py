"""Serve every deployment in this process, with the safety sweep beside it: what ``kickoff up``
runs as its child, in a process group of its own, so that stopping ``up`` stops it and every
flow run it started.

Prefect's ``serve`` answers SIGTERM by calling its runner's async stop from a signal handler
without awaiting it (a "never awaited" warning, and whatever was running left to the kill); here
SIGTERM schedules that stop on the runner's own loop, so the runner cancels its runs, pauses
its deployments and returns, and the process exits 0 with nothing on stderr but its log lines.
"""

from __future__ import annotations

import asyncio
from typing import Any


def _runner(**options: Any) -> Any:
    from prefect.runner import Runner

    class QuietStopRunner(Runner):
        """A Runner that stops on SIGTERM the way its own ``astop`` does, awaited."""

        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            self._logger.info("stop asked: cancelling the runs under way and pausing the deployments")
            loop = asyncio.get_running_loop()
            loop.call_soon_threadsafe(lambda: loop.create_task(self.astop()))

    return QuietStopRunner(**options)


def main() -> None:
    from flows.deployments import all_deployments
    from flows.runtime import default_runtime
    from flows.sweep import SweepLoop

    rt = default_runtime()
    runner = _runner(pause_on_shutdown=True)
    served = all_deployments(set(rt.config.tools), sweeping=True)
    for deployment in served:
        runner.add_deployment(deployment)
    SweepLoop(rt).start_thread()  # replaces the safety schedules: a run only when work is due
    print(f"Serving {len(served)} deployments: {', '.join(d.name for d in served)}", flush=True)
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:  # Ctrl-C straight at this process: the runner is stopped already
        pass


if __name__ == "__main__":
    main()
