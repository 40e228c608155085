"""The push worker that gets killed: ``push`` for one tool in a spawned child process.

The child builds its own runtime on the same ledger (same environment), tells the parent it
is about to push, and pushes. The parent kills it with SIGKILL at a random moment; the rows
it had claimed stay claimed until their lease runs out and the next worker takes them.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

OUR_LOGGERS = ("kickoff", "connectors", "flows", "mappings")


class NoLimiter:
    """The soak turns the proactive rate limits off: 429s come from injected faults."""

    def acquire(self, tool: str, key: str = "default", slots: int = 1) -> None:
        return None


def soak_retry_policy():
    """The one retry policy with its decisions intact but no real sleeping (the virtual
    clock, not the wall clock, is what the soak plays)."""
    from kickoff.retry import RetryPolicy

    return RetryPolicy(base_seconds=0.01, max_backoff_seconds=0.02, sleep=lambda seconds: None)


def build_runtime():
    from flows.runtime import Runtime

    return Runtime.build(limiter=NoLimiter(), retry=soak_retry_policy())


PAUSE_BEFORE_SEND = 0.08   # the child is a slow worker, so that a kill at a random moment
PAUSE_AFTER_SEND = 0.15    # often lands between "written in the tool" and "recorded in the ledger"


def push_child(env: dict[str, str], tool: str, now_iso: str, worker: str, started: Any, log_path: str) -> None:
    """Entry point of the spawned child (``multiprocessing`` spawn); ``started`` is the
    sending end of a pipe, told when the push begins."""
    import time

    os.environ.update(env)
    logging.basicConfig(filename=log_path, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for ours in OUR_LOGGERS:
        logging.getLogger(ours).setLevel(logging.DEBUG)
    from flows.steps.push import push

    rt = build_runtime()
    connector = rt.connector(tool)  # import the vendor client before telling the parent
    apply = connector.apply

    def slow_apply(actions, now):  # type: ignore[no-untyped-def]
        time.sleep(PAUSE_BEFORE_SEND)
        results = apply(actions, now)
        time.sleep(PAUSE_AFTER_SEND)
        return results

    connector.apply = slow_apply  # type: ignore[method-assign]
    started.send(True)
    started.close()
    push(rt, tool, datetime.fromisoformat(now_iso), worker=worker)
