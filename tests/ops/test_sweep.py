"""The safety sweep reads the ledger and starts a run only when work is due that no event
started: with nothing due it starts nothing (no heartbeat runs); a due timer starts the tick;
inbox and outbox work is left to its event for a grace period first. The deployments are
real ones on a Prefect test server; the ledger is real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from flows.runtime import Runtime, default_runtime
from flows.sweep import (
    GRACE_SECONDS,
    PROCESS,
    TICK,
    TIMER_GRACE_SECONDS,
    SweepLoop,
    plan,
    push_deployment,
)
from kickoff.model import Action, ActionKind, Decision, Delivery, Onboarding, Timer, idempotency_key

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def rt(sandbox_env: dict[str, str]) -> Iterator[Runtime]:
    default_runtime.cache_clear()
    runtime = default_runtime()
    try:
        yield runtime
    finally:
        runtime.ledger.close()
        default_runtime.cache_clear()


def _onboarding(name: str) -> Onboarding:
    return Onboarding(id=name, tenant="core", playbook="core-implementation", stage="new", account_name="Sweep Test AB")


def _timer(name: str, fire_at: datetime) -> Decision:
    return Decision(state=_onboarding(name), set_timers=[Timer(key="wake", onboarding_id=name, fire_at=fire_at, rule="M1")])


def test_with_nothing_due_the_sweep_plans_nothing(rt: Runtime) -> None:
    rt.ledger.commit_decision(_timer("sweep-1", NOW + timedelta(hours=3)), now=NOW)
    assert plan(rt, NOW) == []
    assert rt.ledger.next_timer() == NOW + timedelta(hours=3)  # what the next tick is scheduled for


def test_a_timer_still_due_after_its_scheduled_tick_makes_the_sweep_start_the_tick(rt: Runtime) -> None:
    due = NOW + timedelta(minutes=5)
    rt.ledger.commit_decision(_timer("sweep-2", due), now=NOW)
    assert plan(rt, NOW) == []
    assert plan(rt, due) == []  # the tick scheduled for this moment fires it
    assert plan(rt, due + timedelta(seconds=TIMER_GRACE_SECONDS + 1)) == [TICK]


def test_inbox_and_outbox_work_is_left_to_its_event_for_the_grace_period(rt: Runtime) -> None:
    rt.ledger.store_delivery(Delivery(tool="kickoff", dedup_key="sweep-3", kind="webhook", received_at=NOW,
                                      payload={}))
    action = Action(kind=ActionKind.NOTIFY, tool="slack", onboarding_id="sweep-4", rule="W2", due_at=NOW,
                    idempotency_key=idempotency_key("sweep", 4), payload={"to": ["#x"], "body": "x"})
    rt.ledger.commit_decision(Decision(state=_onboarding("sweep-4"), actions=[action]), now=NOW)
    assert plan(rt, NOW + timedelta(seconds=5)) == []
    late = NOW + timedelta(seconds=GRACE_SECONDS + 1)
    assert plan(rt, late) == [PROCESS, push_deployment("slack")]


@pytest.fixture
def tick_deployment(sandbox_env: dict[str, str]) -> Iterator[str]:
    """The tick deployment on a Prefect test server (created, not served: a run it gets
    stays Scheduled, to be counted)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        from flows.flows import tick_flow

        deployment_id = tick_flow.to_deployment(name="tick").apply()
        yield str(deployment_id)


def _runs_of(deployment_id: str) -> int:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

    with get_client(sync_client=True) as client:
        return len(client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))))


@pytest.mark.prefect
def test_the_sweep_loop_starts_no_run_when_nothing_is_due_and_the_tick_when_a_timer_is(
        rt: Runtime, tick_deployment: str) -> None:
    clock = {"now": NOW}
    loop = SweepLoop(rt, clock=lambda: clock["now"])
    rt.ledger.commit_decision(_timer("sweep-5", NOW + timedelta(minutes=2)), now=NOW)
    for _ in range(3):
        assert loop.once() == []
    assert _runs_of(tick_deployment) == 0
    clock["now"] = NOW + timedelta(minutes=2, seconds=TIMER_GRACE_SECONDS + 10)
    assert loop.once() == [TICK]
    assert loop.once() == []  # started already: not again while its run claims the timer
    assert _runs_of(tick_deployment) == 1
