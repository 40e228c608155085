"""Helper processes: the same claim loop run beside the step's own process, on another core.

Why: a claim's decisions are pure Python, so one process uses one core however many the
machine has; the claims (``kickoff.ledger.claims``) already let several workers share the due
rows, each row decided by its claimant only. On SQLite the write lock is held for a commit
only, so a helper decides while the other commits (``python -m bench.compare tick``).

How: on Linux the step forks, so the imports, configuration and playbooks the step's process
has loaded are the helpers' at no cost (a spawned helper would import Prefect for seconds). A
helper runs under its own worker name on database connections of its own
(``Ledger.after_fork``), sends nothing to Prefect and writes no log of its own: its report, its
events and its log lines come back through a pipe, and the step merges the report, sends the
events and logs the lines. A helper that fails, dies or is still busy a
lease after the step's own last claim (killed then) leaves its claim to the lease, as any
worker that dies does: those rows are claimed again when it runs out, never decided twice.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from flows.prefect_events import EventToSend, Send
from kickoff.ledger import Ledger

PROCESSES_ENV = "KICKOFF_TICK_PROCESSES"
"""How many processes a tick runs in (default: two where the machine has two cores or more)."""

R = TypeVar("R")
EXIT_SECONDS = 10.0
"""How long a helper that answered may take to exit before it is killed."""


class HelperFailed(RuntimeError):
    """A helper process failed or died; what it had committed stays committed, its claim
    waits for the lease."""


def process_count(requested: int | None = None) -> int:
    """How many processes (the step's own included): ``requested``, else ``KICKOFF_TICK_PROCESSES``,
    else 2 where there are two cores or more. Always 1 where processes are not forked (not Linux)."""
    if not sys.platform.startswith("linux") or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if requested is None:
        configured = os.environ.get(PROCESSES_ENV, "").strip()
        if configured and not configured.isdigit():
            raise ValueError(f"{PROCESSES_ENV}: a whole number of processes, not {configured!r}")
        requested = int(configured) if configured else min(2, os.cpu_count() or 1)
    return max(1, requested)


@dataclass
class Outcome(Generic[R]):
    """What one helper brought back."""

    worker: str
    result: R | None = None
    events: list[EventToSend] = field(default_factory=list)
    logs: list[tuple[str, int, str]] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Helper:
    worker: str
    process: Any  # multiprocessing's forked Process
    answers: Connection


def start(count: int, worker: str, ledger: Ledger, work: Callable[[str, Send], R]) -> list[_Helper]:
    """``count`` helpers forked, each running ``work(its worker name, send)``; ``send`` keeps
    the events it would have sent, for the step to send."""
    context = multiprocessing.get_context("fork")
    helpers: list[_Helper] = []
    gc.freeze()  # what exists now is never collected in a child (so never finalized there)
    try:
        for n in range(2, count + 2):
            name = f"{worker}-{n}"
            answers, reply = context.Pipe(duplex=False)
            process = context.Process(target=_run, args=(name, ledger, work, reply), name=name, daemon=False)
            process.start()
            reply.close()
            helpers.append(_Helper(name, process, answers))
    finally:
        gc.unfreeze()
    return helpers


def finish(helpers: list[_Helper], wait_seconds: float) -> list[Outcome[Any]]:
    """Every helper's outcome; one still busy ``wait_seconds`` from now is killed (its claim
    then waits for the lease). Helpers' log lines are logged here, under their own loggers."""
    outcomes: list[Outcome[Any]] = []
    deadline = time.monotonic() + wait_seconds
    for helper in helpers:
        outcome = _answer(helper, deadline)
        helper.answers.close()
        helper.process.join(timeout=max(EXIT_SECONDS, deadline - time.monotonic()))
        if helper.process.is_alive():  # answered, then stuck on its way out
            helper.process.kill()
            helper.process.join()
        for name, level, message in outcome.logs:
            logging.getLogger(name).log(level, "%s (%s)", message, helper.worker)
        outcomes.append(outcome)
    return outcomes


def _answer(helper: _Helper, deadline: float) -> Outcome[Any]:
    if not wait([helper.answers], timeout=max(0.0, deadline - time.monotonic())):
        helper.process.kill()
        return Outcome(helper.worker, error="still busy a lease after the last claim: killed")
    try:
        outcome: Outcome[Any] = helper.answers.recv()
        return outcome
    except EOFError:  # it died before answering
        helper.process.join()
        return Outcome(helper.worker, error=f"died (exit code {helper.process.exitcode})")


def _run(worker: str, ledger: Ledger, work: Callable[[str, Send], R], reply: Connection) -> None:
    """In the child: fresh connections, logs and events kept, the work, the answer."""
    ledger.after_fork()
    outcome: Outcome[R] = Outcome(worker, logs=_keep_logs())

    def keep(events: Sequence[EventToSend]) -> int:
        outcome.events.extend(events)
        return len(events)

    try:
        outcome.result = work(worker, keep)
    except BaseException as exc:  # noqa: BLE001 - told to the step, which raises it
        outcome.error = f"{type(exc).__name__}: {exc}"
    try:
        reply.send(outcome)
        reply.close()
    except OSError:  # the step is gone: what was committed stays committed
        os._exit(1)
    os._exit(0)  # nothing of the parent's flushed, finalized or closed here (see Ledger.after_fork)


def _keep_logs() -> list[tuple[str, int, str]]:
    """Every logger's handlers (Prefect's API handler among them, whose thread the child does
    not have) replaced by one that keeps (logger, level, message) for the step to log."""
    kept: list[tuple[str, int, str]] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            kept.append((record.name, record.levelno, record.getMessage()))

    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.handlers = []
            logger.propagate = True
    logging.getLogger().handlers = [Keep()]
    return kept
