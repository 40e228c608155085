"""The sandbox's webhook delivery across a reset: each test seeds a fresh sandbox, and what the
last one left queued (a retry backing off from its closed receiver) must not reach the next."""

from __future__ import annotations

from sandbox.webhooks import Outgoing, WebhookDispatcher, WebhookTarget
from tests.webhook_receiver import WebhookReceiver


def _unsigned(target: WebhookTarget, method: str, url: str, body: bytes) -> dict[str, str]:
    return {}


def test_given_a_retry_queued_before_a_reset_then_the_next_target_never_receives_it():
    dispatcher = WebhookDispatcher()
    gone = WebhookReceiver(status=503)
    gone.close()  # the earlier test's receiver: nothing listens there any more
    try:
        dispatcher.configure("salesforce", WebhookTarget(url=gone.url, retries=3))
        assert dispatcher.emit(Outgoing("salesforce", b"<old case change/>", _unsigned))
        dispatcher.reset()
        with WebhookReceiver() as receiver:
            dispatcher.configure("salesforce", WebhookTarget(url=receiver.url))
            assert dispatcher.emit(Outgoing("salesforce", b"<new account/>", _unsigned))
            assert dispatcher.flush(timeout=10)
            assert receiver.bodies == [b"<new account/>"]
            assert [d.body for d in dispatcher.deliveries] == ["<new account/>"]
    finally:
        dispatcher.stop()


def test_given_no_reset_then_a_failed_delivery_is_retried_to_its_target():
    dispatcher = WebhookDispatcher()
    with WebhookReceiver(status=503) as receiver:
        try:
            dispatcher.configure("zendesk", WebhookTarget(url=receiver.url, retries=2))
            assert dispatcher.emit(Outgoing("zendesk", b"{}", _unsigned))
            assert dispatcher.flush(timeout=10)
            assert len(receiver.received) == 3
        finally:
            dispatcher.stop()
