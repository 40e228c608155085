"""Steps 2-4: the ledger on PostgreSQL, the sandbox (real limits) and the gateway in this
process, the work pool + deployments (from prefect.yaml) + limits, and three
``prefect worker start`` subprocesses, each in its own process group. Everything started
is stopped and every database dropped on exit."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from flows.local.processes import stop_process_group
from soak.faults import webhook_vendors
from soak.scaleout import pg
from soak.scaleout.server import PostgresPrefectServer

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "sandbox" / "fixtures" / "default.yaml"
POOL = "kickoff"  # prefect.yaml's work_pool.name (a fresh server database per soak)

# Per-claim bookkeeping in the soak's ledger database only (kickoff's schema is untouched):
# every outbox status change, with the claimant before and after, in commit order.
AUDIT_SQL = """
CREATE TABLE soak_outbox_audit (
    seq bigserial PRIMARY KEY, outbox_id bigint, old_status text, new_status text,
    old_claimed_by text, new_claimed_by text, at timestamptz DEFAULT clock_timestamp(),
    pid int DEFAULT pg_backend_pid());
CREATE FUNCTION soak_outbox_audit_fn() RETURNS trigger AS $$
BEGIN
  IF NEW.status IS DISTINCT FROM OLD.status OR NEW.claimed_by IS DISTINCT FROM OLD.claimed_by THEN
    INSERT INTO soak_outbox_audit (outbox_id, old_status, new_status, old_claimed_by, new_claimed_by)
    VALUES (NEW.id, OLD.status, NEW.status, OLD.claimed_by, NEW.claimed_by);
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER soak_outbox_audit AFTER UPDATE ON outbox FOR EACH ROW EXECUTE FUNCTION soak_outbox_audit_fn();
"""


@dataclass
class ScaleoutStack:
    home: Path
    env: dict[str, str] = field(default_factory=dict)      # what every client/worker needs
    prefect_db: str = ""
    ledger_db: str = ""
    server: PostgresPrefectServer | None = None
    sandbox: Any = None
    control: Any = None
    gateway: Any = None
    rt: Any = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = 300.0, check: bool = True) -> subprocess.CompletedProcess:
        out = subprocess.run(list(args), env={**os.environ, **self.env}, cwd=REPO, timeout=timeout,
                             capture_output=True, text=True, check=False)  # checked below, with the output
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} -> {out.returncode}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
        return out


def derived_prefect_yaml(home: Path, *, virtual_clock: bool, contend: bool) -> Path:
    """prefect.yaml as it is, except (virtual clock) no schedules and no triggers: those would
    start runs with now=None (the wall clock, months away from the sandbox's virtual time);
    and (contend) no concurrency_limit on push-*, so two workers push one tool at once."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    for dep in spec["deployments"]:
        if virtual_clock:
            dep["schedules"] = []
            dep.pop("triggers", None)
        if contend and dep["name"].startswith("push-"):
            dep.pop("concurrency_limit", None)
    path = home / "prefect.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def scaleout_stack(home: Path, *, workers: int = 3, virtual_clock: bool = True, contend: bool = True,
                   limiter: str = "prefect", out=print) -> Iterator[ScaleoutStack]:
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    st = ScaleoutStack(home)
    saved = {k: os.environ.get(k) for k in ("KICKOFF_HOME", "KICKOFF_DATABASE_URL", "KICKOFF_PUBLIC_URL",
                                            "KICKOFF_ROOT", "KICKOFF_CONFIG_DIR", "KICKOFF_EVENTS_TOKEN",
                                            "PREFECT_API_URL", "PREFECT_UI_API_URL", "PREFECT_HOME",
                                            "PREFECT_SERVER_ANALYTICS_ENABLED", "PREFECT_LOGGING_LEVEL",
                                            "KICKOFF_RATE_LIMITER")}
    try:
        # -- step 1: Prefect server on PostgreSQL -------------------------------------------------
        t = time.monotonic()
        st.prefect_db = pg.create_database("kickoff_prefect", ("pg_trgm",))
        st.server = PostgresPrefectServer(home, pg.dsn(st.prefect_db, "asyncpg")).start()
        st.env.update(st.server.environment())
        out(f"step 1: Prefect server {st.server.api_url} on PG {st.prefect_db} ({time.monotonic() - t:.1f} s)")

        # -- step 2: ledger on PostgreSQL, sandbox (real limits), gateway ----------------------------
        from sandbox.control import SandboxControl
        from sandbox.server import SandboxServer

        st.ledger_db = pg.create_database("kickoff_ledger")
        st.sandbox = SandboxServer().start()  # limits on by default
        st.sandbox.sandbox.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")) or {})
        st.control = SandboxControl(st.sandbox.url, timeout=60)
        st.env.update(st.sandbox.environment())
        st.env.update({"KICKOFF_HOME": str(home), "KICKOFF_ROOT": str(REPO), "KICKOFF_CONFIG_DIR": str(REPO / "config"),
                       "KICKOFF_DATABASE_URL": pg.dsn(st.ledger_db, "psycopg"),
                       "KICKOFF_EVENTS_TOKEN": "scaleout-events-token-4b1e",
                       # "local": a bucket per flow-run process instead of the shared Prefect limit
                       "KICKOFF_RATE_LIMITER": limiter,
                       "PREFECT_LOGGING_LEVEL": "WARNING"})
        os.environ.update(st.env)
        from flows.runtime import Runtime
        from gateway import create_app
        from gateway.server import GatewayServer

        st.rt = Runtime.build()  # migrates the PG ledger to head
        with st.rt.ledger.database.begin() as conn:
            conn.exec_driver_sql(AUDIT_SQL)
        announce = (lambda tool, ids: None) if virtual_clock else None  # virtual clock: the driver runs flows
        app = create_app(st.rt.ledger, config=st.rt.config, clock=st.sandbox.sandbox.clock.now,
                         **({"announce": announce} if announce else {}))
        st.gateway = GatewayServer(app).start()
        st.env["KICKOFF_PUBLIC_URL"] = st.gateway.url
        os.environ["KICKOFF_PUBLIC_URL"] = st.gateway.url
        from flows.local.stack import _webhook_secret, _webhook_url

        for vendor in webhook_vendors():
            st.control.set_webhook(vendor, _webhook_url(st.gateway.url, vendor, st.env), _webhook_secret(vendor, st.env))
        out(f"step 2: ledger on PG {st.ledger_db}, sandbox {st.sandbox.url} (limits on), gateway {st.gateway.url}")

        # -- step 3: pool, deployments from prefect.yaml, limits --------------------------------------
        t = time.monotonic()
        st.cli(sys.executable, "-m", "prefect", "work-pool", "create", POOL, "--type", "process")
        spec = derived_prefect_yaml(home, virtual_clock=virtual_clock, contend=contend)
        res = st.cli(sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all", "--prefect-file", str(spec),
                     timeout=600)
        (home / "deploy.log").write_text(res.stdout + res.stderr, encoding="utf-8")
        res = st.cli(str(Path(sys.executable).parent / "kickoff"), "limits", "sync")
        out(f"step 3: pool {POOL}, deployments from {spec.name}, limits synced ({time.monotonic() - t:.1f} s): "
            f"{res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ''}")

        # -- step 4: workers ----------------------------------------------------------------------
        for i in range(workers):
            log_path = home / f"worker-{i}.log"
            st.worker_logs.append(log_path)
            st.workers.append(subprocess.Popen(
                [sys.executable, "-m", "prefect", "worker", "start", "-p", POOL, "--type", "process",
                 "--name", f"scaleout-{i}", "--limit", "4"],
                env={**os.environ, **st.env, "PREFECT_LOGGING_LEVEL": "INFO"}, cwd=REPO,
                stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True))
        _wait_workers(st, workers)
        out(f"step 4: {workers} workers online (pids {[w.pid for w in st.workers]})")
        yield st
    finally:
        runs = [pid for w in st.workers for pid in _children(w.pid)]  # flow runs: their own sessions
        for w in st.workers:
            stop_process_group(w)
        for pid in runs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for part in (st.gateway, st.sandbox):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if st.control is not None:
            st.control.close()
        if st.rt is not None:
            with contextlib.suppress(Exception):
                st.rt.ledger.close()
        if st.server is not None:
            st.server.stop()
        for db in (st.ledger_db, st.prefect_db):
            if db:
                with contextlib.suppress(Exception):
                    pg.drop_database(db)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _children(pid: int) -> list[int]:
    """The processes a worker started (each flow run in a session of its own)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(x) for x in out.stdout.split()]


def _wait_workers(st: ScaleoutStack, n: int, timeout: float = 90.0) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for w, log in zip(st.workers, st.worker_logs, strict=True):
            if w.poll() is not None:
                raise RuntimeError(f"worker exited: {log.read_text(errors='replace')[-2000:]}")
        r = requests.post(f"{st.server.api_url}/work_pools/{POOL}/workers/filter", json={}, timeout=10)
        online = [x for x in r.json() if x.get("status") == "ONLINE"]
        if len(online) >= n:
            return
        time.sleep(1)
    raise RuntimeError(f"only {len(online)} of {n} workers online after {timeout:.0f} s")
