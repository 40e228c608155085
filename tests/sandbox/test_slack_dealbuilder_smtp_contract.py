"""The Slack, Dealbuilder and SMTP fakes behave as the vendors do (Slack has no client
installed here: plain ``requests``, as Slack's own Web API docs show)."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import requests

from tests.webhook_receiver import WebhookReceiver

TOKEN = {"Authorization": "Bearer xoxb-sandbox-token"}


def post_message(url: str, headers: dict[str, str] | None = None, **body: Any) -> requests.Response:
    return requests.post(f"{url}/api/chat.postMessage", json=body, headers=headers or TOKEN, timeout=10)


def test_given_the_bot_token_when_posting_then_ok_with_a_ts(sandbox, sandbox_server):
    answer = post_message(sandbox_server.url, channel="C0SUPPORT", text="Red alert for Example Salon")
    body = answer.json()
    assert answer.status_code == 200 and body["ok"] is True and float(body["ts"]) > 0
    assert sandbox.get("slack", "messages")[0]["text"] == "Red alert for Example Salon"


def test_given_a_wrong_token_then_200_with_ok_false_invalid_auth(sandbox, sandbox_server):
    answer = post_message(sandbox_server.url, {"Authorization": "Bearer xoxb-wrong"}, channel="C0SUPPORT", text="x")
    assert answer.status_code == 200 and answer.json() == {"ok": False, "error": "invalid_auth"}


def test_given_the_limit_spent_then_429_ratelimited_with_retry_after(sandbox, sandbox_server):
    sandbox.set_limits("slack", requests=1, window_seconds=30)
    post_message(sandbox_server.url, channel="C0SUPPORT", text="one")
    answer = post_message(sandbox_server.url, channel="C0SUPPORT", text="two")
    assert answer.status_code == 429 and answer.json()["error"] == "ratelimited"
    assert 1 <= int(answer.headers["Retry-After"]) <= 30


def test_given_metadata_when_reading_history_then_shown_only_with_include_all_metadata(sandbox, sandbox_server):
    metadata = {"event_type": "kickoff_action", "event_payload": {"key": "k-123456"}}
    post_message(sandbox_server.url, channel="C0SUPPORT", text="with metadata", metadata=metadata)
    post_message(sandbox_server.url, channel="C0OTHER", text="elsewhere")

    url = f"{sandbox_server.url}/api/conversations.history"
    full = requests.get(url, params={"channel": "C0SUPPORT", "include_all_metadata": "true"}, headers=TOKEN, timeout=10).json()
    plain = requests.get(url, params={"channel": "C0SUPPORT"}, headers=TOKEN, timeout=10).json()

    assert [m["metadata"] for m in full["messages"]] == [metadata]
    assert "metadata" not in plain["messages"][0] and len(plain["messages"]) == 1


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver("/hooks/dealbuilder") as hook:
        yield hook


def test_when_a_customer_signs_then_dealbuilder_posts_document_accepted_with_the_webhook_key(sandbox, receiver):
    sandbox.set_webhook("dealbuilder", receiver.url)
    doc = sandbox.act("dealbuilder", "documents", id="D-100", Parties=[{"companyName": "Example Salon AS"}])
    sandbox.act("dealbuilder", f"documents/{doc['id']}/accept")
    assert sandbox.flush_webhooks()

    events = [json.loads(b) for b in receiver.bodies]
    assert [e["eventType"] for e in events] == ["DocumentSent", "DocumentAccepted"]
    assert events[1]["webhookKey"] == "db-sandbox-webhook-key"
    assert events[1]["id"] == "D-100" and events[1]["acceptedAt"]  # flat: no "document" wrapper
    assert "document" not in events[1] and events[1]["customerCompanyName"] is None  # deprecated, nullable


def test_when_sending_over_smtp_then_the_sandbox_keeps_the_message(sandbox, sandbox_server):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "kickoff@example.com", "am@example.com", "Meeting tomorrow"
    msg["Message-ID"] = "<kickoff.abc@example.com>"
    msg.set_content("See you at 10.")
    with smtplib.SMTP(sandbox_server.smtp.host, sandbox_server.smtp.port, timeout=10) as smtp:
        smtp.send_message(msg)

    [kept] = sandbox.emails()
    assert kept["rcpt_tos"] == ["am@example.com"] and kept["subject"] == "Meeting tomorrow"
    assert kept["message_id"] == "<kickoff.abc@example.com>" and kept["body"].strip() == "See you at 10."
