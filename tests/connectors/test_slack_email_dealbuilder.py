"""Slack, e-mail and Dealbuilder connectors against the sandbox: one message per action,
idempotency after a lost answer, error classes, Dealbuilder's key check and parsing."""

from __future__ import annotations

import json
import logging
import smtplib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.dealbuilder import NO_WRITES, DealbuilderConnector
from connectors.email import EmailConnector, message_id, translate
from connectors.errors import ErrorKind, UnknownOutcome
from connectors.retry import RetryPolicy
from connectors.slack import SlackConnector, slack_error
from connectors.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus, idempotency_key
from tests.webhook_receiver import WebhookReceiver

POST = "slack POST /api/chat.postMessage"


def quick(max_attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(base_seconds=0.001, max_backoff_seconds=0.01, max_attempts=max_attempts)


def notify(tool: str, n: int, **payload: Any) -> Action:
    return Action(kind=ActionKind.NOTIFY, tool=tool, onboarding_id="onb-1", payload=payload,
                  idempotency_key=idempotency_key("onb-1", tool, n), rule="W1", due_at=datetime.now(UTC))


@pytest.fixture
def slack(kickoff_config) -> SlackConnector:
    return SlackConnector(kickoff_config.tools["slack"], retry=quick())


@pytest.fixture
def mail(kickoff_config) -> EmailConnector:
    return EmailConnector(kickoff_config.tools["email"], retry=quick(max_attempts=2))


@pytest.fixture
def dealbuilder(kickoff_config) -> DealbuilderConnector:
    return DealbuilderConnector(kickoff_config.tools["dealbuilder"])


# --- Slack ---------------------------------------------------------------------------
def test_given_three_notifications_then_three_messages_carrying_their_keys(sandbox, slack):
    actions = [notify("slack", i, channel="C0SUPPORT", text=f"Red alert {i}") for i in range(3)]

    results = slack.apply(actions)

    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    assert sandbox.counts("slack")[POST] == 3
    keys = [m["metadata"]["event_payload"]["key"] for m in sandbox.get("slack", "messages")]
    assert keys == [a.idempotency_key for a in actions]
    assert [r.external_id for r in results] == [m["ts"] for m in sandbox.get("slack", "messages")]


def test_given_no_answer_when_posting_then_found_in_history_and_not_posted_twice(sandbox, slack):
    sandbox.add_fault(vendor="slack", path="chat.postMessage", kind="no_answer", times=1)

    result = slack.apply([notify("slack", 1, channel="C0SUPPORT", text="Meeting set")])[0]

    messages = sandbox.get("slack", "messages")
    assert result.status is ResultStatus.DONE and len(messages) == 1 and result.external_id == messages[0]["ts"]
    assert sandbox.counts("slack")[POST] == 1
    assert sandbox.counts("slack")["slack GET /api/conversations.history"] == 1


def test_given_429_when_posting_then_retry_after_is_honoured(sandbox, slack):
    sandbox.set_limits("slack", requests=2, window_seconds=1)
    started = time.monotonic()

    results = slack.apply([notify("slack", i, channel="C0SUPPORT", text=f"n{i}") for i in range(3)])

    assert all(r.status is ResultStatus.DONE for r in results)
    assert sandbox.counts("slack")["slack 429"] >= 1 and time.monotonic() - started >= 0.9
    assert len(sandbox.get("slack", "messages")) == 3


def test_given_a_wrong_bot_token_then_auth(sandbox, slack, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    result = slack.apply([notify("slack", 1, channel="C0SUPPORT", text="x")])[0]
    assert result.status is ResultStatus.AUTH and result.reason == "slack: invalid_auth"


@pytest.mark.parametrize(("name", "kind"), [
    ("invalid_auth", ErrorKind.AUTH), ("token_revoked", ErrorKind.AUTH),
    ("channel_not_found", ErrorKind.PERMANENT), ("msg_too_long", ErrorKind.PERMANENT),
    ("ratelimited", ErrorKind.RETRYABLE), ("internal_error", ErrorKind.RETRYABLE),
])
def test_slack_errors_are_classified_by_name(name, kind):
    assert slack_error(name).kind is kind


def test_given_no_channel_then_permanent_without_a_call(sandbox, slack):
    result = slack.apply([notify("slack", 1, text="x")])[0]
    assert result.status is ResultStatus.PERMANENT and POST not in sandbox.counts("slack")


# --- e-mail --------------------------------------------------------------------------
def test_given_two_notifications_then_two_mails_with_message_ids_from_their_keys(sandbox, mail):
    actions = [notify("email", i, to=[f"am{i}@example.com"], subject=f"Follow-up {i}", body="Call the partner.")
               for i in range(2)]

    results = mail.apply(actions)

    received = sandbox.emails()
    assert [r.status for r in results] == [ResultStatus.DONE] * 2
    assert [m["rcpt_tos"] for m in received] == [["am0@example.com"], ["am1@example.com"]]
    assert [m["message_id"] for m in received] == [message_id(a.idempotency_key, "kickoff@example.com") for a in actions]
    assert [r.external_id for r in results] == [m["message_id"] for m in received]
    assert received[0]["subject"] == "Follow-up 0" and received[0]["body"].strip() == "Call the partner."


def test_given_no_recipient_then_permanent(sandbox, mail):
    result = mail.apply([notify("email", 1, subject="x", body="y")])[0]
    assert result.status is ResultStatus.PERMANENT and sandbox.emails() == []


def test_given_the_smtp_server_down_then_retryable(mail, monkeypatch):
    with smtplib.socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("KICKOFF_EMAIL_SMTP", f"127.0.0.1:{closed_port}")
    result = mail.apply([notify("email", 1, to=["am@example.com"], subject="x", body="y")])[0]
    assert result.status is ResultStatus.RETRYABLE and "ConnectionRefusedError" in result.reason


@pytest.mark.parametrize(("error", "kind"), [
    (smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")}), ErrorKind.PERMANENT),
    (smtplib.SMTPRecipientsRefused({"a@example.com": (451, b"try later")}), ErrorKind.RETRYABLE),
    (smtplib.SMTPAuthenticationError(535, b"bad credentials"), ErrorKind.AUTH),
    (smtplib.SMTPDataError(452, b"mailbox full"), ErrorKind.RETRYABLE),
    (smtplib.SMTPDataError(554, b"rejected"), ErrorKind.PERMANENT),
])
def test_smtp_errors_are_classified_by_reply_code(error, kind):
    assert translate(error, sending=True).kind is kind


def test_a_connection_lost_while_sending_is_an_unknown_outcome():
    assert isinstance(translate(smtplib.SMTPServerDisconnected("gone"), sending=True), UnknownOutcome)
    assert translate(smtplib.SMTPServerDisconnected("gone"), sending=False).kind is ErrorKind.RETRYABLE


# --- Dealbuilder ---------------------------------------------------------------------
@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver("/hooks/dealbuilder")
    yield r
    r.close()


def hook(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest("POST", "https://kickoff.example.com/hooks/dealbuilder", headers or {}, raw)


def test_given_a_signed_contract_from_the_sandbox_then_verified_and_one_delivery_without_the_key(
        sandbox, dealbuilder, receiver, sandbox_env):
    sandbox.set_webhook("dealbuilder", receiver.url)
    sandbox.act("dealbuilder", "documents", id="D-7", Parties=[{"companyName": "Example Salon AS"}])
    sandbox.act("dealbuilder", "documents/D-7/accept")
    assert sandbox.flush_webhooks()
    headers, body = receiver.received[-1]
    request = hook(body, headers)

    dealbuilder.verify_webhook(request, datetime.now(UTC))
    [delivery] = dealbuilder.parse_webhook(request)

    sent = json.loads(body)
    assert delivery.dedup_key == f"dealbuilder:{sent['eventId']}" and delivery.record_id == "D-7"
    assert delivery.payload["eventType"] == "DocumentAccepted" and "webhookKey" not in delivery.payload
    assert sandbox_env["DEALBUILDER_WEBHOOK_KEY"] not in json.dumps(delivery.payload)


@pytest.mark.parametrize("key", ["not-the-key", "", None])
def test_given_a_wrong_or_missing_webhook_key_then_401(dealbuilder, sandbox_env, key):
    body = {"eventType": "DocumentAccepted", "document": {"id": "D-1"}}
    if key is not None:
        body["webhookKey"] = key
    with pytest.raises(WebhookRejected) as err:
        dealbuilder.verify_webhook(hook(body), datetime.now(UTC))
    assert err.value.status == 401


@pytest.mark.parametrize(("body", "reason"), [
    (b"<xml/>", "not JSON"),
    (b'["DocumentAccepted"]', "not a JSON object"),
    ({"document": {"id": "D-1"}}, "no eventType"),
    ({"eventType": "DocumentViewed", "document": {"id": "D-1"}}, "unknown Dealbuilder eventType 'DocumentViewed'"),
    ({"eventType": "DocumentAccepted"}, "DocumentAccepted has no document"),
])
def test_given_a_malformed_body_then_400_with_a_clear_reason(dealbuilder, body, reason):
    with pytest.raises(WebhookRejected) as err:
        dealbuilder.parse_webhook(hook(body))
    assert err.value.status == 400 and reason in err.value.reason


def test_given_no_event_id_then_dedup_on_document_type_and_accepted_time(dealbuilder):
    def key(accepted: str) -> str:
        body = {"eventType": "DocumentAccepted", "document": {"id": "D-1", "acceptedAt": accepted}}
        return dealbuilder.parse_webhook(hook(body))[0].dedup_key

    assert key("2026-05-04T10:00:00Z") == key("2026-05-04T10:00:00Z")
    assert key("2026-05-04T10:00:00Z") != key("2026-05-05T10:00:00Z")


def test_any_action_for_dealbuilder_is_refused_permanently(dealbuilder):
    [result] = dealbuilder.apply([notify("dealbuilder", 1, text="x")])
    assert result.status is ResultStatus.PERMANENT and result.reason == NO_WRITES


# --- secrets -------------------------------------------------------------------------
def test_given_a_run_of_all_three_then_no_secret_appears_in_logs(sandbox, slack, mail, dealbuilder, caplog, sandbox_env):
    caplog.set_level(logging.DEBUG)
    sandbox.add_fault(vendor="slack", path="chat.postMessage", kind="no_answer", times=1)
    slack.apply([notify("slack", 1, channel="C0SUPPORT", text="hello")])
    mail.apply([notify("email", 2, to=["am@example.com"], subject="s", body="b")])
    with pytest.raises(WebhookRejected):
        dealbuilder.verify_webhook(hook({"eventType": "DocumentSent", "webhookKey": "wrong"}), datetime.now(UTC))

    assert caplog.records
    for name in ("SLACK_BOT_TOKEN", "DEALBUILDER_WEBHOOK_KEY", "SLACK_WEBHOOK_URL"):
        assert sandbox_env[name] not in caplog.text
