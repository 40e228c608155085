"""What ops see of a run in the Prefect UI: a push run with a dead letter ends Failed with the
count in its state message and log lines naming the customer, rule and reason; the dead-letter
event says whose action died and why; process-inbox and tick runs publish a table of what they
decided. Real flow runs on a Prefect test server, the sandbox's Movidesk, a real ledger."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from flows.runtime import Runtime, default_runtime
from kickoff.model import Action, ActionKind, Decision, Onboarding, Timer, idempotency_key
from sandbox.control import SandboxControl

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CUSTOMER = "Fjällstugan Test AB"
FIXTURE = Path(__file__).resolve().parents[2] / "sandbox" / "fixtures" / "default.yaml"


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def rt(prefect_server, sandbox: SandboxControl, sandbox_env: dict[str, str]) -> Iterator[Runtime]:
    sandbox.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    default_runtime.cache_clear()
    runtime = default_runtime()
    run_logger = logging.getLogger("prefect.flow_runs")
    level = run_logger.level
    run_logger.setLevel(logging.INFO)  # Prefect's default (the demo quiets it to WARNING)
    try:
        yield runtime
    finally:
        run_logger.setLevel(level)
        runtime.ledger.close()
        default_runtime.cache_clear()


def _onboarding(name: str = "ops-1") -> Onboarding:
    return Onboarding(id=name, tenant="core", playbook="core-implementation", stage="new", account_name=CUSTOMER)


def _ticket_action(onboarding: str) -> Action:
    return Action(kind=ActionKind.CREATE_RECORD, tool="movidesk", onboarding_id=onboarding, rule="M1", due_at=NOW,
                  idempotency_key=idempotency_key("ops", onboarding, "ticket"),
                  payload={"object": "ticket", "fields": {"subject": f"CORE - {CUSTOMER}"}})


def _logs(run_id, wanted: Callable[[str], bool]) -> list[str]:
    """The run's log lines that ``wanted`` accepts, waiting (up to 30 s) for the log worker to
    send them: the logs reach the server after the run, in the background."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    deadline = time.monotonic() + 30
    while True:
        with get_client(sync_client=True) as client:
            found = [log.message for log in client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))) if wanted(log.message)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def _artifact(run_id, key: str) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    tables = [a for a in found if a.key == key]
    assert tables, f"no {key} artifact on the run"
    data = tables[0].data
    import json

    return json.loads(data) if isinstance(data, str) else data


def _artifact_description(run_id, key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
    return next(a.description for a in found if a.key == key)


def test_a_push_run_with_a_dead_letter_ends_failed_with_the_count_and_logs_customer_rule_and_reason(
        rt: Runtime, sandbox: SandboxControl) -> None:
    from flows.flows import push_flow

    rt.ledger.commit_decision(Decision(state=_onboarding(), actions=[_ticket_action("ops-1")]), now=NOW)
    sandbox.add_fault(vendor="movidesk", method="POST", kind="error", status=400, times=5)
    state = push_flow(tool="movidesk", now=NOW.isoformat(), return_state=True)
    assert state.is_failed() and not state.is_crashed()
    assert state.message.startswith("1 dead letter: create_record ops-1 (M1)"), state.message
    assert rt.ledger.status(NOW).dead_outbox == 1  # the ledger recorded it all the same
    run_id = state.state_details.flow_run_id
    dead_lines = _logs(run_id, lambda m: "ops-1" in m and "now dead" in m)
    assert dead_lines and CUSTOMER in dead_lines[0] and "rule M1" in dead_lines[0] and "reason:" in dead_lines[0]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
    assert run.name.startswith("push-movidesk") and "dead" in run.name


def test_a_push_run_lists_at_most_max_lines_rows_the_dead_letter_among_them_and_counts_the_rest(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A push over a backlog does not publish (or log) a line per action without end: the
    first MAX_LINES rows are listed, those not done before the done ones, the rest counted."""
    from flows.flows import push_flow

    monkeypatch.setattr("flows.steps.push.MAX_LINES", 1)
    rt.ledger.commit_decision(Decision(state=_onboarding("ops-cap-a"), actions=[_ticket_action("ops-cap-a")]), now=NOW)
    waits = Action(kind=ActionKind.SET_STAGE, tool="movidesk", onboarding_id="ops-cap-b", rule="M2", due_at=NOW,
                   idempotency_key=idempotency_key("ops", "ops-cap-b", "stage"), payload={"stage": "kickoff"})
    rt.ledger.commit_decision(Decision(state=_onboarding("ops-cap-b"), actions=[waits]), now=NOW)  # no ticket: dead
    state = push_flow(tool="movidesk", now=NOW.isoformat(), return_state=True)
    assert state.is_failed() and state.message.startswith("1 dead letter: set_stage ops-cap-b (M2)")
    run_id = state.state_details.flow_run_id
    [row] = _artifact(run_id, "push-movidesk")
    assert (row["onboarding"], row["status"]) == ("ops-cap-b", "dead")
    assert _logs(run_id, lambda m: "ops-cap-b" in m and "now dead" in m)
    assert _artifact_description(run_id, "push-movidesk").endswith("; 1 more not listed")


def test_a_push_run_with_everything_done_completes(rt: Runtime) -> None:
    from flows.flows import push_flow

    rt.ledger.commit_decision(Decision(state=_onboarding("ops-2"), actions=[_ticket_action("ops-2")]), now=NOW)
    state = push_flow(tool="movidesk", now=NOW.isoformat(), return_state=True)
    assert state.is_completed(), state.message
    assert state.result()["by_status"] == {"done": 1}


def test_the_dead_letter_events_name_tenant_onboarding_customer_rule_tool_kind_and_reason(
        rt: Runtime, sandbox: SandboxControl) -> None:
    from flows import runs
    from flows.steps import push

    rt.ledger.commit_decision(Decision(state=_onboarding("ops-3"), actions=[_ticket_action("ops-3")]), now=NOW)
    sandbox.add_fault(vendor="movidesk", method="POST", kind="error", status=400, times=5)
    report = push.push(rt, "movidesk", NOW)
    [dead] = [row for row in report.rows if row.new_status == "dead"]
    states = rt.ledger.load_states({"ops-3"})
    payload = runs.dead_letter_payload(rt, dead, states["ops-3"])
    assert {k: payload[k] for k in ("tenant", "onboarding", "customer", "rule", "tool", "kind")} == {
        "tenant": "core", "onboarding": "ops-3", "customer": CUSTOMER, "rule": "M1", "tool": "movidesk",
        "kind": "create_record"}
    assert payload["reason"] and payload["reason"] == dead.result.reason
    run = runs.dead_letters_payload(rt, "movidesk", [dead] * 7, states)  # the run's one event: the first five named
    assert (run["tool"], run["count"], run["more"], len(run["first"])) == ("movidesk", 7, 2, 5)
    assert run["first"][0] == (f"create_record for {CUSTOMER} (core, onboarding ops-3), rule M1: "
                               f"{dead.result.reason[:120]}")
    assert run["message"].startswith("7 dead letters: create_record ops-3 (M1)")


def test_a_tick_run_publishes_a_table_of_the_timer_that_fired_and_what_it_decided(rt: Runtime) -> None:
    from flows.flows import tick_flow

    timer = Timer(key="ops-wake", onboarding_id="ops-4", fire_at=NOW - timedelta(minutes=1), rule="M1")
    rt.ledger.commit_decision(Decision(state=_onboarding("ops-4"), set_timers=[timer]), now=NOW - timedelta(hours=1))
    state = tick_flow(now=NOW.isoformat(), return_state=True)
    assert state.is_completed()
    [row] = _artifact(state.state_details.flow_run_id, "tick")
    assert row["onboarding"] == "ops-4" and row["customer"] == CUSTOMER and "timer ops-wake (M1" in row["what"]
    assert "timer ops-wake is not pending" in row["why"]  # the playbook's own words: it never set it
    assert _logs(state.state_details.flow_run_id, lambda m: "timer ops-wake" in m and CUSTOMER in m)


def test_a_tick_runs_onboarding_events_name_the_flow_run_and_flow_that_sent_them(rt: Runtime) -> None:
    """Sent in one request, the events still link to the run (as ``emit_event``'s worker did):
    the Event Feed's "Related Resources" show the flow run and its flow."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from flows.flows import tick_flow
    from flows.onboarding_events import resource_id

    timer = Timer(key="ops-wake", onboarding_id="ops-rel", fire_at=NOW - timedelta(minutes=1), rule="M1")
    rt.ledger.commit_decision(Decision(state=_onboarding("ops-rel"), set_timers=[timer]), now=NOW - timedelta(hours=1))
    state = tick_flow(now=NOW.isoformat(), return_state=True)
    run_id = state.state_details.flow_run_id
    wanted = EventFilter(resource=EventResourceFilter(id=[resource_id("core", "ops-rel")]),
                         event=EventNameFilter(name=["kickoff.onboarding.timer.fired"]))
    deadline = time.monotonic() + 30
    while True:  # the server stores what it received in its own time
        with get_client(sync_client=True) as client:
            found = client.read_events(wanted, limit=5).events
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    [event] = found
    related = {r.get("prefect.resource.role"): r for r in event.related}
    assert related["flow-run"].id == f"prefect.flow-run.{run_id}"
    assert related["flow"].get("prefect.resource.name") == "tick"


def test_a_tick_run_lists_at_most_max_lines_items_and_counts_the_rest(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tick over a backlog does not keep (or log, or tabulate) one line per timer without end:
    the first MAX_LINES are listed, the rest counted in the log and the artifact's description."""
    from flows.flows import tick_flow

    monkeypatch.setattr("flows.steps.process.MAX_LINES", 2)
    for n in range(3):
        timer = Timer(key="ops-wake", onboarding_id=f"ops-cap-{n}", fire_at=NOW - timedelta(minutes=1), rule="M1")
        rt.ledger.commit_decision(Decision(state=_onboarding(f"ops-cap-{n}"), set_timers=[timer]),
                                  now=NOW - timedelta(hours=1))
    state = tick_flow(now=NOW.isoformat(), return_state=True)
    assert state.is_completed()
    run_id = state.state_details.flow_run_id
    rows = _artifact(run_id, "tick")
    assert len(rows) == 2 and {r["onboarding"] for r in rows} < {f"ops-cap-{n}" for n in range(3)}
    assert _logs(run_id, lambda m: m.startswith("1 more items handled, not listed one by one"))


def test_a_process_inbox_run_publishes_a_table_of_each_item_with_its_rule_or_why_it_was_ignored(
        rt: Runtime) -> None:
    from flows.flows import process_inbox_flow
    from kickoff.model import Delivery

    rt.ledger.store_delivery(Delivery(tool="kickoff", dedup_key="ops-bad-1", kind="webhook", received_at=NOW,
                                      payload={"type": "nonsense"}))
    state = process_inbox_flow(now=NOW.isoformat(), return_state=True)
    assert state.is_completed()
    [row] = _artifact(state.state_details.flow_run_id, "process-inbox")
    assert row["what"] == "change (kickoff webhook)" and row["ignored"].startswith("failed:")


def test_a_process_inbox_run_shows_the_customer_and_the_rule_that_decided_a_sign_up(rt: Runtime) -> None:
    from flows.flows import process_inbox_flow
    from kickoff.model import Delivery

    event = {"id": "signup-ops-5", "type": "account.created", "occurred_at": NOW.isoformat(),
             "subject": "network:ops-5", "tenant": "network",
             "data": {"account_name": CUSTOMER, "origin": "transformation", "network": "alpes-tourisme",
                      "leisure": False, "email": "hej@fjallstugan.example.com"}}
    rt.ledger.store_delivery(Delivery(tool="kickoff", dedup_key="signup-ops-5", kind="webhook", received_at=NOW,
                                      payload=event))
    state = process_inbox_flow(now=NOW.isoformat(), return_state=True)
    assert state.is_completed()
    [row] = _artifact(state.state_details.flow_run_id, "process-inbox")
    assert (row["onboarding"], row["customer"], row["what"]) == ("network:ops-5", CUSTOMER, "account.created (kickoff webhook)")
    assert row["rules"] and row["actions"] and not row["ignored"]
    assert _logs(state.state_details.flow_run_id, lambda m: CUSTOMER in m and "decided by" in m)


def test_a_tick_run_with_a_failed_timer_ends_failed_naming_it_and_the_rest_fire(rt: Runtime) -> None:
    from flows.flows import tick_flow

    for name, data in (("ops-ok", {}), ("ops-bad", {"set_by": 5})):  # the event wants text
        timer = Timer(key="ops-wake", onboarding_id=name, fire_at=NOW - timedelta(minutes=1), rule="M1", data=data)
        rt.ledger.commit_decision(Decision(state=_onboarding(name), set_timers=[timer]), now=NOW - timedelta(hours=1))

    state = tick_flow(now=NOW.isoformat(), return_state=True)

    assert state.is_failed() and not state.is_crashed()
    assert state.message.startswith("1 timer failed, kept until `kickoff ledger retry-timers`: timer ops-wake (M1")
    assert "of ops-bad: ValidationError: set_by: " in state.message
    assert [rt.ledger.timer_row(n, "ops-wake")["status"] for n in ("ops-ok", "ops-bad")] == ["fired", "failed"]
    rows = {r["onboarding"]: r for r in _artifact(state.state_details.flow_run_id, "tick")}
    assert rows["ops-bad"]["ignored"].startswith("failed: ValidationError") and not rows["ops-ok"]["ignored"].startswith("failed")
