"""Step 5: play the procedures on the virtual clock; every flow runs as a flow run of a
deployment from prefect.yaml, picked up by one of the workers (``now`` passed as a
parameter). Then the soak's invariants + no outbox row handled twice + no 429."""

from __future__ import annotations

import os
import random
import re
import signal
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import requests
import yaml
from sqlalchemy import text

from kickoff.ledger.migrate import VERSION_TABLE
from soak.faults import webhook_vendors
from soak.run import FLUSH_TIMEOUT, VirtualClock, next_lease
from soak.scaleout.load import LOADED_TOOLS, commit_load, load_moment, window_peaks
from soak.scaleout.stack import FIXTURE, ScaleoutStack

MAX_ROUNDS = 12
PUSH_COPIES = 2          # contention: this many push runs per due tool at once
FLOW_TIMEOUT = 600.0
LOAD_COPIES = 3          # push runs per loaded tool at once
CRASH_REPORT_WAIT = 60.0  # a killed run the worker has not marked Crashed by then is marked by us


COMPLETED = "COMPLETED"
DEAD_LETTERS = "FAILED (dead letters)"
"""A push run whose actions became dead letters ends Failed on purpose (the ledger recorded
them): what a fault injected permanently does, not a run that went wrong."""


def final_state(state: Any) -> str:
    """The run's final state type, telling a push run Failed by its dead letters apart."""
    kind = state.type.value
    if kind == "FAILED" and re.match(r"^\d+ dead letters?:", state.message or ""):
        return DEAD_LETTERS
    return kind


@dataclass
class _Capture:
    def take(self) -> list[str]:
        return []


@dataclass
class _Harness:
    secrets: list[str]
    capture: _Capture = field(default_factory=_Capture)


@dataclass
class _Plan:
    seed: int
    sandbox_rules: list = field(default_factory=list)


@dataclass
class _Result:
    faults: Counter = field(default_factory=Counter)
    stats: Counter = field(default_factory=Counter)


class ScaleoutRun:
    """What soak.invariants.check_run reads, plus the flow-run driver."""

    def __init__(self, st: ScaleoutStack, seed: int, procedures: list[str], offsets: dict[str, int]) -> None:
        from soak.run import procedure_factories

        self.st, self.control, self.rt = st, st.control, st.rt
        self.plan, self.result = _Plan(seed), _Result()
        secrets = sorted({v for k, v in st.env.items() if any(n in k for n in
                          ("TOKEN", "SECRET", "PASSWORD", "SESSION", "CONSUMER_KEY", "WEBHOOK_KEY", "WEBHOOK_URL"))
                          and len(v) >= 6})
        self.h = _Harness(secrets)
        self.child_logs: list[Path] = list(st.worker_logs)
        self.act_errors: list[str] = []
        self.final_now: datetime | None = None
        self.flow_runs: list[tuple[str, str, str]] = []  # (deployment, id, final state)
        factories = procedure_factories()
        self.procs = [factories[n](self.start_of(n, offsets)) for n in procedures]
        self.acts = sorted(a for p in self.procs for a in p.acts)
        self._deployments: dict[str, UUID] = {}
        rng = random.Random(seed)
        self.kill_push_rounds = set(rng.sample(range(8), 2))   # which push rounds lose a run to SIGKILL
        self.kill_delays = [rng.uniform(0.0, 1.5) for _ in range(2)] + [rng.uniform(2.0, 12.0)]
        self.push_rounds = 0
        self.killed: set[str] = set()       # flow run ids killed with SIGKILL

    def start_of(self, procedure: str, offsets: dict[str, int]) -> date:
        """The day a procedure starts: the demo's start plus the plan's offset (virtual time)."""
        from flows.demo.procedures import DEMO_START

        return DEMO_START + timedelta(days=offsets.get(procedure, 0))

    # -- per-run reset (the stack is shared by all runs) ------------------------------------------
    def reset(self) -> None:
        from flows.local.stack import _webhook_secret, _webhook_url
        from gateway import expect_webhook_handshake

        with self.rt.ledger.database.begin() as conn:
            names = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> :vt"), {"vt": VERSION_TABLE})]
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))
        self.control.reset()
        self.control.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")) or {})
        st = self.st
        for vendor in webhook_vendors():
            self.control.set_webhook(vendor, _webhook_url(st.gateway.url, vendor, st.env), _webhook_secret(vendor, st.env))
        rt = self.rt
        boards = rt.connector("asana").reads.get("projects", []) if "asana" in rt.config.tools else []
        for project in boards[:1]:
            expect_webhook_handshake(self.rt.ledger, "asana", "default", st.sandbox.sandbox.clock.now())
            requests.post(f"{st.env['KICKOFF_ASANA_BASE_URL']}/api/1.0/webhooks", timeout=30,
                          headers={"Authorization": f"Bearer {st.env['ASANA_ACCESS_TOKEN']}"},
                          json={"data": {"resource": str(project), "target": f"{st.gateway.url}/webhooks/asana"}}
                          ).raise_for_status()
        self.seq0 = self.control.last_seq()

    # -- flow runs on the pool -------------------------------------------------------------------
    def _run(self, calls: list[tuple[str, dict[str, Any]]], kill_delay: float | None = None) -> None:
        """Create the flow runs at once, wait until every one is final. With ``kill_delay``,
        the first run's process is killed with SIGKILL that long after it started running."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            ids = []
            for name, params in calls:
                if name not in self._deployments:
                    self._deployments[name] = client.read_deployment_by_name(name).id
                ids.append((name, client.create_flow_run_from_deployment(self._deployments[name], parameters=params).id))
            if kill_delay is not None:
                self._kill(client, ids[0][1], kill_delay)
            deadline = time.monotonic() + FLOW_TIMEOUT
            pending = {i: n for n, i in ids}
            while pending and time.monotonic() < deadline:
                time.sleep(0.25)
                for run_id in list(pending):
                    state = client.read_flow_run(run_id).state
                    if state is not None and state.is_final():
                        self.flow_runs.append((pending.pop(run_id), str(run_id), final_state(state)))
                        self.result.stats[f"flow runs {final_state(state)}"] += 1
            for run_id, name in pending.items():
                self.flow_runs.append((name, str(run_id), "TIMEOUT"))

    def _kill(self, client: Any, run_id: UUID, delay: float) -> None:
        """SIGKILL the flow run's process (the worker started it) ``delay`` s after it runs;
        the rows it claimed stay claimed until their lease runs out."""
        from prefect.states import Crashed

        deadline = time.monotonic() + FLOW_TIMEOUT
        while time.monotonic() < deadline:
            run = client.read_flow_run(run_id)
            if run.state is not None and run.state.is_final():
                self.result.faults["flow run SIGKILL (finished before)"] += 1
                return
            if run.state is not None and run.state.is_running() and run.infrastructure_pid:
                break
            time.sleep(0.05)
        else:
            return
        time.sleep(delay)
        if client.read_flow_run(run_id).state.is_final():
            self.result.faults["flow run SIGKILL (finished before)"] += 1
            return
        pid = int(str(run.infrastructure_pid).rsplit(":", 1)[-1])
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            self.result.faults["flow run SIGKILL (finished before)"] += 1
            return
        self.killed.add(str(run_id))
        self.result.faults["flow run SIGKILL mid-run"] += 1
        time.sleep(0.5)  # the process is gone; let its last commit settle before counting its claims
        with self.rt.ledger.database.connect() as conn:
            orphaned = conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'claimed' AND claimed_by LIKE :w"),
                                    {"w": f"%{run_id}"}).scalar_one()
        self.result.stats["outbox rows orphaned by a killed run"] += orphaned
        waited = time.monotonic() + CRASH_REPORT_WAIT
        while time.monotonic() < waited and not client.read_flow_run(run_id).state.is_final():
            time.sleep(0.25)
        if not client.read_flow_run(run_id).state.is_final():
            client.set_flow_run_state(run_id, Crashed(message="killed by the scale-out soak"), force=True)
            self.result.stats["killed runs marked Crashed by the soak"] += 1

    def settle(self, now: datetime) -> None:
        iso = now.isoformat()
        for _ in range(MAX_ROUNDS):
            self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
            status = self.rt.ledger.status(now)
            first = []
            if status.pending_inbox:
                first.append(("process-inbox/process-inbox", {"now": iso}))
            if status.due_timers:
                first.append(("tick/tick", {"now": iso}))
            if first:
                self._run(first)
            tools = self.rt.ledger.due_outbox_tools(now)
            if tools:
                kill = self.push_rounds in self.kill_push_rounds
                self._run([(f"push/push-{t}", {"tool": t, "now": iso}) for t in tools for _ in range(PUSH_COPIES)],
                          kill_delay=self.kill_delays[len(self.killed) % 2] if kill else None)
                self.push_rounds += 1
            if not first and not tools:
                return

    def play(self) -> None:
        self.reset()
        if not self.acts:
            return
        clock = VirtualClock(self.rt.ledger, self.control, self.acts[0].at)
        pending = list(self.acts)
        for now in clock.stops(lambda: pending[0].at if pending else None):
            while pending and pending[0].at <= now:
                act = pending.pop(0)
                self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
                try:
                    act.do(self.control, self.rt)
                except Exception as exc:  # noqa: BLE001
                    self.act_errors.append(f"act {act.label!r}: {type(exc).__name__}: {exc}")
                if act.poll:
                    self._run([(f"poll/poll-{t}", {"tool": t, "max_pages": 1, "now": now.isoformat()}) for t in act.poll])
            self.settle(now)
        now = clock.now
        self.settle(now)
        now = self.load(load_moment(now))
        self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
        self.final_now = now

    def load(self, now: datetime) -> datetime:
        """The load phase: many writes to Slack and Movidesk, pushed by several runs at once
        (one killed mid-push); then the leases of the killed run are waited out."""
        self.control.set_clock(at=now.isoformat(), frozen=True)
        self.load_seq = self.control.last_seq()
        sizes = commit_load(self.rt.ledger, self.plan.seed, now)
        self.result.stats["load actions"] += sum(sizes.values())
        iso = now.isoformat()
        started = time.monotonic()
        self._run([(f"push/push-{t}", {"tool": t, "now": iso}) for t in LOADED_TOOLS for _ in range(LOAD_COPIES)],
                  kill_delay=self.kill_delays[-1])
        self.result.stats["load push seconds"] += round(time.monotonic() - started)
        self.settle(now)
        for _ in range(20):
            lease = next_lease(self.rt.ledger, now)
            if lease is None:
                break
            now = lease
            self.control.set_clock(at=now.isoformat(), frozen=True)
            self.settle(now)
        return now

    # -- the extra invariants ---------------------------------------------------------------------
    def extra_violations(self) -> list[str]:
        v = [f"flow run {name} {rid} ended {state}" for name, rid, state in self.flow_runs
             if state not in (COMPLETED, DEAD_LETTERS) and not (rid in self.killed and state == "CRASHED")]
        with self.rt.ledger.database.connect() as conn:
            audit = conn.execute(text("SELECT outbox_id, old_status, new_status, old_claimed_by, new_claimed_by, pid "
                                      "FROM soak_outbox_audit ORDER BY seq")).all()
        done = Counter(r[0] for r in audit if r[2] == "done")
        claims = [r for r in audit if r[2] == "claimed"]
        takeovers = [r for r in audit if r[1] == "claimed" and r[2] == "claimed"]
        self.result.stats["outbox claims"] += len(claims)
        self.result.stats["distinct claiming flow runs"] += len({_run_id(r[4]) for r in claims})
        self.result.stats["rows taken over from a killed run"] += sum(1 for r in takeovers if _run_id(r[3]) in self.killed)
        # handled twice: finished twice, or taken from a run that was alive (a retry after a
        # failure goes back to pending first, and is not a takeover)
        twice = {i for i, n in done.items() if n > 1} | {r[0] for r in takeovers if _run_id(r[3]) not in self.killed}
        self.result.stats["rows handled twice"] += len(twice)
        v += [f"outbox {i} handled twice: done {done[i]} times, claims {[(r[3], r[4]) for r in claims if r[0] == i]}"
              for i in sorted(twice)]
        if any(c == "push" or not _run_id(c) for c in (r[4] for r in claims)):
            v.append("a push claimed rows without its flow run id")
        log = self.control.requests(since=self.seq0)
        too_many = [e for e in log if e["status"] == 429]
        self.result.stats["vendor requests"] += len(log)
        self.result.stats["429s"] += len(too_many)
        v += [f"429 from {e['vendor']} {e['method']} {e['route']} (seq {e['seq']}, fault {e['fault']})" for e in too_many]
        limits = {name: dict(lim.__dict__) for name, lim in self.st.sandbox.sandbox.limits.items()}
        for peak in window_peaks(self.control.requests(since=getattr(self, "load_seq", self.seq0)), limits):
            key = f"{peak.vendor} peak requests in {peak.window_seconds:.0f} s (limit {peak.limit})"
            self.result.stats[key] = max(self.result.stats[key], peak.peak)
            if peak.peak > peak.limit:
                v.append(f"{peak.vendor}: {peak.peak} requests in one {peak.window_seconds:.0f} s window (limit {peak.limit})")
        return v


class LoadOnlyRun(ScaleoutRun):
    """Only the load phase (no procedures): the quick way to compare limiters."""

    def __init__(self, st: ScaleoutStack, seed: int, procedures: list[str], offsets: dict[str, int]) -> None:
        super().__init__(st, seed, [], offsets)

    def play(self) -> None:
        from flows.demo.procedures import DEMO_START

        self.reset()
        start = datetime(DEMO_START.year, DEMO_START.month, DEMO_START.day, 9, tzinfo=UTC)
        self.final_now = self.load(start)
        self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)


def _run_id(worker: str | None) -> str:
    """The flow run id in a claimant name ``<step>-<uuid>`` ('' if there is none)."""
    text = worker or ""
    return text[-36:] if len(text) > 36 and text[-37] == "-" else ""


def run_one(st: ScaleoutStack, seed: int, variant: type[ScaleoutRun] = ScaleoutRun
            ) -> tuple[list[str], Counter, Counter, float]:
    """Play seed ``seed``'s procedures as ``variant`` plays them; check everything after."""
    from soak.invariants import check_run
    from soak.run import plan_of

    t = time.monotonic()
    plan = plan_of(seed, st.rt.config, st.sandbox.sandbox)
    run = variant(st, seed, plan.procedures, plan.offsets_days)
    violations: list[str] = []
    try:
        run.play()
    except Exception as exc:  # noqa: BLE001
        violations.append(f"run crashed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    try:
        violations += check_run(run)
        violations += run.extra_violations()
    except Exception as exc:  # noqa: BLE001
        violations.append(f"check crashed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    run.result.stats["procedures"] += len(run.procs)
    run.result.stats["acts"] += len(run.acts)
    return violations, run.result.stats, run.result.faults, time.monotonic() - t


def run_many(st: ScaleoutStack, seeds: list[int], out=print, run=run_one) -> bool:
    total: Counter = Counter()
    faults: Counter = Counter()
    bad = 0
    for seed in seeds:
        violations, stats, injected, secs = run(st, seed)
        faults.update(injected)
        for key, value in stats.items():  # peaks are maxima, the rest sums
            total[key] = max(total[key], value) if "peak" in key else total[key] + value
        bad += bool(violations)
        out(f"seed {seed}: {'ok' if not violations else f'{len(violations)} VIOLATION(S)'} in {secs:.0f} s; "
            f"faults {dict(injected)}; {dict(stats)}")
        for line in violations[:20]:
            out(f"   x {line.splitlines()[0][:300]}")
    out(f"{len(seeds)} runs, {bad} with violations; faults {dict(faults)}; totals {dict(total)}")
    return bad == 0
