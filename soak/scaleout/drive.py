"""Step 5: play the procedures on the virtual clock; every flow runs as a flow run of a
deployment from prefect.yaml, picked up by one of the workers (``now`` passed as a
parameter). Then the soak's invariants + no outbox row handled twice + no 429."""

from __future__ import annotations

import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import requests
import yaml
from sqlalchemy import text

from kickoff.ledger.migrate import VERSION_TABLE
from soak.scaleout.stack import FIXTURE, ScaleoutStack

HORIZON_DAYS = 45
MAX_ROUNDS = 12
PUSH_COPIES = 2          # contention: this many push runs per due tool at once
FLOW_TIMEOUT = 600.0


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
        from flows.demo import procedures as P
        from flows.demo.procedures import DEMO_START

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
        factories = {"assist": P.assist, "marketplace": P.marketplace, "retention": P.retention,
                     "core": P.core, "network": P.network}
        self.procs = [factories[n](DEMO_START + timedelta(days=offsets.get(n, 0))) for n in procedures]
        self.acts = sorted(a for p in self.procs for a in p.acts)
        self._deployments: dict[str, UUID] = {}

    # -- per-run reset (the stack is shared by all runs) ------------------------------------------
    def reset(self) -> None:
        from flows.local.stack import _webhook_secret, _webhook_url
        from kickoff.gateway import expect_asana_handshake

        with self.rt.ledger.engine.begin() as conn:
            names = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> :vt"), {"vt": VERSION_TABLE})]
            conn.execute(text("TRUNCATE " + ", ".join(f'"{n}"' for n in names) + " RESTART IDENTITY CASCADE"))
        self.control.reset()
        self.control.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")) or {})
        st = self.st
        for vendor in ("hubspot", "salesforce", "zendesk", "movidesk", "dealbuilder"):
            self.control.set_webhook(vendor, _webhook_url(st.gateway.url, vendor, st.env), _webhook_secret(vendor, st.env))
        tool = self.rt.config.tools.get("asana")
        for project in ((tool.options.get("projects") or [])[:1] if tool else []):
            expect_asana_handshake(self.rt.ledger, "default", st.sandbox.sandbox.clock.now())
            requests.post(f"{st.env['KICKOFF_ASANA_BASE_URL']}/api/1.0/webhooks", timeout=30,
                          headers={"Authorization": f"Bearer {st.env['ASANA_ACCESS_TOKEN']}"},
                          json={"data": {"resource": str(project), "target": f"{st.gateway.url}/webhooks/asana"}}
                          ).raise_for_status()
        self.seq0 = self.control.last_seq()

    # -- flow runs on the pool -------------------------------------------------------------------
    def _run(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        """Create the flow runs at once, wait until every one is final."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            ids = []
            for name, params in calls:
                if name not in self._deployments:
                    self._deployments[name] = client.read_deployment_by_name(name).id
                ids.append((name, client.create_flow_run_from_deployment(self._deployments[name], parameters=params).id))
            deadline = time.monotonic() + FLOW_TIMEOUT
            pending = dict(ids)
            pending = {i: n for n, i in ids}
            while pending and time.monotonic() < deadline:
                time.sleep(0.25)
                for run_id in list(pending):
                    state = client.read_flow_run(run_id).state
                    if state is not None and state.is_final():
                        self.flow_runs.append((pending.pop(run_id), str(run_id), state.type.value))
                        self.result.stats[f"flow runs {state.type.value}"] += 1
            for run_id, name in pending.items():
                self.flow_runs.append((name, str(run_id), "TIMEOUT"))

    def settle(self, now: datetime) -> None:
        iso = now.isoformat()
        for _ in range(MAX_ROUNDS):
            self.control.flush_webhooks(timeout=45)
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
                self._run([(f"push/push-{t}", {"tool": t, "now": iso}) for t in tools for _ in range(PUSH_COPIES)])
            if not first and not tools:
                return

    def play(self) -> None:
        self.reset()
        if not self.acts:
            return
        start = self.acts[0].at
        until = start + timedelta(days=HORIZON_DAYS)
        pending = list(self.acts)
        now, first = start, True
        while True:
            cands = [pending[0].at] if pending else []
            due = self.rt.ledger.next_due(after=None if first else now)
            if due is not None:
                cands.append(max(due, now))
            if not cands:
                break
            now, first = min(cands), False
            if now > until:
                break
            self.control.set_clock(at=now.isoformat(), frozen=True)
            while pending and pending[0].at <= now:
                act = pending.pop(0)
                self.control.flush_webhooks(timeout=45)
                try:
                    act.do(self.control, self.rt)
                except Exception as exc:  # noqa: BLE001
                    self.act_errors.append(f"act {act.label!r}: {type(exc).__name__}: {exc}")
                if act.poll:
                    self._run([(f"poll/poll-{t}", {"tool": t, "max_pages": 1}) for t in act.poll])
            self.settle(now)
        self.settle(now)
        self.control.flush_webhooks(timeout=45)
        self.final_now = now

    # -- the extra invariants ---------------------------------------------------------------------
    def extra_violations(self) -> list[str]:
        v = [f"flow run {name} {rid} ended {state}" for name, rid, state in self.flow_runs if state != "COMPLETED"]
        with self.rt.ledger.engine.connect() as conn:
            audit = conn.execute(text("SELECT outbox_id, old_status, new_status, old_claimed_by, new_claimed_by, pid "
                                      "FROM soak_outbox_audit ORDER BY seq")).all()
        done = Counter(r[0] for r in audit if r[2] == "done")
        claims = Counter(r[0] for r in audit if r[2] == "claimed" and r[1] != "claimed")
        # push claims as "push" in every flow run: a re-claim of a claimed row is the takeover
        takeovers = [r for r in audit if r[1] == "claimed" and r[2] == "claimed"]
        claimants = Counter(r[5] for r in audit if r[2] == "claimed")  # PG backend pid = one flow run process
        self.result.stats["outbox claims"] += sum(claims.values())
        self.result.stats["distinct claiming connections"] += len(claimants)
        self.result.stats["rows handled twice"] += sum(1 for n in done.values() if n > 1) + len(takeovers)
        v += [f"outbox {i} went to done {n} times" for i, n in done.items() if n > 1]
        v += [f"outbox {r[0]} re-claimed while claimed ({r[3]} -> {r[4]}, pid {r[5]})" for r in takeovers]
        log = self.control.requests(since=self.seq0)
        too_many = [e for e in log if e["status"] == 429]
        self.result.stats["vendor requests"] += len(log)
        self.result.stats["429s"] += len(too_many)
        v += [f"429 from {e['vendor']} {e['method']} {e['route']} (seq {e['seq']}, fault {e['fault']})" for e in too_many]
        return v


def run_one(st: ScaleoutStack, seed: int) -> tuple[list[str], Counter, float]:
    from soak.faults import plan_for
    from soak.invariants import check_run
    from soak.run import _procedure_factories

    t = time.monotonic()
    factories = _procedure_factories()
    plan = plan_for(seed, list(factories), {n: len(m().acts) for n, m in factories.items()})
    run = ScaleoutRun(st, seed, plan.procedures, plan.offsets_days)
    violations: list[str] = []
    try:
        run.play()
    except Exception as exc:  # noqa: BLE001
        violations.append(f"run crashed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    try:
        violations += check_run(run)  # type: ignore[arg-type]
        violations += run.extra_violations()
    except Exception as exc:  # noqa: BLE001
        violations.append(f"check crashed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    run.result.stats["procedures"] += len(plan.procedures)
    return violations, run.result.stats, time.monotonic() - t


def run_many(st: ScaleoutStack, seeds: list[int], out=print) -> bool:
    total: Counter = Counter()
    bad = 0
    for seed in seeds:
        violations, stats, secs = run_one(st, seed)
        total.update(stats)
        bad += bool(violations)
        out(f"seed {seed}: {'ok' if not violations else f'{len(violations)} VIOLATION(S)'} in {secs:.0f} s; "
            f"{dict(stats)}")
        for line in violations[:20]:
            out(f"   x {line.splitlines()[0][:300]}")
    out(f"{len(seeds)} runs, {bad} with violations; totals {dict(total)}")
    return bad == 0
