"""The real-time variant: the deployments exactly as ``prefect.yaml`` declares them
(schedules, event triggers, concurrency limits), the sandbox on the wall clock, and the
procedures' acts replayed one after another. Nothing here starts a flow run but the poll an
act is read by (its schedule is half-hourly: the poll is started as ops would): the gateway's
``kickoff.inbox.received`` event triggers ``process-inbox``, its ``kickoff.outbox.ready``
triggers ``push-<tool>``, a push with retries schedules itself, and the runs that set timers
schedule ``tick``.

Days of a procedure are compressed into the time the system needs to go quiet after each
act, so timers days away never fire here (the virtual-clock variant covers them); what this
variant proves is the deployed machinery: every delivery processed once, every action
applied once, no 429, no flow run failed, with three workers taking whatever Prefect starts.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flows.sweep import start_deployment
from soak.run import FLUSH_TIMEOUT
from soak.scaleout.drive import ScaleoutRun, final_state

QUIET_FOR = 8.0            # seconds with nothing pending, due, claimed or running
ACT_TIMEOUT = 240.0        # an act waits at most this long for the previous one to settle
FINAL_WAIT = 600.0


class RealtimeRun(ScaleoutRun):
    """One run on the wall clock; flow runs are whatever the deployments' triggers and
    schedules started, read back from the server at the end."""

    def start_of(self, procedure: str, offsets: dict[str, int]) -> date:
        """Today: the acts are replayed now, one after another."""
        return datetime.now(UTC).date()

    def play(self) -> None:
        self.reset()
        self.control.set_clock(at=datetime.now(UTC).isoformat(), frozen=False)
        self.started = datetime.now(UTC)
        for act in self.acts:
            self.quiet(ACT_TIMEOUT)
            try:
                act.do(self.control, self.rt)
            except Exception as exc:  # noqa: BLE001
                self.act_errors.append(f"act {act.label!r}: {type(exc).__name__}: {exc}")
            self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
            for tool in act.poll:  # the change is only seen by a poll
                start_deployment(f"poll/poll-{tool}")
        self.quiet(FINAL_WAIT)
        self.control.flush_webhooks(timeout=FLUSH_TIMEOUT)
        self.final_now = datetime.now(UTC)
        self.collect_flow_runs()

    def busy(self) -> list[str]:
        """What is still going on: ledger work pending or due now, flow runs under way."""
        now = datetime.now(UTC)
        status = self.rt.ledger.status(now)
        why = []
        if status.pending_inbox:
            why.append(f"{status.pending_inbox} inbox rows pending")
        if status.due_timers:
            why.append(f"{status.due_timers} timers due")
        tools = self.rt.ledger.due_outbox_tools(now)
        if tools:
            why.append(f"outbox due for {tools}")
        running = [r for r in self._server_runs(since=self.started) if r.state is not None and (
                   r.state.type.value in ("PENDING", "RUNNING") or r.state.name == "AwaitingConcurrencySlot")]
        if running:
            why.append(f"{len(running)} flow runs under way")
        return why

    def quiet(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        calm_since: float | None = None
        while time.monotonic() < deadline:
            if self.busy():
                calm_since = None
            elif calm_since is None:
                calm_since = time.monotonic()
            elif time.monotonic() - calm_since >= QUIET_FOR:
                return
            time.sleep(1.0)
        self.result.stats["waits that timed out"] += 1

    def _server_runs(self, since: datetime) -> list[Any]:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterExpectedStartTime

        runs: list[Any] = []
        with get_client(sync_client=True) as client:
            while True:
                page = client.read_flow_runs(limit=200, offset=len(runs), flow_run_filter=FlowRunFilter(
                    expected_start_time=FlowRunFilterExpectedStartTime(after_=since - timedelta(seconds=5),
                                                               before_=datetime.now(UTC))))
                runs += page
                if len(page) < 200:
                    return runs

    def collect_flow_runs(self) -> None:
        """Every flow run the deployments started during the run, by what started it."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            names = {d.id: d.name for d in client.read_deployments()}
        for run in self._server_runs(since=self.started):
            state = final_state(run.state) if run.state else "NONE"
            if state == "SCHEDULED":
                continue  # a schedule's next run, not started yet
            self.flow_runs.append((names.get(run.deployment_id, "?"), str(run.id), state))
            self.result.stats[f"flow runs {state}"] += 1
            how = "schedule" if run.auto_scheduled else ("trigger" if run.created_by and
                                                         run.created_by.type == "AUTOMATION" else "other")
            self.result.stats[f"flow runs started by {how}"] += 1

