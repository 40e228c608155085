"""``kickoff demo``: the five procedures end to end on one machine, then everything stops.

A local Prefect server, the sandbox (seeded with ``sandbox/fixtures/default.yaml``), the
webhook gateway and a fresh ledger under ``home``; the procedures' acts go through the
vendors' front doors (the sandbox's person-in-the-tool routes, which send the vendors'
signed webhooks to the gateway; the canonical intake for the network's platform); the
virtual clock runs ``days`` days, running as Prefect flow runs exactly the flows that have
work. Then the timelines and the checks are printed, and the exit code is 0 only if every
check passed.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flows.demo.clock import Act
from flows.demo.procedures import Check, Procedure, all_procedures
from flows.runtime import Runtime
from sandbox.control import SandboxControl

REPO = Path(__file__).resolve().parents[2]
LEDGER_FILES = ("ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm", "ledger.sqlite3-journal")


def _fresh(home: Path) -> None:
    """Each demo starts from an empty ledger (the Prefect server's history is kept)."""
    home.mkdir(parents=True, exist_ok=True)
    for name in LEDGER_FILES:
        (home / name).unlink(missing_ok=True)


def _environment() -> dict[str, str | None]:
    """The demo's own settings: its ledger under ``home`` whatever the shell says, the
    repository's config, and quiet Prefect console logs (the runs' logs still go to the server)."""
    wanted: dict[str, str | None] = {"KICKOFF_DATABASE_URL": None, "PREFECT_LOGGING_LEVEL": "WARNING"}
    if not os.environ.get("KICKOFF_CONFIG_DIR") and not Path("config/tenants.yaml").is_file():
        wanted["KICKOFF_CONFIG_DIR"] = str(REPO / "config")
    saved = {key: os.environ.get(key) for key in wanted}
    for key, value in wanted.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return saved


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@dataclass
class Played:
    """A demo played and still running: what its checks read, and what its report shows."""

    procedures: list[Procedure]
    control: SandboxControl
    rt: Runtime
    acts_done: list[Act]
    runs: int
    use_prefect: bool

    def checks(self, procedure: Procedure) -> list[Check]:
        return procedure.run_checks(self.control, self.rt)


@contextmanager
def played(home: Path, days: int = 60, use_prefect: bool = True, out: Callable[[str], None] = print,
           procedures: list[Procedure] | None = None) -> Iterator[Played]:
    """Start the stack, play the procedures for ``days`` virtual days and yield it, running;
    on leaving, everything started is stopped."""
    from flows.demo.clock import VirtualClock, direct_calls, prefect_calls
    from flows.local.stack import local_stack
    from flows.runtime import default_runtime

    home = Path(home)
    procedures = procedures if procedures is not None else all_procedures()
    acts = sorted(act for p in procedures for act in p.acts)
    if not acts:
        raise ValueError("nothing to play")
    started = time.monotonic()
    saved = _environment()
    _fresh(home)
    default_runtime.cache_clear()
    rt = None
    try:
        out(f"kickoff demo: starting {'a local Prefect server, ' if use_prefect else ''}the sandbox and the gateway "
            f"(home {home})")
        with local_stack(home, with_prefect=use_prefect) as stack:
            rt = default_runtime()
            assert stack.control is not None
            if stack.prefect is not None:
                out(f"  Prefect UI while it runs: {stack.prefect.ui_url}")
            out(f"  sandbox {stack.sandbox.url if stack.sandbox else '-'}, gateway {stack.gateway.url if stack.gateway else '-'}; "
                f"ready in {time.monotonic() - started:.1f} s")
            calls = prefect_calls() if use_prefect else direct_calls(rt)
            clock = VirtualClock(rt, stack.control, calls)
            start = acts[0].at
            until = start + timedelta(days=days)
            out(f"  playing {len(acts)} acts of {len(procedures)} procedures, {start:%Y-%m-%d} → {until:%Y-%m-%d} "
                f"({days} virtual days)…")
            playing = time.monotonic()
            clock.play(acts, start, until)
            out(f"  played in {time.monotonic() - playing:.1f} s: {calls.runs} "
                f"{'Prefect flow runs' if use_prefect else 'flow steps (no Prefect)'}")
            yield Played(procedures, stack.control, rt, [act for _, act in clock.acts_done], calls.runs, use_prefect)
            if use_prefect:
                _drain_prefect()
            out("stopping the gateway, the sandbox" + (" and the Prefect server" if use_prefect else "") + "…")
    finally:
        if rt is not None:
            rt.ledger.close()
        default_runtime.cache_clear()
        _restore(saved)


def report(demo: Played, out: Callable[[str], None] = print) -> bool:
    """Every procedure's timeline and checks; True if every check passed."""
    from flows.demo.report import render, timeline

    rows = demo.rt.ledger.outbox_rows()
    results = []
    for procedure in demo.procedures:
        checks = demo.checks(procedure)
        render(procedure, timeline(procedure, rows, demo.acts_done), checks, out)
        results.extend(checks)
    failed = sum(1 for _, ok, _ in results if not ok)
    out("")
    out(f"{len(results) - failed}/{len(results)} checks passed" + (f", {failed} FAILED" if failed else ""))
    _where_to_look(out, demo.use_prefect)
    return bool(results) and not failed


def run_demo(home: Path, days: int = 60, use_prefect: bool = True,
             out: Callable[[str], None] | None = None, procedures: list[Procedure] | None = None) -> int:
    """Play the procedures for ``days`` virtual days; 0 if every check passed, else 1."""
    if out is None:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(errors="replace")
        out = lambda line: print(line, flush=True)
    started = time.monotonic()
    try:
        with played(home, days, use_prefect, out, procedures) as demo:
            passed = report(demo, out)
    except Exception as exc:  # noqa: BLE001 - report, stop everything (played did), exit non-zero
        import traceback

        out(traceback.format_exc())
        out(f"kickoff demo failed: {type(exc).__name__}: {exc}")
        return 1
    out(f"kickoff demo: done in {time.monotonic() - started:.0f} s")
    return 0 if passed else 1


def _drain_prefect() -> None:
    """Send the runs' last logs and events while the server is still there."""
    import contextlib

    with contextlib.suppress(Exception):  # cosmetic: at worst a lost log line
        from prefect.events.worker import EventsWorker
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()
        EventsWorker.drain_all()


def _where_to_look(out: Callable[[str], None], use_prefect: bool) -> None:
    out("")
    out("Where to look: `make up` starts the same stack for good, with its UI at http://127.0.0.1:4200")
    out("  · Runs: every flow run is named after what it did ('process-inbox: 1 decided…',")
    out("    'tick: 2 timers fired, 3 actions', 'push-hubspot: 4 done', 'poll-zendesk: 3 new…').")
    out("  · Artifacts: each push run publishes a table 'push-<tool>' of the actions it wrote")
    out("    (rule, kind, onboarding, result, the tool's id); process-inbox and tick runs a table of")
    out("    what they decided (customer, event or timer, rules, actions, or why ignored).")
    out("  · A push run with a dead letter ends Failed, its message giving the count and why.")
    out("  · Events: kickoff.inbox.received / kickoff.outbox.ready / kickoff.action.dead link the steps.")
    if not use_prefect:
        out("  (this run called the flows directly, without Prefect: --prefect to see them as runs)")
