"""The alerts' automations act: ``kickoff alerts sync`` makes ``kickoff-dead-letter-alert`` and
``kickoff-failed-timer-alert`` send a notification through the Prefect block config/alerts.yaml
names; a push run with dead letters, and a tick run with failed timers, each send one
notification naming them (customer, rule, reason), however many items failed in the run."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flows.runtime import Runtime
from sandbox.control import SandboxControl
from tests.conftest import REPO
from tests.ops.world import kickoff
from tests.webhook_receiver import WebhookReceiver

CUSTOMER_SUBJECT = "Kickoff: {{ event.payload.customer }} gave up"


def name_block(config_dir: Path, block: str | None, subject: str = CUSTOMER_SUBJECT) -> None:
    text = (REPO / "config" / "alerts.yaml").read_text(encoding="utf-8")
    text = text.replace("  block: null", f"  block: {block or 'null'}")
    text = text.replace(text.split("\n  subject: ")[1].split("\n")[0], json.dumps(subject))
    (config_dir / "alerts.yaml").write_text(text, encoding="utf-8")


def webhook_block(url: str) -> str:
    """A custom-webhook notification block posting to ``url``; returns its name."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    name = f"ops-{uuid.uuid4().hex[:8]}"
    CustomWebhookNotificationBlock(name="kickoff-test", url=url, method="POST",
                                   json_data={"subject": "{{subject}}", "body": "{{body}}"}).save(name)
    return name


@contextmanager
def alert_receiver(config_dir: Path, subject: str = CUSTOMER_SUBJECT) -> Iterator[WebhookReceiver]:
    """A receiver the alerts notify through (a custom-webhook block named in alerts.yaml, the
    automations synced), closed after."""
    receiver = WebhookReceiver("/alerts")
    try:
        name_block(config_dir, f"custom-webhook/{webhook_block(receiver.url)}", subject)
        assert kickoff("alerts", "sync").exit_code == 0
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Runtime]:
    """The flows' runtime on this test's own ledger (under its own KICKOFF_HOME), closed after."""
    from flows.runtime import default_runtime

    monkeypatch.setenv("KICKOFF_HOME", str(tmp_path / "kickoff-home"))
    default_runtime.cache_clear()
    rt = default_runtime()
    yield rt
    rt.ledger.close()
    default_runtime.cache_clear()


def first_notification(receiver: WebhookReceiver, announce: Callable[[], None]) -> dict:
    """The first notification ``receiver`` gets, ``announce`` called until one comes: the
    automations service loads a new automation within seconds, and until then an event
    triggers nothing."""
    deadline = time.monotonic() + 90
    while not receiver.received and time.monotonic() < deadline:
        announce()
        for _ in range(50):
            if receiver.received:
                break
            time.sleep(0.2)
    assert receiver.received, "no notification within 90 s"
    return json.loads(receiver.received[0].body)


def notifications_of_one_more_run(receiver: WebhookReceiver, run: Callable[[], None]) -> int:
    """How many notifications ``run`` (one flow run) brings, once those of earlier runs (sent
    before the automation was loaded) are all in."""
    time.sleep(5)
    before = len(receiver.received)
    run()
    deadline = time.monotonic() + 30
    while len(receiver.received) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(5)  # a second notification would come within this
    return len(receiver.received) - before


def read_automation(name: str = "kickoff-dead-letter-alert"):
    from prefect.automations import Automation

    return Automation.read(name=name)


def test_alerts_sync_makes_the_automation_notify_through_the_configured_block_and_is_idempotent(
        prefect_api: str, config_dir: Path) -> None:
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = webhook_block("http://127.0.0.1:9/never-called")
    name_block(config_dir, f"custom-webhook/{block}")
    first = kickoff("alerts", "sync")
    assert first.exit_code == 0, first.output
    assert f"notifies through block custom-webhook/{block}" in first.output
    [action] = read_automation().actions
    assert action.type == "send-notification"
    assert action.block_document_id == CustomWebhookNotificationBlock.load(block)._block_document_id
    assert action.subject == "Kickoff: {{ event.payload.customer }} gave up"
    assert "{{ event.payload.first | join('; ') }}" in action.body

    assert "kickoff-dead-letter-alert: unchanged" in kickoff("alerts", "sync").output
    name_block(config_dir, f"custom-webhook/{block}", subject="Kickoff: {{ event.payload.rule }} gave up")
    assert "kickoff-dead-letter-alert: updated" in kickoff("alerts", "sync").output
    assert read_automation().actions[0].subject == "Kickoff: {{ event.payload.rule }} gave up"


def test_alerts_sync_without_a_block_keeps_an_automation_that_only_shows_up(prefect_api: str, config_dir: Path) -> None:
    name_block(config_dir, None)
    synced = kickoff("alerts", "sync")
    assert synced.exit_code == 0, synced.output
    assert "no notification block" in synced.output
    assert [a.type for a in read_automation().actions] == ["do-nothing"]


def test_alerts_sync_names_a_block_that_is_not_on_the_server(prefect_api: str, config_dir: Path) -> None:
    name_block(config_dir, "custom-webhook/no-such-block")
    refused = kickoff("alerts", "sync")
    assert refused.exit_code == 2
    assert "no Prefect block custom-webhook/no-such-block" in refused.output


def test_alerts_yaml_with_a_block_that_is_no_type_and_name_is_refused_naming_file_and_field(
        prefect_api: str, config_dir: Path) -> None:
    name_block(config_dir, "kickoff-ops")
    refused = kickoff("alerts", "sync")
    assert refused.exit_code == 2
    assert "alerts.yaml" in refused.output and "dead_letter.block" in refused.output


def test_a_push_run_with_dead_letters_sends_one_notification_naming_customer_rule_and_reason(
        prefect_api: str, sandbox: SandboxControl, sandbox_env: dict[str, str], config_dir: Path,
        runtime: Runtime) -> None:
    """Two actions die in one push run (a real flow run: a Movidesk stage change for an
    onboarding that has no ticket); the run tells Prefect once, and the dead-letter automation
    passes it on once: how many, on which tool, each one's customer, tenant, rule and reason.
    A mapping bug kills every action of its kind: one notification per run, not per letter."""
    from datetime import UTC, datetime

    from flows.flows import push_flow
    from kickoff.model import Action, ActionKind, Decision, Onboarding, idempotency_key

    now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
    rounds = iter(range(100))

    def kill_two() -> None:  # two more dead letters each time (new onboardings: new keys)
        n = next(rounds)
        for name in (f"core:dead-{n}-a", f"core:dead-{n}-b"):
            state = Onboarding(id=name, tenant="core", playbook="core-implementation", stage="new",
                               account_name=f"Dead Customer {name[-1].upper()}")
            waits = Action(kind=ActionKind.SET_STAGE, tool="movidesk", onboarding_id=name, rule="M2", due_at=now,
                           idempotency_key=idempotency_key("alerts", name, "stage"), payload={"stage": "kickoff"})
            runtime.ledger.commit_decision(Decision(state=state, actions=[waits]), now=now)
        assert push_flow(tool="movidesk", now=now.isoformat(), return_state=True).is_failed()

    subject = "Kickoff: {{ event.payload.count }} action(s) gave up on {{ event.payload.tool }}"
    with alert_receiver(config_dir, subject) as receiver:
        sent = first_notification(receiver, kill_two)
        assert sent["subject"] == "Kickoff: 2 action(s) gave up on movidesk"
        for customer in ("Dead Customer A", "Dead Customer B"):
            assert f"set_stage for {customer} (core, onboarding core:dead-" in sent["body"]
        assert sent["body"].count("rule M2: mapping: record_id: onboarding core:dead-") == 2  # each one's reason
        assert "`kickoff ledger replay` sends them again" in sent["body"]
        assert notifications_of_one_more_run(receiver, kill_two) == 1  # one run, two dead letters, one notification


def test_alerts_sync_makes_the_failed_timer_automation_too(prefect_api: str, config_dir: Path) -> None:
    name_block(config_dir, None)
    synced = kickoff("alerts", "sync")
    assert synced.exit_code == 0, synced.output
    assert "kickoff-failed-timer-alert: " in synced.output and "(failed_timer.block)" in synced.output
    automation = read_automation("kickoff-failed-timer-alert")
    assert automation.trigger.expect == {"kickoff.tick.timers_failed"}
    assert "kickoff ledger retry-timers" in automation.description


def test_a_tick_run_with_failed_timers_sends_one_notification_naming_them(
        prefect_api: str, config_dir: Path, runtime: Runtime) -> None:
    """Two timers whose data their event refuses fail in one tick run (a real flow run); the run
    tells Prefect once, and the failed-timer automation passes it on once: how many, whose,
    which timer and why. A playbook bug fails every onboarding it reaches: one notification
    per run, not one per timer."""
    from datetime import UTC, datetime, timedelta

    from flows.flows import tick_flow
    from kickoff.model import Decision, Onboarding, Timer

    now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
    names = ["core:alert-1", "core:alert-2"]
    for name in names:
        state = Onboarding(id=name, tenant="core", playbook="core-implementation", stage="new",
                           account_name=f"Alert Customer {name[-1]}")
        timer = Timer(key="ops-wake", onboarding_id=name, fire_at=now - timedelta(minutes=1), rule="M1",
                      data={"set_by": 5})  # the timer.fired event wants text: its decision fails
        runtime.ledger.commit_decision(Decision(state=state, set_timers=[timer]), now=now - timedelta(hours=1))

    def fail_them() -> None:  # (again: retried, they fail again)
        runtime.ledger.retry_failed_timers(names, now=now)
        assert tick_flow(now=now.isoformat(), return_state=True).is_failed()

    with alert_receiver(config_dir) as receiver:
        sent = first_notification(receiver, fail_them)
        assert sent["subject"] == "Kickoff: 2 timer(s) could not be decided"
        assert sent["body"].startswith("2 timers failed, kept until `kickoff ledger retry-timers`: timer ops-wake (M1, due ")
        for name in names:
            assert f"of {name}: ValidationError: set_by" in sent["body"]
        assert "`kickoff ledger failed` lists them" in sent["body"]
        assert notifications_of_one_more_run(receiver, fail_them) == 1  # one run, two failed timers, one notification
