"""Slack, e-mail and Dealbuilder connectors against the sandbox: one message per action,
idempotency after a lost answer, error classes, Dealbuilder's key check and parsing."""

from __future__ import annotations

import json
import logging
import smtplib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from connectors.dealbuilder import NO_WRITES, DealbuilderConnector
from connectors.email import EmailConnector, message_id, translate
from connectors.slack import SlackConnector, slack_error
from kickoff.contracts.errors import ErrorKind, UnknownOutcome
from kickoff.contracts.vendor import PayloadRefused, VendorAction, VendorPayload
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind, ResultStatus, idempotency_key
from kickoff.retry import RetryPolicy
from kickoff.tools.dealbuilder import DEPRECATED_FIELDS
from tests.webhook_receiver import WebhookReceiver

POST = "slack POST /api/chat.postMessage"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def quick(max_attempts: int = 6) -> RetryPolicy:
    return RetryPolicy(base_seconds=0.001, max_backoff_seconds=0.01, max_attempts=max_attempts)


def notify(tool: str, n: int, **payload: Any) -> Action:
    return Action(kind=ActionKind.NOTIFY, tool=tool, onboarding_id="onb-1", payload=payload,
                  idempotency_key=idempotency_key("onb-1", tool, n), rule="W1", due_at=datetime.now(UTC))


def message(tool: str, n: int, **payload: Any) -> VendorAction:
    """A notify action with its payload in the tool's terms, as the tool's mapping makes it."""
    return VendorAction.of(notify(tool, n), payload)


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
    actions = [message("slack", i, channel="C0SUPPORT", text=f"Red alert {i}") for i in range(3)]

    results = slack.apply(actions, NOW)

    assert [r.status for r in results] == [ResultStatus.DONE] * 3
    assert sandbox.counts("slack")[POST] == 3
    keys = [m["metadata"]["event_payload"]["key"] for m in sandbox.get("slack", "messages")]
    assert keys == [a.idempotency_key for a in actions]
    assert [r.external_id for r in results] == [m["ts"] for m in sandbox.get("slack", "messages")]


def test_given_no_answer_when_posting_then_found_in_history_and_not_posted_twice(sandbox, slack):
    sandbox.add_fault(vendor="slack", path="chat.postMessage", kind="no_answer", times=1)

    result = slack.apply([message("slack", 1, channel="C0SUPPORT", text="Meeting set")], NOW)[0]

    messages = sandbox.get("slack", "messages")
    assert result.status is ResultStatus.DONE and len(messages) == 1 and result.external_id == messages[0]["ts"]
    assert sandbox.counts("slack")[POST] == 1
    assert sandbox.counts("slack")["slack GET /api/conversations.history"] == 1


def test_given_429_when_posting_then_retry_after_is_honoured(sandbox, slack):
    sandbox.set_limits("slack", requests=1, window_seconds=1)  # below the limiter's burst of 2
    started = time.monotonic()

    results = slack.apply([message("slack", i, channel="C0SUPPORT", text=f"n{i}") for i in range(3)], NOW)

    assert all(r.status is ResultStatus.DONE for r in results)
    assert sandbox.counts("slack")["slack 429"] >= 1 and time.monotonic() - started >= 0.9
    assert len(sandbox.get("slack", "messages")) == 3


def test_given_a_wrong_bot_token_then_auth(sandbox, slack, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    result = slack.apply([message("slack", 1, channel="C0SUPPORT", text="x")], NOW)[0]
    assert result.status is ResultStatus.AUTH and result.reason == "slack: invalid_auth"


@pytest.mark.parametrize(("name", "kind"), [
    ("invalid_auth", ErrorKind.AUTH), ("token_revoked", ErrorKind.AUTH),
    ("channel_not_found", ErrorKind.PERMANENT), ("msg_too_long", ErrorKind.PERMANENT),
    ("ratelimited", ErrorKind.RETRYABLE), ("internal_error", ErrorKind.RETRYABLE),
])
def test_slack_errors_are_classified_by_name(name, kind):
    assert slack_error(name).kind is kind


def test_given_another_tools_payload_then_permanent_without_a_call(sandbox, slack):
    result = slack.apply([message("email", 1, to=["am@example.com"], subject="x")], NOW)[0]
    assert result.status is ResultStatus.PERMANENT and POST not in sandbox.counts("slack")


# --- e-mail --------------------------------------------------------------------------
def test_given_two_notifications_then_two_mails_with_message_ids_from_their_keys(sandbox, mail):
    actions = [message("email", i, to=[f"am{i}@example.com"], subject=f"Follow-up {i}", body="Call the partner.")
               for i in range(2)]

    results = mail.apply(actions, NOW)

    received = sandbox.emails()
    assert [r.status for r in results] == [ResultStatus.DONE] * 2
    assert [m["rcpt_tos"] for m in received] == [["am0@example.com"], ["am1@example.com"]]
    assert [m["message_id"] for m in received] == [message_id(a.idempotency_key, "kickoff@example.com") for a in actions]
    assert [r.external_id for r in results] == [m["message_id"] for m in received]
    assert received[0]["subject"] == "Follow-up 0" and received[0]["body"].strip() == "Call the partner."
    assert parsedate_to_datetime(received[0]["headers"]["Date"]) == NOW  # the push's time


@pytest.mark.parametrize(("tool", "payload", "field"), [
    ("slack", {"text": "x"}, "channel"),
    ("slack", {"channel": "#support", "text": "x"}, "channel"),  # a name: no history lookup
    ("slack", {"channel": "C0SUPPORT"}, "payload"),  # Slack answers no_text
    ("slack", {"channel": "C0SUPPORT", "text": "x", "unfurl_links": False}, "unfurl_links"),
    ("email", {"subject": "x", "body": "y"}, "to"),
    ("email", {"to": ["Ana <am@example.com>"], "subject": "x"}, "to"),
    ("email", {"to": ["am@example.com"], "cc": ["billing"]}, "cc"),
    ("email", {"to": ["am@example.com"], "subject": "x\nBcc: all@example.com"}, "subject"),
])
def test_given_a_payload_the_tool_does_not_take_then_refused_where_it_is_made(tool, payload, field):
    with pytest.raises(PayloadRefused) as refused:
        message(tool, 1, **payload)
    assert refused.value.field == field


def test_given_the_smtp_server_down_then_retryable(mail, monkeypatch):
    with smtplib.socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv("KICKOFF_EMAIL_SMTP", f"127.0.0.1:{closed_port}")
    result = mail.apply([message("email", 1, to=["am@example.com"], subject="x", body="y")], NOW)[0]
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
    with WebhookReceiver("/hooks/dealbuilder") as hook:
        yield hook


def hook(body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WebhookRequest("POST", "https://kickoff.example.com/hooks/dealbuilder", headers or {}, raw)


CUSTOMER = {"role": "customer", "companyName": "Example Salon AS", "organizationNumber": "998877665",
            "contacts": [{"role": "main_user", "name": "Eva Exempel", "email": "eva@salon.example.com"}]}


def documented(event_type: str | None = "DocumentAccepted", **fields: Any) -> dict[str, Any]:
    """A body as Dealbuilder's webhook reference lists it: ``eventType`` and ``webhookKey``, the
    deprecated flat fields (nullable: null here unless given), the document's own fields."""
    return {"eventType": event_type, "webhookKey": "db-sandbox-webhook-key",
            **dict.fromkeys(DEPRECATED_FIELDS), "id": "D-1", **fields}


def test_given_a_signed_contract_from_the_sandbox_then_verified_and_one_flat_delivery_without_the_key(
        sandbox, dealbuilder, receiver, sandbox_env):
    sandbox.set_webhook("dealbuilder", receiver.url)
    sandbox.act("dealbuilder", "documents", id="D-7", Parties=[CUSTOMER])
    sandbox.act("dealbuilder", "documents/D-7/accept")
    assert sandbox.flush_webhooks()
    post = receiver.received[-1]
    body = post.body
    request = hook(body, post.headers)

    dealbuilder.verify_webhook(request, NOW)
    [delivery] = dealbuilder.parse_webhook(request, NOW)

    sent = json.loads(body)
    assert "document" not in sent and set(DEPRECATED_FIELDS) <= set(sent)  # flat, as documented
    assert (sent["id"], sent["customerCompanyName"], sent["customerEmail"]) == (
        "D-7", "Example Salon AS", "eva@salon.example.com")
    assert delivery.record_id == "D-7" and delivery.received_at == NOW
    assert delivery.payload["eventType"] == "DocumentAccepted" and "webhookKey" not in delivery.payload
    assert sandbox_env["DEALBUILDER_WEBHOOK_KEY"] not in json.dumps(delivery.payload)


@pytest.mark.parametrize("key", ["not-the-key", "", None])
def test_given_a_wrong_or_missing_webhook_key_then_401(dealbuilder, sandbox_env, key):
    body = documented(Parties=[CUSTOMER])
    body["webhookKey"] = key
    if key is None:
        del body["webhookKey"]
    with pytest.raises(WebhookRejected) as err:
        dealbuilder.verify_webhook(hook(body), NOW)
    assert err.value.status == 401


@pytest.mark.parametrize(("body", "reason"), [
    (documented(None, Parties=[CUSTOMER]), "no eventType"),
    (documented("DocumentViewed", Parties=[CUSTOMER]), "unknown Dealbuilder eventType 'DocumentViewed'"),
    (documented(id=None, Parties=[CUSTOMER]), "DocumentAccepted: no document id at id"),
])
def test_given_a_malformed_body_then_400_with_a_clear_reason(dealbuilder, body, reason):
    with pytest.raises(WebhookRejected) as err:
        dealbuilder.parse_webhook(hook(body), NOW)
    assert err.value.status == 400 and reason in err.value.reason


@pytest.mark.parametrize("fields", [
    {},
    {"Parties": [{**CUSTOMER, "role": "seller"}]},
    {"Parties": [{**CUSTOMER, "companyName": ""}], "customerCompanyName": None},
    {"Parties": [], "customerName": "Eva Exempel", "customerEmail": "eva@salon.example.com"},
])
def test_A1_given_a_document_accepted_missing_customer_then_400_naming_the_paths_tried(dealbuilder, fields):
    with pytest.raises(WebhookRejected) as err:
        dealbuilder.parse_webhook(hook(documented(**fields)), NOW)
    assert err.value.status == 400
    assert err.value.reason == ("Dealbuilder DocumentAccepted: no customer company name at "
                                "Parties[role=customer].companyName or customerCompanyName")


@pytest.mark.parametrize("fields", [
    {"Parties": [CUSTOMER]},
    {"customerCompanyName": "Example Salon AS"},  # only the deprecated flat field
])
def test_A1_given_a_document_accepted_with_its_customer_in_parties_or_the_flat_field_then_accepted(
        dealbuilder, fields):
    [delivery] = dealbuilder.parse_webhook(hook(documented(**fields)), NOW)
    assert delivery.record_id == "D-1"


def test_given_a_document_sent_without_a_customer_then_accepted(dealbuilder):
    """A proposal starts nothing: only the signature must name its customer."""
    [delivery] = dealbuilder.parse_webhook(hook(documented("DocumentSent")), NOW)
    assert delivery.payload["eventType"] == "DocumentSent"


def test_given_the_mappings_own_paths_then_the_edge_checks_those(kickoff_config):
    reads = {"eventType": ["DocumentAccepted"], "document_id": ["id"], "account_name": ["kund.namn"]}
    tenant_paths = DealbuilderConnector(kickoff_config.tools["dealbuilder"], reads=reads)
    [ok] = tenant_paths.parse_webhook(hook(documented(kund={"namn": "Example Salon AS"})), NOW)
    assert ok.record_id == "D-1"
    with pytest.raises(WebhookRejected, match=r"no customer company name at kund\.namn$"):
        tenant_paths.parse_webhook(hook(documented(Parties=[CUSTOMER])), NOW)


def test_given_no_event_id_then_a_redelivery_has_the_same_dedup_key_and_another_event_another(dealbuilder):
    def key(accepted: str, webhook_key: str = "db-sandbox-webhook-key") -> str:
        body = documented(Parties=[CUSTOMER], acceptedAt=accepted, webhookKey=webhook_key)
        return dealbuilder.parse_webhook(hook(body), NOW)[0].dedup_key

    assert key("2026-05-04T10:00:00Z") == key("2026-05-04T10:00:00Z") == key("2026-05-04T10:00:00Z", "other")
    assert key("2026-05-04T10:00:00Z") != key("2026-05-05T10:00:00Z")
    sent = dealbuilder.parse_webhook(hook(documented("DocumentSent", Parties=[CUSTOMER])), NOW)[0]
    assert sent.dedup_key != key("2026-05-04T10:00:00Z")


def test_any_action_for_dealbuilder_is_refused_permanently(dealbuilder):
    with pytest.raises(PayloadRefused, match="no such action"):
        VendorAction.of(notify("dealbuilder", 1), {"text": "x"})  # refused where it is made
    [result] = dealbuilder.apply([VendorAction(action=notify("dealbuilder", 1), payload=VendorPayload())], NOW)
    assert result.status is ResultStatus.PERMANENT and result.reason == NO_WRITES


# --- secrets -------------------------------------------------------------------------
def test_given_a_run_of_all_three_then_no_secret_appears_in_logs(sandbox, slack, mail, dealbuilder, caplog, sandbox_env):
    caplog.set_level(logging.DEBUG)
    sandbox.add_fault(vendor="slack", path="chat.postMessage", kind="no_answer", times=1)
    slack.apply([message("slack", 1, channel="C0SUPPORT", text="hello")], NOW)
    mail.apply([message("email", 2, to=["am@example.com"], subject="s", body="b")], NOW)
    with pytest.raises(WebhookRejected):
        dealbuilder.verify_webhook(hook(documented("DocumentSent", webhookKey="wrong")), NOW)

    assert caplog.records
    for name in ("SLACK_BOT_TOKEN", "DEALBUILDER_WEBHOOK_KEY", "SLACK_WEBHOOK_URL"):
        assert sandbox_env[name] not in caplog.text
