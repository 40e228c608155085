"""The alerts' automations act: ``kickoff alerts sync`` makes ``kickoff-dead-letter-alert`` and
``kickoff-failed-timer-alert`` send a notification through the Prefect block config/alerts.yaml
names; a dead letter's event reaches the block's receiver with the customer, rule and reason in
it, and so does a failed timer's, sent by a real tick."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from tests.conftest import REPO
from tests.ops.world import kickoff
from tests.webhook_receiver import WebhookReceiver


def name_block(config_dir: Path, block: str | None, subject: str = "Kickoff: {{ event.payload.customer }} gave up") -> None:
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
    assert "{{ event.payload.reason }}" in action.body

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


def test_a_dead_letter_event_reaches_the_configured_receiver_with_customer_rule_and_reason(
        prefect_api: str, config_dir: Path) -> None:
    from flows.prefect_events import ACTION_DEAD, emit_kickoff_event

    receiver = WebhookReceiver("/alerts")
    try:
        name_block(config_dir, f"custom-webhook/{webhook_block(receiver.url)}")
        assert kickoff("alerts", "sync").exit_code == 0
        payload = {"tenant": "network", "onboarding": "network:edge-customer", "customer": "Edge Customer",
                   "rule": "E5", "tool": "hubspot", "kind": "create_task",
                   "reason": "blocked: 32cadc996543ac6c2ae693c5752fc335 is dead"}
        sent = first_notification(receiver, lambda: emit_kickoff_event(
            ACTION_DEAD, {"prefect.resource.id": "kickoff.action.hubspot", "kickoff.tool": "hubspot"}, payload))
        assert sent["subject"] == "Kickoff: Edge Customer gave up"
        assert "create_task on hubspot for Edge Customer" in sent["body"]
        assert "rule E5" in sent["body"] and payload["reason"] in sent["body"]
    finally:
        receiver.close()


def test_alerts_sync_makes_the_failed_timer_automation_too(prefect_api: str, config_dir: Path) -> None:
    name_block(config_dir, None)
    synced = kickoff("alerts", "sync")
    assert synced.exit_code == 0, synced.output
    assert "kickoff-failed-timer-alert: " in synced.output and "(failed_timer.block)" in synced.output
    automation = read_automation("kickoff-failed-timer-alert")
    assert automation.trigger.expect == {"kickoff.onboarding.timer.failed"}
    assert "kickoff ledger retry-timers" in automation.description


def test_a_failed_timer_of_a_real_tick_reaches_the_configured_receiver_with_customer_timer_rule_and_reason(
        prefect_api: str, config_dir: Path, tmp_path: Path) -> None:
    """A timer whose data its event refuses fails in the tick, which tells Prefect; the
    failed-timer automation passes it on, saying whose, which timer and rule, why, and how
    it fires again."""
    from datetime import UTC, datetime, timedelta

    from flows.runtime import Runtime
    from flows.steps.process import tick
    from kickoff.ledger import Ledger
    from kickoff.model import Decision, Onboarding, Timer
    from kickoff.settings import load_config

    now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
    rt = Runtime.build(load_config(config_dir), ledger=Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    state = Onboarding(id="core:alert-1", tenant="core", playbook="core-implementation", stage="new",
                       account_name="Alert Customer")
    timer = Timer(key="ops-wake", onboarding_id=state.id, fire_at=now - timedelta(minutes=1), rule="M1",
                  data={"set_by": 5})  # the timer.fired event wants text: its decision fails
    rt.ledger.commit_decision(Decision(state=state, set_timers=[timer]), now=now - timedelta(hours=1))
    receiver = WebhookReceiver("/alerts")
    try:
        name_block(config_dir, f"custom-webhook/{webhook_block(receiver.url)}")
        assert kickoff("alerts", "sync").exit_code == 0

        def fail_the_timer() -> None:  # again: retried, it fails again
            rt.ledger.retry_failed_timers([state.id], now=now)
            assert tick(rt, now).failed == 1

        sent = first_notification(receiver, fail_the_timer)
        assert sent["subject"] == "Kickoff: Alert Customer - timer ops-wake failed"
        assert "Timer ops-wake (rule M1, due " in sent["body"]
        assert "of Alert Customer (core, onboarding core:alert-1) could not be decided: ValidationError: set_by" in sent["body"]
        assert "kickoff ledger retry-timers --onboarding core:alert-1" in sent["body"]
    finally:
        receiver.close()
        rt.ledger.close()
