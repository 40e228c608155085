"""The Prefect flows. Each is a thin wrapper over ``flows.steps``: it names its run after
what it did, publishes what ops need (a table of pushed actions, progress of long reads),
and emits the events that trigger the next step."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.runtime import flow_run
from prefect.states import Failed, State

from flows import runs
from flows.prefect_events import (
    ACTION_DEAD,
    DEAD_LETTERS,
    INBOX_RECEIVED,
    OUTBOX_READY,
    TIMERS_FAILED,
    emit,
    emit_kickoff_event,
    send_batch,
    tool_resource,
)
from flows.runtime import Runtime, default_runtime, parse_now
from flows.steps import ingest, process, push, reconcile
from flows.steps.process import ProcessReport
from flows.sweep import schedule_next_tick, schedule_push_retry
from kickoff.tools import declared

PUSH_TOOLS = tuple(tool.name for tool in declared() if tool.pushes)
POLL_TOOLS = tuple(tool.name for tool in declared() if tool.polls)


def _rename(name: str) -> None:
    """Name the finished run after what it did, so the UI's run list reads as a log."""
    run_id = flow_run.get_id()
    if not run_id:
        return
    try:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            client.update_flow_run(run_id, name=name[:120])
    except Exception:  # noqa: BLE001 - a name is cosmetic
        get_run_logger().debug("could not rename the run")


def _deployed() -> bool:
    """Running as a deployment (served, or on a work pool), not called directly: it can
    schedule the next run of a deployment."""
    from prefect.runtime import deployment

    return bool(deployment.id)


def _worker(step: str) -> str:
    """Who claims ledger rows: the flow run's id, so the ledger says which run handled a row."""
    return f"{step}-{flow_run.get_id() or 'local'}"


def _announce_actions(report: ProcessReport) -> None:
    for tool in report.tools_with_actions:
        emit(OUTBOX_READY, "outbox", tool, {"actions": report.actions[tool]})


def _publish_decisions(rt: Runtime, step: str, report: ProcessReport, moment: datetime) -> None:
    """The run's log lines and table artifact (one row per item: customer, event or timer,
    rules, actions, or why ignored); as a deployment, the next timer's tick scheduled."""
    rows = runs.decision_table(rt, report)
    logger = get_run_logger()
    runs.log_decisions(rows, logger)
    more = ""
    if report.left_out:
        more = f"; {report.left_out} more not listed (`kickoff onboarding list`)"
        logger.info("%d more items handled, not listed one by one: %d decided, %d ignored in all", report.left_out,
                    report.processed, report.ignored)
    if rows:
        create_table_artifact(table=rows, key=step,
                              description=f"What this {step} run decided, item by item{more}")
    if _deployed():  # served or on a work pool: timers fire without a tick every minute
        at = schedule_next_tick(rt, moment)
        if at is not None:
            logger.info("next timer due %s: tick scheduled for it", at.isoformat(timespec="minutes"))


@flow(name="poll", log_prints=False, flow_run_name=runs.start_name("poll", tool_parameter=True))
def poll_flow(tool: str, max_pages: int = 50, now: str | None = None) -> dict:
    """poll-<tool>: the tool's changes since the cursor into the inbox."""
    rt = default_runtime()
    progress = create_progress_artifact(0.0, description=f"poll-{tool}: reading changes") if max_pages > 1 else None
    report = ingest.poll(rt, tool, parse_now(now), max_pages=max_pages)
    get_run_logger().info("read %d pages of %s changes: %d new into the inbox, %d already seen",
                          report.pages, tool, report.stored, report.duplicates)
    if progress is not None:
        update_progress_artifact(progress, 100.0)
    if report.stored:
        emit(INBOX_RECEIVED, "inbox", tool, {"count": report.stored, "source": "poll"})
    _rename(f"poll-{tool}: {report.stored} new, {report.duplicates} already seen, {report.pages} pages")
    return report.__dict__


def _decide(name: str, step: Callable[..., ProcessReport], now: str | None,
            summary: Callable[[ProcessReport], str]) -> dict:
    """What process-inbox and tick share: run the engine step at the moment, publish its
    decisions, announce its actions and name the run after what it did."""
    rt = default_runtime()
    moment = parse_now(now)
    report = step(rt, moment, worker=_worker(name))
    _publish_decisions(rt, name, report, moment)
    _announce_actions(report)
    _rename(f"{name}: {summary(report)}")
    return {**report.__dict__, "actions": dict(report.actions)}


@flow(name="process-inbox", flow_run_name=runs.start_name("process-inbox"))
def process_inbox_flow(now: str | None = None) -> dict:
    """Inbox -> mapping -> engine -> decision committed."""
    return _decide("process-inbox", process.process_inbox, now,
                   lambda r: f"{r.processed} decided, {r.ignored} ignored, {r.echoes} echoes, {r.failed} failed")


@flow(name="tick", flow_run_name=runs.start_name("tick"))
def tick_flow(now: str | None = None) -> dict | State:
    """Due timers -> engine (scheduled for each timer's moment; the sweep catches a miss). A
    timer whose decision failed makes the run Failed (the rest fired): its playbook needs a
    fix, then ``kickoff ledger retry-timers``."""
    result = _decide("tick", process.tick, now,
                     lambda r: f"{r.processed} timers fired, {sum(r.actions.values())} actions"
                     + (f", {r.failed} failed" if r.failed else "")
                     + (f" ({len(r.workers)} processes)" if r.workers else ""))
    if result["failed"]:
        announced = runs.failed_timers_payload(result["failed"], result["failures"])
        emit_kickoff_event(TIMERS_FAILED, {"prefect.resource.id": "kickoff.tick", "prefect.resource.name": "tick"},
                           announced)  # what the failed-timer alert follows: once per run
        return Failed(message=announced["message"], data=result)
    return result


def _announce_dead(rt: Runtime, tool: str, dead: list[push.PushedRow]) -> None:
    """Each dead letter in the event feed (``kickoff.action.dead``: whose, which rule and why;
    their onboardings read at once, the events sent together), then ONE
    ``kickoff.push.dead_letters`` for the run: what the dead-letter alert follows."""
    if not dead:
        return
    states = rt.ledger.load_states({row.action.onboarding_id for row in dead})
    resource = tool_resource("action", tool)
    send_batch([(ACTION_DEAD, resource, runs.dead_letter_payload(rt, row, states.get(row.action.onboarding_id)))
                for row in dead])
    emit(DEAD_LETTERS, "push", tool, runs.dead_letters_payload(rt, tool, dead, states))


@flow(name="push", flow_run_name=runs.start_name("push", tool_parameter=True))
def push_flow(tool: str, now: str | None = None) -> dict | State:
    """push-<tool>: outbox -> connector, batched, rate-limited; a table artifact of what it
    pushed. A dead letter makes the run Failed (the rows are recorded all the same: the
    ledger, not the run's state, is what retries and replays read)."""
    rt = default_runtime()
    moment = parse_now(now)
    report = push.push(rt, tool, moment, worker=_worker(f"push-{tool}"))
    runs.log_push(rt, report, get_run_logger())
    retrying = [row.outbox_id for row in report.rows if row.new_status == "pending"]
    if retrying and _deployed():
        at = schedule_push_retry(rt, tool, retrying, moment)
        if at is not None:
            get_run_logger().info("%d rows to retry: push-%s scheduled for %s", len(retrying), tool,
                                  at.isoformat(timespec="seconds"))
    if report.rows:
        table = report.table()
        more = f"; {len(report.rows) - len(table)} more not listed" if len(table) < len(report.rows) else ""
        create_table_artifact(table=table, key=f"push-{tool}", description=f"Actions pushed to {tool} by this run{more}")
    dead = [row for row in report.rows if row.new_status == "dead"]
    _announce_dead(rt, tool, dead)
    result = {"summary": report.summary(), "by_status": dict(report.by_status)}
    if dead:
        message = runs.dead_message(dead)
        _rename(f"{report.summary()} ({len(dead)} dead)")
        return Failed(message=message, data=result)
    _rename(report.summary())
    return result


@flow(name="reconcile", flow_run_name=runs.start_name("reconcile"))
def reconcile_flow(now: str | None = None) -> dict:
    """Re-read every tool's recent changes (a missed webhook is found; duplicates are dropped
    by the inbox's dedup key), then process what came in."""
    rt = default_runtime()
    moment = parse_now(now)
    tools = [tool for tool in POLL_TOOLS if tool in rt.config.tools]
    read = {tool: ingest.poll(rt, tool, moment).stored for tool in tools}
    report = process.process_inbox(rt, moment, worker="reconcile")
    _announce_actions(report)
    _publish_decisions(rt, "reconcile", report, moment)
    drift = reconcile.repair_stage_drift(rt, moment, tools)
    for tool in sorted({tool for tool, *_ in drift.repaired}):
        emit(OUTBOX_READY, "outbox", tool, {"repairs": len(drift.repaired)})
    _rename(f"reconcile: {sum(read.values())} changes found, {report.processed} decided, "
            f"{len(drift.repaired)} stages repaired")
    return {"found": read, "decided": report.processed, "repaired": drift.repaired, "checked": drift.checked}


@flow(name="replay-dead-letters", flow_run_name=runs.start_name("replay-dead-letters"))
def replay_dead_letters_flow(ids: list[int] | None = None, tool: str | None = None) -> list[int]:
    """Manual: send dead letters again (all, one tool's, or the ids given)."""
    rt = default_runtime()
    replayed = push.replay_dead_letters(rt, datetime.now().astimezone(), ids=ids, tool=tool)
    get_run_logger().info("%d dead letters sent again: outbox ids %s", len(replayed), replayed)
    for row_tool in {rt.ledger.outbox_row(i)["tool"] for i in replayed}:
        emit(OUTBOX_READY, "outbox", row_tool, {"replayed": True})
    _rename(f"replay-dead-letters: {len(replayed)} sent again")
    return replayed
