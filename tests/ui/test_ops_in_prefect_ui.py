"""What ops see in the Prefect UI, in a real browser, after one onboarding with one dead letter.

``kickoff up --sandbox`` runs as ops run it (Prefect server, every deployment served, the
gateway, the sandbox). A professional signs up on the network platform (``account.created``
at ``/webhooks/events``); the network's HubSpot mapping names an owner id HubSpot does not
know, so the E5 call task is refused for good: one dead letter, through the real flows and
their event triggers. Then the browser checks the dashboard, the failed run, its artifact and
the Event Feed. ``KICKOFF_UI_SCREENSHOTS=docs/ui`` keeps the README's screenshots.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
from playwright.sync_api import expect

from tests.ui.stack import EVENTS_TOKEN, REPO, RunningUp, kickoff_up

pytestmark = [pytest.mark.ui, pytest.mark.slow, pytest.mark.timeout(900)]

CUSTOMER = "Chalet des Neiges"
SUBJECT = "network:chalet-des-neiges"
WRONG_OWNER = "51200199"  # the network's onboarding team, mistyped in the mapping
REFUSAL = f"{WRONG_OWNER} is not a valid owner id"


@dataclass
class Played:
    up: RunningUp
    run_id: str
    run_name: str


def _config_with_wrong_owner(tmp: Path) -> Path:
    """The project's config, but the network's onboarding team owner id mistyped."""
    config = tmp / "config"
    shutil.copytree(REPO / "config", config)
    mapping = config / "mappings" / "hubspot.yaml"
    text = mapping.read_text(encoding="utf-8")
    wrong = text.replace('    onboarding_team: "51200105"', f'    onboarding_team: "{WRONG_OWNER}"')
    assert wrong != text, "the network's onboarding_team owner is no longer where the test edits it"
    mapping.write_text(wrong, encoding="utf-8")
    return config


def _sign_up(up: RunningUp) -> None:
    event = {"type": "account.created", "occurred_at": datetime.now(UTC).isoformat(), "subject": SUBJECT,
             "tenant": "network", "data": {"account_name": CUSTOMER, "origin": "transformation",
                                           "network": "alpes-tourisme", "leisure": False,
                                           "email": "bonjour@chalet-des-neiges.example.com"}}
    answer = requests.post(f"{up.gateway_url}/webhooks/events", json=event, timeout=30,
                           headers={"Authorization": f"Bearer {EVENTS_TOKEN}"})
    assert answer.status_code == 200, answer.text


def _failed_push_run(up: RunningUp, timeout: float = 420.0) -> dict:
    """The push-hubspot run that ended Failed (the dead letter), once there is one."""
    deadline = time.monotonic() + timeout
    query = {"deployments": {"name": {"any_": ["push-hubspot"]}},
             "flow_runs": {"state": {"type": {"any_": ["FAILED"]}}}}
    while time.monotonic() < deadline:
        if found := up.api("flow_runs/filter", query):
            return found[0]
        time.sleep(2.0)
    runs = [(r["name"], r["state_name"]) for r in up.api("flow_runs/filter", {"sort": "START_TIME_DESC",
                                                                             "limit": 30})]
    raise AssertionError(f"no push-hubspot run ended Failed within {timeout:.0f} s; latest runs: {runs}")


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[Played]:
    tmp = tmp_path_factory.mktemp("ui")
    with kickoff_up(tmp / "home", _config_with_wrong_owner(tmp)) as up:
        _sign_up(up)
        run = _failed_push_run(up)
        yield Played(up, run["id"], run["name"])


def _shot(page, screenshots: Path | None, name: str, *, down_to: object | None = None) -> None:
    """Keep what the browser shows now (``make ui-screenshots``); ``down_to``: an element the
    picture ends under (what follows it is not the point of the picture)."""
    if screenshots is None:
        return
    page.wait_for_timeout(800)  # let charts finish drawing
    clip = None
    if down_to is not None and (box := down_to.bounding_box()):
        clip = {"x": 0, "y": 0, "width": page.viewport_size["width"],
                "height": min(page.viewport_size["height"], box["y"] + box["height"] + 16)}
    page.screenshot(path=str(screenshots / f"{name}.png"), clip=clip)


def _failed_or_crashed(up: RunningUp) -> int:
    return up.api("flow_runs/count", {"flow_runs": {"state": {"type": {"any_": ["FAILED", "CRASHED"]}}}})


def test_the_dead_letter_run_is_counted_failed_on_the_dashboard(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/dashboard")
    failed = page.locator(".flow-run-state-type-count").filter(has=page.locator(".bg-state-failed-500")).first
    expect(failed.locator(".flow-run-state-type-count__value")).to_have_text("1")
    assert _failed_or_crashed(played.up) == 1  # the dead letter's run, and nothing else failed
    page.locator(".p-accordion-trigger").filter(has_text="push").first.click()
    run = page.get_by_text(played.run_name).first
    run.wait_for()
    _shot(page, screenshots, "dashboard")
    run.click()  # two clicks from the dashboard: the run, whose Logs tab opens first
    page.wait_for_url(f"**/runs/flow-run/{played.run_id}**")


def test_the_failed_runs_logs_say_whose_action_died_and_why(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/runs/flow-run/{played.run_id}")
    line = page.get_by_text(REFUSAL).first
    line.wait_for()
    text = line.inner_text()
    assert CUSTOMER in text and "rule E5" in text and "dead" in text, text
    assert "Failed" in page.locator(".state-badge, .p-tag").first.inner_text()
    _shot(page, screenshots, "failed-run-logs", down_to=line)


def test_the_push_artifact_shows_the_rule_and_reason_of_the_dead_letter(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/artifacts/key/push-hubspot")
    page.get_by_text(played.run_name).first.wait_for()  # the latest version: the failed run's
    page.locator(".p-timeline-item a, .artifact-timeline-item-content a").first.click()
    row = page.locator(".p-table-row").filter(has_text="E5").first
    row.wait_for()
    text = row.inner_text()
    assert "create_task" in text and "dead" in text and REFUSAL in text, text
    _shot(page, screenshots, "artifact")


def test_the_customer_is_found_by_name_in_the_event_feed(played: Played, page, screenshots) -> None:
    # the Event Feed filtered on Kickoff's onboardings (the resource filter takes an id prefix)
    page.goto(f"{played.up.ui_url}/events")
    page.get_by_text("All resources").click()
    page.keyboard.type("kickoff.onboarding")
    page.locator(".p-select-option__text", has_text="kickoff.onboarding").first.click()
    page.locator("body").click(position={"x": 1000, "y": 30})  # closes the filter's list
    dead = page.get_by_text("kickoff.onboarding.action.dead").first
    dead.wait_for()
    _shot(page, screenshots, "event-feed")
    # the dead letter's event: on the resource named after the customer, with rule and reason
    page.get_by_text("Kickoff onboarding action dead").first.click()
    page.get_by_text("Raw", exact=True).click()
    raw = page.locator(".p-code-container, pre, code").filter(has_text="prefect.resource.name").first
    raw.wait_for()
    text = raw.inner_text()
    assert f'"prefect.resource.name": "{CUSTOMER}"' in text, text
    assert '"rule": "E5"' in text and REFUSAL in text, text
    # Prefect's newer UI (its "Switch to V2 UI") shows the resource's name on each event. Its feed
    # ends its default span ("Past day") at the start of the current minute, so an event of the
    # last few seconds is not in it yet, and pages by 50, newest first, which the deployments' own
    # runs outnumber within minutes: so it is asked for the last hour up to a minute ahead, on the
    # dead letters only, as ops would narrow it (its ``events`` and range search parameters)
    now = datetime.now(UTC)
    start, end = (f"{moment:%Y-%m-%dT%H:%M:%S}.000Z" for moment in (now - timedelta(hours=1),
                                                                     now + timedelta(minutes=1)))
    search = urlencode({"events": json.dumps(["kickoff.onboarding.action.dead"]), "rangeType": "range",
                        "start": start, "end": end})
    page.goto(f"{played.up.ui_url}/v2/events?{search}")
    named = page.get_by_text(CUSTOMER).first
    named.wait_for()
    named.scroll_into_view_if_needed()
    _shot(page, screenshots, "event-feed-by-name")
