"""(4) The tick over 10,000 and 100,000 open onboardings, each with a due timer: seconds
and peak memory.

Seeding: the engine decides the Assist playbook's first event (``contract.signed`` of
``config/scenarios/assist-se-60-days.jsonl``: onboarding in stage "new", timer ``a2_start``
the day after the start date); that state and its timers are copied to N onboardings and
inserted straight into the ledger's tables (one bulk insert per table, not N decisions).
Then ``flows.steps.process.tick`` runs at the timer's moment, in a fresh child process (so
its peak memory is its own): every timer fires through the real decision (the onboarding
moves on, actions go to the outbox, the next timers are set) and is committed.

Run: ``.venv/bin/python -m bench tick [--quick]``; one size alone:
``.venv/bin/python -m bench.bench_tick --size 100000 [--profile]`` (cProfile of the tick);
``--phases`` adds where a timer's time goes (claim, state load, decision, commit), timed
around the tick's own calls in one process (no helper: ``flows.steps.helpers``), so a target
per timer can be held against its parts. Otherwise the tick runs as deployed: a helper
process beside it when two claims' worth are due (``KICKOFF_TICK_PROCESSES=1``: none).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import PG_ENV, REPO, fmt, note, print_table

SCENARIO = REPO / "config" / "scenarios" / "assist-se-60-days.jsonl"
TENANT = "assist"
CHUNK = 5000


def template() -> tuple[Any, datetime]:
    """The decision for the scenario's first event, and when its first timer fires."""
    from kickoff.playbooks import decide, load_playbook, parse_events

    playbook = load_playbook(REPO / "config" / "playbooks" / "assist-se.yaml")
    first = parse_events(SCENARIO.read_text(encoding="utf-8").splitlines()[:1], playbook.zone)[0]
    decision = decide(None, first, first.occurred_at, playbook, tenant=TENANT)
    assert decision is not None and decision.set_timers, "the scenario's first event should start an onboarding"
    return decision, min(t.fire_at for t in decision.set_timers)


def seed(ledger: Any, n: int) -> datetime:
    """N onboardings like the template's, each with its timers (at least one due at the returned time)."""
    from sqlalchemy import insert

    from kickoff.ledger.schema import onboardings, timers

    decision, due = template()
    state = decision.state.model_dump(mode="json")
    made = datetime.now(due.tzinfo)
    with ledger.transaction() as conn:
        for start in range(0, n, CHUNK):
            ids = [f"bench-onb-{i:06d}" for i in range(start, min(n, start + CHUNK))]
            conn.execute(insert(onboardings), [
                {"id": oid, "tenant": TENANT, "playbook": state["playbook"], "stage": state["stage"],
                 "state": {**state, "id": oid, "version": 1}, "version": 1, "updated_at": made} for oid in ids])
            conn.execute(insert(timers), [
                {"onboarding_id": oid, "key": t.key, "fire_at": t.fire_at, "rule": t.rule, "data": t.data,
                 "status": "pending", "updated_at": made} for oid in ids for t in decision.set_timers])
    return due


def memory_kb() -> tuple[int, int]:
    """(current RSS, peak RSS) of this process in kB, from /proc (getrusage's ru_maxrss would
    carry the parent's peak across exec); getrusage where /proc is missing."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak, peak


PHASES = {"claim": "claim_due_timers", "load": "load_states", "commit": "commit_firings"}
"""The tick's ledger calls timed by ``--phases`` (the decision is ``flows.steps.process._decide``)."""


def timed_phases(rt: Any) -> dict[str, float]:
    """Seconds spent in each phase of the tick, filled as it runs: the ledger's calls and the
    decision are wrapped with a clock (the tick's code is not changed)."""
    from sqlalchemy import event

    from flows.steps import process
    from kickoff.ledger import bulk

    spent = dict.fromkeys([*PHASES, "decide", "database"], 0.0)  # database: of claim, load and commit, in the driver

    def clocked(name: str, call: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
        return run

    for name, method in PHASES.items():
        setattr(rt.ledger, method, clocked(name, getattr(rt.ledger, method)))
    process._decide = clocked("decide", process._decide)
    started: list[float] = []

    def begin(*_: Any) -> None:
        started.append(time.perf_counter())

    def end(*_: Any) -> None:
        spent["database"] += time.perf_counter() - started.pop()

    event.listen(rt.ledger.database, "before_cursor_execute", begin)
    event.listen(rt.ledger.database, "after_cursor_execute", end)
    rt.ledger.database.dialect.do_commit = clocked("database", rt.ledger.database.dialect.do_commit)
    bulk.copy_rows = clocked("database", bulk.copy_rows)  # PostgreSQL's COPY fires no cursor events
    return spent


def child(url: str, schema: str | None, now: str, profile: bool, phases: bool = False) -> None:
    """In a fresh process: the tick over the seeded ledger; prints JSON figures."""
    from connectors.ratelimit import WindowLimiter
    from flows.runtime import Runtime
    from flows.steps.process import tick
    from kickoff.ledger import Ledger
    from kickoff.settings import load_config

    ledger = Ledger.open(url, schema=schema, upgrade=False)
    rt = Runtime.build(load_config(REPO / "config"), ledger=ledger, limiter=WindowLimiter({}))
    rt.playbook("assist-se")
    ledger.status()  # connections and imports warm
    import prefect.settings  # noqa: F401 - the tick runs in a flow run, whose process has Prefect loaded
    baseline, _ = memory_kb()
    moment = datetime.fromisoformat(now)
    spent = timed_phases(rt) if phases else {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    report = tick(rt, moment, processes=1 if phases else None)  # phases: one process's parts
    if os.environ.get("PREFECT_API_URL"):  # --events: the onboarding events sent, as part of the tick
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=600)
    seconds = time.perf_counter() - started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(os.environ.get("KICKOFF_BENCH_PROFILE_SORT", "cumulative")).print_stats(35)
    _, peak = memory_kb()
    helper_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB: the largest helper's
    status = ledger.status(moment)
    print(json.dumps({"seconds": seconds, "processed": report.processed, "ignored": report.ignored,
                      "deferred": report.deferred, "actions": sum(report.actions.values()),
                      "baseline_kb": baseline, "peak_kb": peak, "helper_peak_kb": helper_peak,
                      "due_left": status.due_timers,
                      "phases": spent}))


def measure(label: str, n: int, profile: bool = False, events: bool = False, phases: bool = False) -> list[Any]:
    """Seed a fresh ledger of ``label``'s backend with n onboardings, tick it in a child process.
    ``events``: with a Prefect server listening, as under ``kickoff up`` (every firing's
    onboarding events are sent; the time includes draining them)."""
    import tempfile
    import uuid
    from contextlib import nullcontext

    from flows.local.prefect_server import PrefectServer
    from kickoff.ledger import Ledger

    with tempfile.TemporaryDirectory(prefix="kickoff-bench-tick-") as tmp, \
            (PrefectServer(Path(tmp) / "prefect") if events else nullcontext()) as server:
        child_env = {**os.environ, **(server.environment() if server else {})}
        if label == "sqlite":
            url, schema = f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}", None
        else:
            url, schema = os.environ[PG_ENV], f"kbench_{uuid.uuid4().hex[:12]}"
        ledger = Ledger.open(url, schema=schema)
        try:
            t0 = time.perf_counter()
            due = seed(ledger, n)
            seeded = time.perf_counter() - t0
            out = subprocess.run(
                [sys.executable, "-m", "bench.bench_tick", "--child", url, "--schema", schema or "",
                 "--now", due.isoformat(), *(["--profile"] if profile else []), *(["--phases"] if phases else [])],
                cwd=REPO, capture_output=not profile, stdout=subprocess.PIPE if profile else None,
                text=True, check=True, env=child_env)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
        finally:
            ledger.close()
            if schema:
                from sqlalchemy import create_engine, text

                admin = create_engine(url)
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()
    seconds = figures["seconds"]
    if figures.get("phases"):
        print_phases(label, n, seconds, figures["phases"])
    peak_mb, base_mb = figures["peak_kb"] / 1024, figures["baseline_kb"] / 1024
    return [label, f"{n:,}", f"{seeded:.1f}", f"{seconds:.1f}", fmt(n / seconds), f"{seconds / n * 1000:.2f}",
            figures["processed"], figures["actions"], figures["deferred"], figures["due_left"],
            f"{peak_mb:.0f}", f"{peak_mb - base_mb:.0f}", f"{figures.get('helper_peak_kb', 0) / 1024:.0f}"]


def print_phases(label: str, n: int, seconds: float, spent: dict[str, float]) -> None:
    """ms per timer in each phase, and what is left (reporting, events, the loop itself);
    ``database`` is the part of claim, load and commit spent in the driver, not a phase of its own."""
    rows = [[label, phase, f"{spent[phase] / n * 1000:.3f}", f"{spent[phase] / seconds:.0%}"] for phase in spent]
    rest = seconds - sum(v for phase, v in spent.items() if phase != "database")
    rows.append([label, "rest", f"{rest / n * 1000:.3f}", f"{rest / seconds:.0%}"])
    print_table(f"Where a timer's time goes ({n:,} timers)", ["ledger", "phase", "ms/timer", "share"], rows)


def run(quick: bool = False) -> None:
    from bench.common import backends

    sizes = (1_000, 10_000) if quick else (10_000, 100_000)
    note(f"== tick: {' and '.join(f'{n:,}' for n in sizes)} open onboardings with a due timer ==")
    rows = [measure(label, n) for label in backends() for n in sizes]
    print_table(
        "The tick (flows.steps.process.tick) over N due timers, one child process per run",
        ["ledger", "onboardings", "seed s", "tick s", "timers/s", "ms/timer", "fired", "actions queued",
         "deferred", "due left", "peak RSS MB", "RSS growth MB", "helper peak RSS MB"],
        rows)
    note("Bound: linear in N (constant ms/timer) and memory flat in N (the tick claims 500 timers at a time). "
         "Peak RSS (VmHWM) is the child's whole process (interpreter, playbooks, SQLAlchemy); growth is the peak "
         "over its RSS just before the tick. The tick forks a helper (flows.steps.helpers) when two claims' worth "
         "are due: its peak RSS counts the pages it shares with the tick's process since the fork.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, action="append")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--phases", action="store_true", help="also time the tick's phases")
    parser.add_argument("--child")
    parser.add_argument("--schema", default="")
    parser.add_argument("--now")
    parser.add_argument("--events", action="store_true", help="a Prefect server listening (as under kickoff up)")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.schema or None, args.now, args.profile, args.phases)
        return
    rows = [measure(args.backend, n, args.profile, args.events, args.phases) for n in (args.size or [10_000])]
    print_table("The tick", ["ledger", "onboardings", "seed s", "tick s", "timers/s", "ms/timer", "fired",
                             "actions queued", "deferred", "due left", "peak RSS MB", "RSS growth MB",
                             "helper peak RSS MB"], rows)


if __name__ == "__main__":
    main()
