"""Every onboarding is a Prefect event resource: a sign-up played for real (gateway, ledger,
process/tick/push against the sandbox) with the ops tests' real Prefect server listening, and the
Event Feed filtered by the onboarding's resource id reads as the customer's history, each
event on the resource named after the customer, with rule, tool, kind, result, the tool's
id and the reason."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from flows.onboarding_events import resource_id
from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.ops.world import NAME, SIGNUP, World, network_world, signup

if TYPE_CHECKING:
    from prefect.events.filters import EventFilter

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


@pytest.fixture
def world(prefect_api: str, sandbox_server: SandboxServer, sandbox: SandboxControl,
          sandbox_env: dict[str, str]) -> Iterator[World]:
    from connectors.ratelimit import sync_account_limits, sync_prefect_limits

    with network_world(sandbox_server, sandbox) as played:
        sync_prefect_limits(played.rt.config.tools)  # as kickoff up does: calls take Prefect's limits
        sync_account_limits(played.rt.config)
        yield played


def feed(resource: str, complete: Callable[[list], bool], timeout: float = 60.0) -> list:
    """The server's events on ``resource``, oldest first, once ``complete`` says all expected are in."""
    from prefect.events.filters import EventFilter, EventResourceFilter

    return events_matching(EventFilter(resource=EventResourceFilter(id=[resource])), complete, timeout)


def events_matching(wanted: EventFilter, complete: Callable[[list], bool], timeout: float = 60.0) -> list:
    """The server's events that ``wanted`` matches, oldest first, once
    ``complete`` says all expected are in.

    The events worker sends in the background and the server persists them in its own time, so
    the test waits for every event it will assert on, not merely for one of each name."""
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=30)
    deadline = time.monotonic() + timeout
    while True:
        with get_client(sync_client=True) as client:
            page = client.read_events(wanted, limit=50)
        found = sorted(page.events, key=lambda e: e.occurred)
        if complete(found) or time.monotonic() > deadline:
            return found
        time.sleep(1)


def test_each_decision_timer_and_push_result_is_an_event_on_the_customers_resource(world: World) -> None:
    world.control.add_fault(vendor="hubspot", method="POST", path="batch/create", kind="error", status=400)
    world.play([world.act(SIGNUP, "sign-up", signup())], until=SIGNUP + timedelta(minutes=31))

    rid = resource_id("network", "network:chalet-des-neiges")
    assert rid == "kickoff.onboarding.network.network:chalet-des-neiges"
    wanted = {"kickoff.onboarding.decided", "kickoff.onboarding.timer.fired",
              "kickoff.onboarding.action.done", "kickoff.onboarding.action.dead"}
    done_wanted = {("E2", "email"), ("E3", "email")}

    def complete(found: list) -> bool:
        done = {(e.payload.get("rule"), e.payload.get("tool")) for e in found
                if e.event == "kickoff.onboarding.action.done"}
        return wanted <= {e.event for e in found} and done_wanted <= done

    events = feed(rid, complete)
    assert wanted <= {e.event for e in events}, [e.event for e in events]
    assert {e.resource.get("prefect.resource.name") for e in events} == {NAME}
    assert {e.resource.get("kickoff.tenant") for e in events} == {"network"}

    [dead] = [e for e in events if e.event == "kickoff.onboarding.action.dead" and e.payload["rule"] == "E1"]
    assert (dead.payload["rule"], dead.payload["tool"], dead.payload["kind"]) == ("E1", "hubspot", "create_record")
    assert dead.payload["result"] == "dead" and dead.payload["reason"].startswith("VALIDATION_ERROR: ")
    assert dead.resource.get("kickoff.rule") == "E1" and dead.resource.get("kickoff.result") == "dead"
    done = [e for e in events if e.event == "kickoff.onboarding.action.done"]
    assert {(e.payload["rule"], e.payload["tool"]) for e in done} == done_wanted
    assert all(e.payload["external_id"] for e in done)  # the tool's id of what was written

    [started] = [e for e in events if e.event == "kickoff.onboarding.decided" and e.payload.get("event") == "account.created"]
    assert {"E1", "E2", "E3", "E5"} <= set(started.payload["rules"])
    [timer] = [t for t in started.payload["timers_set"] if t["timer"] == "e3_welcome"]  # set by the decision
    assert timer["rule"] == "E3" and timer["fire_at"]["local"] == "2026-03-02T14:30:00+01:00"
    [fired] = [e for e in events if e.event == "kickoff.onboarding.timer.fired"]
    assert fired.payload["rule"] == "E3" and fired.payload["decided"] is True
    assert {(a["rule"], a["tool"]) for a in fired.payload["decision"]["actions"]} == {("E3", "email")}
    assert not [e for e in events if e.event.endswith(".timer.set")]  # one event per thing that happened


def test_a_steps_events_go_in_one_request_and_arrive_whole(prefect_api: str) -> None:
    """``send_batch``: many events, one request per ``BATCH_EVENTS``, each on its resource."""
    from flows.prefect_events import BATCH_EVENTS, send_batch

    rid = "kickoff.onboarding.test.batch-1"
    events = [("kickoff.onboarding.decided", {"prefect.resource.id": rid, "prefect.resource.name": "Batch AB"},
               {"n": n}) for n in range(BATCH_EVENTS + 3)]
    assert send_batch(events) == BATCH_EVENTS + 3
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventResourceFilter

    deadline = time.monotonic() + 60
    while True:  # the server stores what it received in its own time
        with get_client(sync_client=True) as client:
            page = client.read_events(EventFilter(resource=EventResourceFilter(id=[rid])), limit=50)
        if page.total >= len(events) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert page.total == len(events)
    assert {e.resource.get("prefect.resource.name") for e in page.events} == {"Batch AB"}


def test_with_prefect_away_no_event_is_sent_and_nothing_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ledger is the record: a step whose events cannot be sent goes on (0 sent, no error)."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    from flows.prefect_events import send_batch
    from sandbox.smtp import free_port

    url = f"http://127.0.0.1:{free_port('127.0.0.1')}/api"  # nobody listens there
    monkeypatch.setenv("PREFECT_API_URL", url)
    with temporary_settings({PREFECT_API_URL: url}):
        assert get_current_settings().api.url == url  # so the send is tried, and refused
        event = ("kickoff.onboarding.decided", {"prefect.resource.id": "kickoff.onboarding.t.x"}, {})
        assert send_batch([event]) == 0


def test_a_prefect_server_that_hangs_costs_one_attempt_then_sends_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the connection and never answers: one attempt (the client's own
    retries are off for these sends), then not even a connection while the pause lasts;
    nothing raises (the ledger is the record)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows import prefect_events

    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def take() -> None:
        while True:
            try:
                held.append(listener.accept()[0])  # kept open, never answered
            except OSError:
                return

    threading.Thread(target=take, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/api"
    monkeypatch.setattr(prefect_events, "SEND_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(prefect_events, "_quiet_until", {})
    monkeypatch.setenv("PREFECT_API_URL", url)
    event = ("kickoff.onboarding.decided", {"prefect.resource.id": "kickoff.onboarding.t.hang"}, {})
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            assert prefect_events.send_batch([event]) == 0
            assert len(held) == 1
            assert prefect_events.send_batch([event]) == 0
            assert len(held) == 1
    finally:
        listener.close()
        for connection in held:
            connection.close()


def test_a_timer_that_fails_is_a_timer_failed_event_with_its_reason(prefect_api: str, tmp_path: Path) -> None:
    from flows.runtime import Runtime
    from flows.steps.process import tick
    from kickoff.ledger import Ledger
    from kickoff.settings import load_config
    from tests.assist_onboardings import REPO, set_timer_data, start

    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        due, key = start(ledger, "ob-broken")
        set_timer_data(ledger, "ob-broken", key, {"set_by": 5})
        assert tick(Runtime.build(load_config(REPO / "config"), ledger=ledger), due).failed == 1
    finally:
        ledger.close()

    events = feed(resource_id("assist", "ob-broken"), lambda found: bool(found))
    [failed] = [e for e in events if e.event == "kickoff.onboarding.timer.failed"]
    assert failed.payload["rule"] == failed.resource.get("kickoff.rule") and failed.resource.get("kickoff.timer") == key
    assert failed.payload["decided"] is False and failed.payload["reason"].startswith("ValidationError: set_by")
    assert not [e for e in events if e.event == "kickoff.onboarding.timer.fired"]


def test_a_tick_in_two_processes_sends_the_event_of_every_timer_its_helper_fired(prefect_api: str,
                                                                               tmp_path: Path) -> None:
    from uuid import uuid4

    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from flows.runtime import Runtime
    from flows.steps.process import tick
    from kickoff.ledger import Ledger
    from kickoff.settings import load_config
    from tests.assist_onboardings import REPO, start

    run = f"obh{uuid4().hex[:6]}-"
    ids = [f"{run}{n:02d}" for n in range(30)]
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        due, _ = start(ledger, *ids)
        report = tick(Runtime.build(load_config(REPO / "config"), ledger=ledger), due, limit=1, processes=2)
    finally:
        ledger.close()
    assert report.processed == len(ids) and report.workers.get("tick-2", 0) > 0  # the helper fired some

    wanted = EventFilter(event=EventNameFilter(name=["kickoff.onboarding.timer.fired"]),
                         resource=EventResourceFilter(id_prefix=[resource_id("assist", run)]))
    fired = sorted(e.resource.id for e in events_matching(wanted, lambda found: len(found) >= len(ids)))
    assert fired == sorted(resource_id("assist", oid) for oid in ids)  # each once, the helper's too
