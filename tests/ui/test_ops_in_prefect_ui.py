"""What ops see in the Prefect UI, in a real browser, after one onboarding with one dead letter.

``kickoff up --sandbox`` runs as ops run it (Prefect server, every deployment served, the
gateway, the sandbox). A professional signs up on the network platform (``account.created``
at ``/webhooks/events``); the network's HubSpot mapping names an owner id HubSpot does not
know, so the E5 call task is refused for good: one dead letter, through the real flows and
their event triggers. Then the browser checks the dashboard, the failed run, its artifact and
the Event Feed. ``KICKOFF_UI_SCREENSHOTS=docs/ui`` keeps the README's screenshots.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

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


def _shot(page, screenshots: Path | None, name: str, clip_to: str | None = None) -> None:
    """Keep what the browser shows now (``make ui-screenshots``)."""
    if screenshots is None:
        return
    page.wait_for_timeout(500)  # let charts finish drawing
    page.screenshot(path=str(screenshots / f"{name}.png"))


def test_the_dead_letter_run_is_counted_failed_on_the_dashboard(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/dashboard")
    card = page.locator(".flow-runs-card, .p-card").filter(has_text="Flow Runs").first
    card.wait_for()
    page.get_by_text(played.run_name).first.wait_for()
    assert "0 failed or crashed runs" not in card.inner_text()
    _shot(page, screenshots, "dashboard")


def test_the_failed_runs_logs_say_whose_action_died_and_why(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/runs/flow-run/{played.run_id}")
    page.get_by_text(REFUSAL).first.wait_for()
    logs = page.locator("body").inner_text()
    assert CUSTOMER in logs and "E5" in logs, logs[:2000]
    _shot(page, screenshots, "failed-run-logs")


def test_the_push_artifact_shows_the_rule_and_reason_of_the_dead_letter(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/artifacts/key/push-hubspot")
    row = page.locator("tr").filter(has_text="E5").first
    row.wait_for()
    text = row.inner_text()
    assert "dead" in text and re.search(r"not a valid owner", text), text
    _shot(page, screenshots, "artifact")


def test_the_customer_is_found_by_name_in_the_event_feed(played: Played, page, screenshots) -> None:
    page.goto(f"{played.up.ui_url}/events")
    page.get_by_text("All resources").click()
    page.keyboard.type("kickoff.onboarding")
    page.locator(".p-select-option__text", has_text="kickoff.onboarding").first.click()
    page.keyboard.press("Escape")
    page.get_by_text(CUSTOMER).first.wait_for()
    assert "kickoff.onboarding.action.dead" in page.locator("body").inner_text()
    _shot(page, screenshots, "event-feed")
