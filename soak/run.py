"""One soak run per seed, on one sandbox shared by every run of the process.

Per run: the sandbox is reset and seeded (the demo's fixture), its proactive limits are
switched off (429s come only from injected faults, so runs are fast and replayable), a fresh
SQLite ledger and a gateway are started, the seed's faults are armed, and a virtual clock
plays the chosen procedures' acts, calling the steps (process, tick, push, poll) directly.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import yaml
from sqlalchemy import func, select

from kickoff.closing import Closing
from kickoff.settings import Config, load_config
from soak.faults import FaultPlan, fault_targets, plan_for
from soak.invariants import check_run
from soak.record import RunResult
from soak.worker import OUR_LOGGERS, build_runtime, push_child

if TYPE_CHECKING:
    from sandbox.state import Sandbox

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "sandbox" / "fixtures" / "default.yaml"
MAX_ROUNDS_PER_MOMENT = 12
HORIZON_DAYS = 45          # virtual days played after the first act
POSTPONE_DAYS = 2          # an act waits at most this long for the record it needs
FLUSH_TIMEOUT = 45.0       # webhook retries (up to 10, backoff capped at 2 s) must be heard
TICK_CLAIM = 1             # every tick forks its helper (flows.steps.helpers), which claims one at a time too
SECRET_NAMES = ("TOKEN", "SECRET", "PASSWORD", "SESSION", "CONSUMER_KEY", "WEBHOOK_KEY", "WEBHOOK_URL")
log = logging.getLogger("soak")


class LogCapture(logging.Handler):
    """Every log record of the run, formatted, for the secret scan."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self._lock2 = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # noqa: BLE001 - a bad record must not break the run
            line = str(record.msg)
        with self._lock2:
            self.lines.append(line)

    def take(self) -> list[str]:
        with self._lock2:
            lines, self.lines = self.lines, []
        return lines


def procedure_factories() -> dict[str, Callable[..., Any]]:
    from flows.demo import procedures

    return {"assist": procedures.assist, "marketplace": procedures.marketplace, "retention": procedures.retention,
            "core": procedures.core, "network": procedures.network}


def plan_of(seed: int, config: Config, sandbox: Sandbox) -> FaultPlan:
    """Seed ``seed``'s faults over the five procedures, each armed on its tenant's tools that
    the sandbox serves over HTTP (where its fault rules apply)."""
    procedures = {name: make() for name, make in procedure_factories().items()}
    served = {name for name, vendor in sandbox.vendors.items() if vendor.prefixes}
    targets = fault_targets({key: tenant.tools for key, tenant in config.tenants.items()}, served)
    return plan_for(seed, list(procedures), {name: len(p.acts) for name, p in procedures.items()},
                    {name: targets.get(p.key, ()) for name, p in procedures.items()})


class SoakHarness(Closing):
    """The sandbox (HTTP + SMTP, in this process), the environment pointing Kickoff at it, and
    the log capture; ``run(seed)`` plays one randomized run and checks the invariants."""

    def __init__(self, workdir: Path | None = None, out: Callable[[str], None] | None = None) -> None:
        from sandbox.control import SandboxControl
        from sandbox.server import SandboxServer

        self.workdir = Path(workdir or REPO / ".kickoff" / "soak").resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.out = out or (lambda line: None)
        self.server = SandboxServer().start()
        self.control = SandboxControl(self.server.url, timeout=60)
        env = self.server.environment()
        env |= {"KICKOFF_CONFIG_DIR": str(REPO / "config"), "KICKOFF_EVENTS_TOKEN": "soak-events-token-9f2c7d",
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        self.env = env
        self.secrets = sorted({v for k, v in env.items() if any(n in k for n in SECRET_NAMES) and len(v) >= 6})
        self._saved = {k: os.environ.get(k) for k in [*env, "KICKOFF_HOME", "KICKOFF_DATABASE_URL",
                                                     "KICKOFF_PUBLIC_URL", "PREFECT_API_URL"]}
        os.environ.update(env)
        for key in ("KICKOFF_DATABASE_URL", "PREFECT_API_URL"):
            os.environ.pop(key, None)
        self.config = load_config(REPO / "config")
        self.capture = LogCapture()
        self._loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("uvicorn", "uvicorn.error",
                                                                             "uvicorn.access"))]
        self._levels = {lg.name: lg.level for lg in self._loggers}
        for lg in self._loggers:
            lg.addHandler(self.capture)
        logging.getLogger().setLevel(min(logging.getLogger().level or logging.INFO, logging.INFO))
        for name in OUR_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)

    def close(self) -> None:
        for lg in self._loggers:
            lg.removeHandler(self.capture)
        logging.getLogger().setLevel(self._levels.get("root", logging.WARNING))
        self.control.close()
        self.server.stop()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def run(self, seed: int) -> RunResult:
        started = time.monotonic()
        factories = procedure_factories()
        plan = plan_of(seed, self.config, self.server.sandbox)
        result = RunResult(seed, plan.describe())
        self.capture.take()
        run = Run(self, plan, result, factories)
        try:
            run.play()
        except Exception as exc:  # noqa: BLE001 - a crash of the run is a violation, with its trace
            result.violations.append(f"run crashed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        finally:
            try:
                if not any(v.startswith("run crashed") for v in result.violations):
                    result.violations.extend(check_run(run))
            except Exception as exc:  # noqa: BLE001
                result.violations.append(f"invariant check crashed: {type(exc).__name__}: {exc}\n"
                                         f"{traceback.format_exc()}")
            run.close()
            if result.ok:  # a failing run's ledger and child logs stay for inspection
                shutil.rmtree(run.home, ignore_errors=True)
        result.seconds = time.monotonic() - started
        return result


class Run:
    """The state of one run: runtime, gateway, clock, fault counters (a ``RunRecord``)."""

    def __init__(self, harness: SoakHarness, plan: FaultPlan, result: RunResult,
                 factories: dict[str, Callable[..., Any]]) -> None:
        from flows.demo.procedures import DEMO_START

        self.h, self.plan, self.result = harness, plan, result
        self.control = harness.control
        self.home = harness.workdir / f"run-{plan.seed}"
        shutil.rmtree(self.home, ignore_errors=True)
        self.home.mkdir(parents=True)
        os.environ["KICKOFF_HOME"] = str(self.home)
        self.procedures = [factories[name](DEMO_START + timedelta(days=plan.offsets_days[name]))
                           for name in plan.procedures]
        self.acts = sorted(act for p in self.procedures for act in p.acts)
        self.rt = None
        self.gateway = None
        self.gateway_port = 0
        self.prefect_up = True
        self.prefect_down_until: datetime | None = None
        self.push_calls = 0
        self.kills = 0
        self.child_logs: list[Path] = []
        self.act_errors: list[str] = []
        self.first_at: dict[tuple[str, str], datetime] = {}
        self.final_now: datetime | None = None

    # -- set-up ----------------------------------------------------------------------------
    def _setup(self) -> None:
        control = self.control
        control.reset()
        control.clear_faults(self.plan.seed)
        control.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")) or {})
        for vendor in self.h.server.sandbox.limits:
            control.set_limits(vendor, enabled=False)
        self.gateway_port = _free_port()
        public_url = f"http://127.0.0.1:{self.gateway_port}"  # what the vendors sign (HubSpot v3)
        os.environ["KICKOFF_PUBLIC_URL"] = public_url
        self.rt = build_runtime()
        self._start_gateway()
        assert self.gateway.url == public_url
        self.child_env = {**self.h.env, "KICKOFF_HOME": str(self.home), "KICKOFF_PUBLIC_URL": self.gateway.url}
        from flows.local.stack import _webhook_secret, _webhook_url

        for vendor, options in self.plan.webhooks.items():
            control.set_webhook(vendor, _webhook_url(self.gateway.url, vendor, self.h.env),
                                _webhook_secret(vendor, self.h.env), **options)
        self._create_asana_webhook()
        for kind, rule in self.plan.sandbox_rules:
            control.add_fault(**rule)
            self.result.faults[f"sandbox {kind} (armed)"] += 1
        for vendor, options in self.plan.webhooks.items():
            for what in ("duplicate", "reorder"):
                if options.get(what):
                    self.result.faults[f"webhook {what} ({vendor})"] += 1
            if options.get("delay_ms"):
                self.result.faults["webhook delay"] += 1

    def _create_asana_webhook(self) -> None:
        from gateway import expect_webhook_handshake

        rt = self.rt
        boards = rt.connector("asana").reads.get("projects", []) if "asana" in rt.config.tools else []
        for project in boards[:1]:
            expect_webhook_handshake(self.rt.ledger, "asana", "default", self.h.server.sandbox.clock.now())
            created = requests.post(f"{self.h.env['KICKOFF_ASANA_BASE_URL']}/api/1.0/webhooks", timeout=30,
                                    headers={"Authorization": f"Bearer {self.h.env['ASANA_ACCESS_TOKEN']}"},
                                    json={"data": {"resource": str(project),
                                                   "target": f"{self.gateway.url}/webhooks/asana"}})
            created.raise_for_status()

    def _notify(self, tool: str, inbox_ids: Any) -> None:
        """The gateway's notifier: Prefect's ``emit_event``, which fails while Prefect is down."""
        if not self.prefect_up:
            self.result.stats["notifications failed (Prefect down)"] += 1
            raise requests.ConnectionError("soak: the Prefect API is unreachable")
        self.result.stats["notifications"] += 1

    def _start_gateway(self) -> None:
        from gateway import create_app
        from gateway.server import GatewayServer

        app = create_app(self.rt.ledger, config=self.rt.config, announce=self._notify,
                         clock=self.h.server.sandbox.clock.now, public_url=f"http://127.0.0.1:{self.gateway_port}")
        self.gateway = GatewayServer(app, port=self.gateway_port).start()
        self.gateway_port = self.gateway.port

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        try:
            self.control.clear_faults()
            self.control.flush_webhooks(timeout=5)
        except Exception as exc:  # noqa: BLE001 - the next run resets the sandbox anyway
            log.info("soak: clean-up after seed %s: %s", self.plan.seed, exc)
        if self.rt is not None:
            self.rt.ledger.close()

    # -- the clock -------------------------------------------------------------------------
    def play(self) -> None:
        from flows.steps import ingest

        self._setup()
        acts = self.acts
        if not acts:
            return
        clock = VirtualClock(self.rt.ledger, self.control, acts[0].at)
        pending = list(enumerate(acts))

        def outage(now: datetime) -> datetime | None:
            down = self.prefect_down_until
            return down if down and down > now else None

        for now in clock.stops(lambda: pending[0][1].at if pending else None, also=outage):
            while pending and pending[0][1].at <= now:
                index, act = pending.pop(0)
                self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
                if index == self.plan.prefect_down_act:
                    self.prefect_up = False
                    self.prefect_down_until = now + timedelta(hours=self.plan.prefect_down_hours)
                    self.result.faults["Prefect unreachable"] += 1
                restart = self._restart_gateway_async() if index in self.plan.gateway_restart_acts else None
                done = self._do_act(act, now)
                if restart is not None:
                    restart.join(timeout=30)
                if not done:
                    pending.append((-1, replace(act, at=now + timedelta(hours=1))))
                    pending.sort(key=lambda item: item[1].at)
                    continue
                for tool in act.poll:
                    ingest.poll(self.rt, tool, now, max_pages=1)
            self.settle(now)
        self.final_settle(max(clock.now, clock.until))

    def _do_act(self, act: Any, now: datetime) -> bool:
        """A person's act; the platform behind a canonical event retries a refused call.
        False when what the act needs is not there yet (Kickoff has not written it: Prefect
        was down, or a retry is pending): the person comes back an hour later."""
        for attempt in range(40):
            try:
                act.do(self.control, self.rt)
                return True
            except LookupError as exc:
                first = self.first_at.setdefault((act.procedure, act.label), act.at)
                if now - first < timedelta(days=POSTPONE_DAYS):
                    self.result.stats["acts postponed (their record was not written yet)"] += 1
                    return False
                self.act_errors.append(f"act {act.label!r} at {act.at.isoformat()}: {type(exc).__name__}: {exc}")
                return True
            except requests.ConnectionError:
                time.sleep(0.1)
            except requests.HTTPError as exc:
                if exc.response is None or exc.response.status_code < 500:
                    raise
                time.sleep(0.1)
            except Exception as exc:  # noqa: BLE001 - e.g. a record the act needs is missing
                self.act_errors.append(f"act {act.label!r} at {act.at.isoformat()}: {type(exc).__name__}: {exc}")
                return True
        self.act_errors.append(f"act {act.label!r}: still refused after {attempt + 1} attempts")
        return True

    def _restart_gateway_async(self) -> threading.Thread:
        """Stop the gateway now; start it again on the same port after a moment, while the
        sandbox is delivering (its webhook retries must get through)."""
        self.gateway.stop()
        down = self.plan.gateway_down_seconds[self.result.faults["gateway restart"] % 4]
        self.result.faults["gateway restart"] += 1

        def again() -> None:
            time.sleep(down)
            self._start_gateway()

        thread = threading.Thread(target=again, name="soak-gateway-restart", daemon=True)
        thread.start()
        return thread

    def settle(self, now: datetime) -> None:
        from flows.steps import process

        for _ in range(MAX_ROUNDS_PER_MOMENT):
            self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
            if not self.prefect_up:
                if self.prefect_down_until is None or now < self.prefect_down_until:
                    return  # no flow runs while Prefect is unreachable; deliveries wait in the inbox
                self.prefect_up = True
                self.result.stats["deliveries that waited for the sweep"] += self.rt.ledger.status(now).pending_inbox
            did = False
            status = self.rt.ledger.status(now)
            if status.pending_inbox:
                report = process.process_inbox(self.rt, now)
                did = did or bool(report.processed or report.ignored or report.failed or report.echoes)
            if status.due_timers:
                report = process.tick(self.rt, now, limit=TICK_CLAIM, processes=2, helped_from=1)
                did = did or bool(report.processed or report.ignored)
                self.result.stats["ticks in two processes (a helper forked)"] += bool(report.workers)
            for tool in self.rt.ledger.due_outbox_tools(now):
                self._push(tool, now)
                did = True
            if not did:
                return

    def _push(self, tool: str, now: datetime) -> None:
        from flows.steps.push import push

        call, self.push_calls = self.push_calls, self.push_calls + 1
        if call in self.plan.kill_push_calls:
            self._push_killed(tool, now)
        else:
            push(self.rt, tool, now)

    def _push_killed(self, tool: str, now: datetime) -> None:
        """``push`` in a spawned child, killed with SIGKILL after a random moment."""
        from kickoff.ledger.schema import outbox

        context = multiprocessing.get_context("spawn")
        waiting, started = context.Pipe(duplex=False)
        worker = f"soak-child-{self.plan.seed}-{self.kills}"
        log_path = self.home / f"{worker}.log"
        self.child_logs.append(log_path)
        delay = self.plan.kill_delays[self.kills % len(self.plan.kill_delays)]
        self.kills += 1
        child = context.Process(target=push_child, name=worker, daemon=True,
                                args=(self.child_env, tool, now.isoformat(), worker, started, str(log_path)))
        child.start()
        started.close()
        if not waiting.poll(timeout=120):
            os.kill(child.pid, signal.SIGKILL)
            child.join(10)
            raise RuntimeError("the push child never started")
        waiting.close()
        time.sleep(delay)
        finished_before = not child.is_alive()
        if not finished_before:
            os.kill(child.pid, signal.SIGKILL)
        child.join(timeout=30)
        with self.rt.ledger.database.connect() as conn:
            orphaned = conn.execute(select(func.count()).select_from(outbox).where(
                outbox.c.claimed_by == worker, outbox.c.status == "claimed")).scalar_one()
        if finished_before:
            self.result.faults["push worker SIGKILL (after it finished)"] += 1
        elif orphaned:
            self.result.faults["push worker SIGKILL mid-push"] += 1
            self.result.stats["outbox rows orphaned by a killed worker"] += orphaned
        else:
            self.result.faults["push worker SIGKILL (nothing claimed)"] += 1

    def final_settle(self, until: datetime) -> None:
        """Everything that fell due by ``until`` is given its chance: leases of dead workers
        run out, retries come due, Prefect is back."""
        now = until
        self.prefect_up = True
        for _ in range(40):
            self.control.set_clock(at=now.isoformat(), frozen=True)
            self.settle(now)
            lease = next_lease(self.rt.ledger, now)
            retry = self._next_retry(now, until)
            later = [m for m in (lease, retry) if m is not None]
            if not later:
                break
            now = min(later)
        self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
        self.final_now = now

    def _next_retry(self, now: datetime, until: datetime) -> datetime | None:
        """The next retry of an action that was due by ``until`` (a backoff after a failure)."""
        from kickoff.ledger.schema import outbox
        from kickoff.ledger.types import as_utc

        with self.rt.ledger.database.connect() as conn:
            moment = conn.execute(select(func.min(outbox.c.next_try_at)).where(
                outbox.c.status == "pending", outbox.c.due_at <= until, outbox.c.next_try_at > now)).scalar_one()
        return as_utc(moment) if moment is not None else None



class VirtualClock:
    """The soak's clock: from the first act it stops at each ``next_moment`` and sets the
    sandbox's clock there (frozen), until nothing is due or ``HORIZON_DAYS`` have passed.
    ``now`` is the last moment reached (one past the horizon when that ended it)."""

    def __init__(self, ledger: Any, control: Any, start: datetime) -> None:
        self.ledger, self.control = ledger, control
        self.now, self.until = start, start + timedelta(days=HORIZON_DAYS)

    def stops(self, next_act: Callable[[], datetime | None],
              also: Callable[[datetime], datetime | None] = lambda now: None) -> Iterator[datetime]:
        """Each stop in turn; ``next_act`` and ``also`` (an outage's end) are asked anew at
        every stop, as acts may be postponed meanwhile."""
        first = True
        while True:
            moment = next_moment(self.ledger, self.now, first=first, next_act=next_act(),
                                 also=also(self.now))
            if moment is None:
                return
            self.now, first = moment, False
            if self.now > self.until:
                return
            self.control.set_clock(at=self.now.isoformat(), frozen=True)
            yield self.now


def next_moment(ledger, now: datetime, *, first: bool, next_act: datetime | None,
                also: datetime | None = None) -> datetime | None:
    """The virtual clock's next stop: the next act, the next due timer or action (never before
    ``now``; from the start when ``first``), a lease running out, or ``also``."""
    candidates = [m for m in (next_act, also) if m is not None]
    due = ledger.next_due(after=None if first else now)
    if due is not None:
        candidates.append(max(due, now))
    lease = next_lease(ledger, now)
    if lease is not None:
        candidates.append(lease)
    return min(candidates) if candidates else None


def next_lease(ledger, now: datetime) -> datetime | None:
    """When a claim held by a dead or deferring worker runs out (the next worker's chance)."""
    from kickoff.ledger.schema import inbox, outbox, timers
    from kickoff.ledger.types import as_utc

    moments = []
    with ledger.database.connect() as conn:
        for table in (inbox, outbox, timers):
            moment = conn.execute(select(func.min(table.c.lease_until)).where(
                table.c.status == "claimed", table.c.lease_until > now)).scalar_one()
            if moment is not None:
                moments.append(as_utc(moment))
    return min(moments) if moments else None

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_seeds(seeds: list[int], out: Callable[[str], None] = print, workdir: Path | None = None,
              verbose: bool = False) -> list[RunResult]:
    results = []
    with SoakHarness(workdir, out) as harness:
        for seed in seeds:
            result = harness.run(seed)
            results.append(result)
            mark = "ok" if result.ok else f"{len(result.violations)} VIOLATION(S)"
            if verbose or not result.ok:
                out(f"  seed {seed}: {mark} in {result.seconds:.1f} s — {result.plan}")
                for violation in result.violations:
                    out(f"    ✗ {violation}")
    return results
