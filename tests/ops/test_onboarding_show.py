""""Why did <customer> not get <thing>?" answered by one ``kickoff onboarding show``, for each
way it happens: an action dead, a timer still pending, a fact ignored, a fact that never came.

Each case plays a network sign-up for real (gateway, ledger, process/tick/push against the
sandbox, on the virtual clock) and reads the answer off the command, by the customer's name
typed without case or accents.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from sandbox.control import SandboxControl
from sandbox.server import SandboxServer
from tests.ops.world import NAME, SIGNUP, World, kickoff, network_world, signup

pytestmark = [pytest.mark.slow]


@pytest.fixture
def world(sandbox_server: SandboxServer, sandbox: SandboxControl, sandbox_env: dict[str, str]) -> Iterator[World]:
    with network_world(sandbox_server, sandbox) as played:
        yield played


def show(*args: str) -> str:
    result = kickoff("onboarding", "show", *args)
    assert result.exit_code == 0, result.output
    return result.output


def test_action_dead_shows_the_rule_tool_and_the_tools_refusal(world: World) -> None:
    world.control.add_fault(vendor="hubspot", method="POST", path="batch/create", kind="error", status=400)
    world.play([world.act(SIGNUP, "sign-up", signup())], until=SIGNUP + timedelta(minutes=10))

    text = show("chalet des neiges")  # the name, case ignored
    assert text.startswith(f"{NAME}  (network:chalet-des-neiges, tenant network")
    dead = [line for line in text.splitlines() if "DEAD after" in line]
    assert dead and all(" hubspot " in line for line in dead)
    assert any(" E1  hubspot create_record: DEAD after 1 try: VALIDATION_ERROR: " in line for line in dead), text
    story = json.loads(show("network:chalet-des-neiges", "--json"))
    [contact] = [a for a in story["actions"] if a["rule"] == "E1" and a["tool"] == "hubspot"]
    assert contact["status"] == "dead" and contact["last_error"].startswith("VALIDATION_ERROR: ")
    done = [a for a in story["actions"] if a["status"] == "done"]
    assert done and all(a["tool"] == "email" and a["external_id"] for a in done)  # E2 went out


def test_timer_pending_shows_when_it_fires_in_the_tenants_zone(world: World) -> None:
    world.play([world.act(SIGNUP, "sign-up", signup())], until=SIGNUP + timedelta(minutes=10))

    text = show("CHALET DES NEIGES")
    assert "  e3_welcome (E3): pending, due 2026-03-02 14:30 CET" in text
    assert "timers: e3_welcome at 2026-03-02 14:30 CET" in text  # also under "Waiting for"
    [timer] = json.loads(show("chalet des neiges", "--json"))["pending_timers"]
    assert timer["key"] == "e3_welcome" and timer["fire_at"]["local"] == "2026-03-02T14:30:00+01:00"

    world.play([], until=SIGNUP + timedelta(minutes=31))  # and once it fired, it is not pending
    assert json.loads(show("chalet des neiges", "--json"))["pending_timers"] == []


def test_event_ignored_shows_why_what_the_rules_on_it_need(world: World) -> None:
    cancelled = {"id": "cancel-1", "type": "meeting.cancelled", "occurred_at": (SIGNUP + timedelta(hours=1)).isoformat(),
                 "subject": "network:chalet-des-neiges", "tenant": "network",
                 "data": {"meeting_id": "m-1", "kind": "onboarding"}}
    world.play([world.act(SIGNUP, "sign-up", signup()),
                world.act(SIGNUP + timedelta(hours=1), "cancelled before booking", cancelled)],
               until=SIGNUP + timedelta(hours=2))

    text = show("Chalet des Neiges")
    received = text.split("Received:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    [line] = [line for line in received if "meeting.cancelled from kickoff" in line]
    assert line.startswith("  2026-03-02 15:00 CET  #")
    assert line.endswith("from kickoff: ignored: meeting.cancelled: stage signed_up (active): "
                         "E4 only in stage appointment_booked")
    inbox = json.loads(show("chalet des neiges", "--json"))["inbox"]
    assert [(row["fact"], row["status"]) for row in inbox] == [("account.created", "done"),
                                                               ("meeting.cancelled", "ignored")]


def test_webhook_never_arrived_shows_what_the_playbook_waits_for_and_silence_since(world: World) -> None:
    world.play([world.act(SIGNUP, "sign-up", signup())], until=SIGNUP + timedelta(days=3))
    as_of = (SIGNUP + timedelta(days=3)).isoformat()

    text = show("chalet des neiges", "--now", as_of)
    waiting = text.split("Waiting for:\n", 1)[1].splitlines()
    assert waiting[0].startswith("  facts the playbook acts on now: ")
    assert "meeting.booked (E4)" in waiting[0] and "call.logged (E5)" in waiting[0]
    assert "meeting.completed (E6)" in waiting[0]
    assert waiting[1] == ("  last received: account.created from kickoff at 2026-03-02 14:00 CET; nothing "
                          "received since (3 days as of 2026-03-05 14:00 CET)")
    assert "e3_welcome (E3): fired" in text and "pending, due" not in text
    story = json.loads(show("chalet des neiges", "--json", "--now", as_of))
    assert story["last_received"]["nothing_since_seconds"] == 3 * 86400
    assert {"event": "meeting.booked", "rules": ["E4"]} in story["waiting_for"]


def test_list_stuck_names_an_onboarding_with_no_progress_and_one_with_a_dead_action(world: World) -> None:
    world.play([world.act(SIGNUP, "sign-up", signup())], until=SIGNUP + timedelta(days=1))
    world.control.add_fault(vendor="hubspot", method="POST", path="batch/create", kind="error", status=400)
    later = SIGNUP + timedelta(days=8)
    world.play([world.act(later, "another sign-up", signup("network:gite-eleve", "Gîte Élevé", later))],
               until=later + timedelta(minutes=5))

    result = kickoff("onboarding", "list", "--stuck", "--json", "--now", (later + timedelta(minutes=5)).isoformat())
    assert result.exit_code == 0, result.output
    stuck = {one["name"]: one["stuck"] for one in json.loads(result.output)}
    # its last decision: the welcome timer's, 30 minutes after the sign-up
    assert stuck["Chalet des Neiges"] == ["no progress for 7 days, nothing pending"]
    assert any(reason.endswith("dead actions") for reason in stuck["Gîte Élevé"])
    assert show("gite eleve").startswith("Gîte Élevé  (network:gite-eleve")  # accents ignored


def test_an_ambiguous_name_lists_the_candidates_and_fails(world: World) -> None:
    world.play([world.act(SIGNUP, "sign-up", signup()),
                world.act(SIGNUP + timedelta(minutes=1), "another", signup("network:chalet-2", "Chalet des Pins",
                                                                            SIGNUP + timedelta(minutes=1)))],
               until=SIGNUP + timedelta(minutes=2))

    result = kickoff("onboarding", "show", "chalet")
    assert result.exit_code == 1
    assert "'chalet' matches 2 onboardings" in result.stderr
    assert "network:chalet-des-neiges" in result.stderr and "network:chalet-2" in result.stderr
    assert kickoff("onboarding", "show", "nobody here").exit_code == 1
