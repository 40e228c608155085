"""End to end through a real Prefect test server, the sandbox, the gateway and the ledger:
rule A's procedure from a Dealbuilder signature to the booked kick-off meeting.

Each flow below runs as a real Prefect flow run (``prefect_test_harness``); vendors are the
sandbox, reached by the official clients over HTTP; webhooks travel sandbox -> gateway ->
inbox with the vendors' real signatures; time is the sandbox's virtual clock.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import yaml

from flows.demo.clock import Act, VirtualClock, prefect_calls
from flows.runtime import Runtime, default_runtime
from flows.steps.process import ECHO_REASON
from gateway import create_app
from gateway.server import GatewayServer
from sandbox.control import SandboxControl
from tests.stack_world import World

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

STOCKHOLM = ZoneInfo("Europe/Stockholm")
FIXTURE = Path(__file__).resolve().parents[2] / "sandbox" / "fixtures" / "default.yaml"
TABLE = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "mappings" / "hubspot.yaml").read_text())["assist"]
SIGNED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=STOCKHOLM)  # a Monday
START_DATE = "2026-03-04"                                 # the delivery start date (Wednesday)
MOVE_AT = datetime(2026, 3, 5, 8, 0, tzinfo=STOCKHOLM)    # A2: the day after, at 08:00
BOOKED_AT = datetime(2026, 3, 13, 10, 0, tzinfo=STOCKHOLM)
PRE_ONBOARDED_AT = datetime(2026, 3, 4, 15, 0, tzinfo=STOCKHOLM)  # A6 done on the start date


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def world(prefect_server, sandbox_server, sandbox: SandboxControl, sandbox_env: dict[str, str]) -> Iterator[World]:
    sandbox.seed(yaml.safe_load(FIXTURE.read_text(encoding="utf-8")))
    default_runtime.cache_clear()
    rt = default_runtime()
    app = create_app(rt.ledger, config=rt.config, announce=lambda tool, ids: None, clock=sandbox_server.sandbox.clock.now)
    gateway = GatewayServer(app).start()
    sandbox.set_webhook("dealbuilder", f"{gateway.url}/webhooks/dealbuilder")
    sandbox.set_webhook("hubspot", f"{gateway.url}/webhooks/hubspot", sandbox_env["HUBSPOT_CLIENT_SECRET"])
    try:
        yield World(rt, sandbox, gateway, VirtualClock(rt, sandbox, prefect_calls()))
    finally:
        gateway.stop()
        rt.ledger.close()
        default_runtime.cache_clear()


def _sign_contract(control: SandboxControl, rt: Runtime) -> None:
    document = {
        "id": "DB-1001",
        "title": "Assist avtal",
        "Parties": [
            {"role": "seller", "companyName": "Kickoff Sales AB", "contacts": []},
            {"role": "customer", "companyName": "Nordljus Bygg AB", "organizationNumber": "556000-0001",
             "contacts": [{"role": "main_user", "name": "Alva Exempel", "email": "alva@nordljus.example.com"}]},
        ],
        "customFields": [{"name": "licences", "value": "25"}, {"name": "delivery_start", "value": START_DATE}],
    }
    control.act("dealbuilder", "documents", **document)
    control.act("dealbuilder", "documents/DB-1001/accept")


def _ticket(control: SandboxControl) -> dict:
    tickets = [t for t in control.get("hubspot", "records/tickets") if t["properties"].get("subject", "").startswith("SE")]
    assert len(tickets) == 1, f"expected exactly one SE ticket, found {len(tickets)}"
    return tickets[0]


def _call_tasks(control: SandboxControl) -> list[tuple[str, datetime]]:
    """(subject, due) of every call task in HubSpot, by due time."""
    tasks = [t["properties"] for t in control.get("hubspot", "records/tasks")]
    calls = [t for t in tasks if t.get("hs_task_type") == "CALL"]
    return sorted(((t["hs_task_subject"], datetime.fromisoformat(str(t["hs_timestamp"])))
                   for t in calls), key=lambda pair: pair[1])


def _pre_onboarding_done(control: SandboxControl, rt: Runtime) -> None:
    """A6: the onboarding team marks the pre-onboarding task done in HubSpot (read by the poll:
    HubSpot sends no webhook for tasks)."""
    [task] = [t for t in control.get("hubspot", "records/tasks")
              if t["properties"].get("hs_task_subject") == "Pre-onboarding in the customer's account"]
    control.act("hubspot", f"tasks/{task['id']}", method="PATCH", properties={"hs_task_status": "COMPLETED"})


def _book_meeting(control: SandboxControl, rt: Runtime) -> None:
    ticket_id = _ticket(control)["id"]
    starts = (BOOKED_AT + timedelta(days=3)).isoformat()
    control.act("hubspot", "meetings", properties={
        "hs_meeting_title": "Uppstartsmöte", "hs_timestamp": starts, "hs_meeting_start_time": starts,
    }, ticket_id=ticket_id)


def test_A1_A2_A8_A13_signed_contract_becomes_ticket_moves_gets_call_tasks_and_stops_when_booked(world: World) -> None:
    control, rt = world.control, world.rt

    # A1: the signature in Dealbuilder becomes a HubSpot ticket "SE ..." in "Ny".
    world.clock.play([Act(SIGNED_AT, "assist", "contract signed", _sign_contract),
                      Act(PRE_ONBOARDED_AT, "assist", "pre-onboarding done", _pre_onboarding_done, poll=("hubspot",))],
                     SIGNED_AT, until=MOVE_AT - timedelta(minutes=1))
    ticket = _ticket(control)
    assert ticket["properties"]["subject"].startswith("SE ")
    assert ticket["properties"]["hs_pipeline"] == TABLE["pipeline"]
    assert ticket["properties"]["hs_pipeline_stage"] == TABLE["stages"]["new"]

    # A2: moved to "Onboarding – Pågår" the day after the start date at 08:00 Stockholm time.
    world.clock.play([], MOVE_AT - timedelta(minutes=1), until=MOVE_AT)
    ticket = _ticket(control)
    assert ticket["properties"]["hs_pipeline_stage"] == TABLE["stages"]["onboarding_in_progress"]
    moved_at = datetime.fromtimestamp(int(ticket["properties"]["hs_lastmodifieddate"]) / 1000, tz=STOCKHOLM) \
        if str(ticket["properties"]["hs_lastmodifieddate"]).isdigit() \
        else datetime.fromisoformat(str(ticket["properties"]["hs_lastmodifieddate"]))
    assert moved_at == MOVE_AT

    # A8: call tasks on day 3 and day 7 while no meeting is booked; A13: the booking stops it all.
    world.clock.play([Act(BOOKED_AT, "assist", "meeting booked", _book_meeting)], MOVE_AT,
                     until=SIGNED_AT + timedelta(days=45))
    calls = _call_tasks(control)
    end_of_day = timedelta(hours=9)  # created at 08:00, due at 17:00 the same day
    assert [due for _, due in calls] == [MOVE_AT + end_of_day,                       # A7: after A6, the first call
                                         MOVE_AT + timedelta(days=3) + end_of_day,   # A8: day 3
                                         MOVE_AT + timedelta(days=7) + end_of_day]   # A8: day 7
    assert "(day 3)" in calls[1][0] and "(day 7)" in calls[2][0]
    assert all(due < BOOKED_AT for _, due in calls)  # A13: nothing after the booking
    assert _ticket(control)["properties"]["hs_pipeline_stage"] == TABLE["stages"]["closed"]
    assert rt.ledger.status(SIGNED_AT + timedelta(days=45)).pending_outbox == 0
    assert rt.ledger.dead_letters() == []


def test_A1_redelivered_dealbuilder_webhook_changes_nothing(world: World) -> None:
    control, rt = world.control, world.rt
    world.clock.play([Act(SIGNED_AT, "assist", "contract signed", _sign_contract)], SIGNED_AT,
                     until=SIGNED_AT + timedelta(hours=1))
    before = rt.ledger.status(SIGNED_AT)
    tickets_before = control.get("hubspot", "records/tickets")
    delivery = next(d for d in control.webhook_deliveries("dealbuilder") if '"DocumentAccepted"' in d["body"])
    answer = requests.post(f"{world.gateway.url}/webhooks/dealbuilder", data=delivery["body"].encode(),
                           headers={"Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 200 and answer.json()["new"] == 0
    world.clock.play([], SIGNED_AT + timedelta(hours=1), until=SIGNED_AT + timedelta(hours=2))
    after = rt.ledger.status(SIGNED_AT + timedelta(hours=2))
    assert (after.pending_inbox, after.pending_outbox) == (before.pending_inbox, before.pending_outbox)
    assert control.get("hubspot", "records/tickets") == tickets_before


def test_A2_webhook_reporting_kickoffs_own_write_changes_nothing(world: World) -> None:
    rt = world.rt
    world.clock.play([Act(SIGNED_AT, "assist", "contract signed", _sign_contract)], SIGNED_AT, until=MOVE_AT)
    echoes = [row for row in _inbox_rows(rt) if row["tool"] == "hubspot"]
    assert echoes, "the sandbox reports Kickoff's own ticket writes back as webhooks"
    assert all(row["status"] == "ignored" and row["error"] == ECHO_REASON for row in echoes), echoes
    state = rt.ledger.load_state("assist:DB-1001")
    assert state is not None and state.stage == "onboarding_in_progress"


def _inbox_rows(rt: Runtime) -> list[dict]:
    rows, inbox_id = [], 1
    while (row := rt.ledger.inbox_row(inbox_id)) is not None:
        rows.append(row)
        inbox_id += 1
    return rows


def test_A2_reconcile_writes_back_a_stage_changed_by_hand_that_the_playbook_did_not_choose(world: World) -> None:
    from flows.flows import push_flow, reconcile_flow

    control, rt = world.control, world.rt
    world.clock.play([Act(SIGNED_AT, "assist", "contract signed", _sign_contract)], SIGNED_AT, until=MOVE_AT)
    ticket = _ticket(control)
    later = MOVE_AT + timedelta(hours=2)
    control.set_clock(at=later.isoformat(), frozen=True)
    control.act("hubspot", f"tickets/{ticket['id']}", method="PATCH",
                properties={"hs_pipeline_stage": TABLE["stages"]["inactive"]})  # by hand, meaning nothing
    world.clock.settle(later)
    assert _ticket(control)["properties"]["hs_pipeline_stage"] == TABLE["stages"]["inactive"]

    result = reconcile_flow(now=later.isoformat())
    push_flow(tool="hubspot", now=later.isoformat())
    assert [(tool, was, now) for tool, _, was, now in result["repaired"]] == [
        ("hubspot", "inactive", "onboarding_in_progress")]
    assert _ticket(control)["properties"]["hs_pipeline_stage"] == TABLE["stages"]["onboarding_in_progress"]
    repairs = [r for r in rt.ledger.outbox_rows() if r["kind"] == "set_stage" and r["due_at"] == later]
    assert [(r["rule"], r["status"]) for r in repairs] == [("A2", "done")]
    assert reconcile_flow(now=(later + timedelta(minutes=5)).isoformat())["repaired"] == []  # nothing left


def test_limits_sync_makes_one_shared_limit_per_tool_and_per_endpoint(prefect_server, kickoff_config) -> None:
    """`kickoff limits sync`: the tools' limits and HubSpot's search limit become Prefect global
    concurrency limits (strict: a limit that was not synced fails loudly instead of running free)."""
    from prefect.client.orchestration import get_client
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError

    from connectors.ratelimit import PrefectRateLimiter, configured_limits, sync_prefect_limits

    synced = dict(sync_prefect_limits(kickoff_config.tools))
    assert {"kickoff-hubspot-default", "kickoff-hubspot.search-default", "kickoff-movidesk-default"} <= set(synced)
    with get_client(sync_client=True) as client:
        search = client.read_global_concurrency_limit_by_name("kickoff-hubspot.search-default")
    assert (search.limit, search.slot_decay_per_second) == (1, 4.5)  # 5/s vendor limit: no second over 5
    limiter = PrefectRateLimiter(timeout_seconds=10, limited=set(configured_limits(kickoff_config.tools)))
    limiter.acquire("hubspot", slots=1)
    started = time.monotonic()
    for _ in range(4):  # the first from the burst, then one per decayed slot (1/4.5 s), waited out
        limiter.acquire("hubspot.search", slots=1)
    assert time.monotonic() - started >= 3 / 4.5
    with pytest.raises(ConcurrencySlotAcquisitionError):
        PrefectRateLimiter(timeout_seconds=10).acquire("never-synced")


def test_the_local_stack_syncs_every_tools_and_every_own_accounts_limit(
        prefect_server, sandbox_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`kickoff up` and `kickoff demo` sync the limits before registering webhooks (Asana's
    handshake calls Asana through them): the tools' and each tenant's own account's."""
    import shutil

    from prefect.client.orchestration import get_client

    from connectors.ratelimit import limit_name
    from flows.local.stack import sync_limits

    config = tmp_path / "config"
    shutil.copytree(Path(__file__).resolve().parents[2] / "config", config)
    tenants = yaml.safe_load((config / "tenants.yaml").read_text(encoding="utf-8"))
    tenants["tenants"]["network"]["accounts"] = {"hubspot": {"credentials": {"token": "env:NETWORK_HUBSPOT_TOKEN"},
                                                              "rate_limit": {"requests": 190, "per_seconds": 10}}}
    (config / "tenants.yaml").write_text(yaml.safe_dump(tenants, allow_unicode=True, sort_keys=False), encoding="utf-8")
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(config))
    default_runtime.cache_clear()
    try:
        assert sync_limits() >= 8
    finally:
        default_runtime.cache_clear()
    with get_client(sync_client=True) as client:
        for name in (limit_name("asana"), limit_name("hubspot", "network")):
            assert client.read_global_concurrency_limit_by_name(name).limit >= 1
