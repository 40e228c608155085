"""The one retry policy, the one rate limiter, the sandbox redirect: behaviour every connector relies on."""

from __future__ import annotations

import inspect
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from connectors import connector_class
from connectors.base import Connector
from connectors.http import make_session, raise_for_vendor, send
from connectors.ratelimit import WindowLimiter, bucket_for
from kickoff.contracts.connector import Connector as Contract
from kickoff.contracts.errors import (
    ErrorKind,
    UnknownOutcome,
    VendorError,
    classify,
    retry_after_from_headers,
)
from kickoff.contracts.vendor import VendorAction
from kickoff.contracts.webhooks import WebhookRejected, WebhookRequest
from kickoff.model import Action, ActionKind
from kickoff.retry import GiveUp, RetryPolicy
from kickoff.settings import RateLimit, ToolConfig
from kickoff.tools import tool_names

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _fails(times: int, error: VendorError):
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "ok"

    return fn, calls


def test_given_429s_when_called_then_retries_waiting_at_least_retry_after() -> None:
    slept: list[float] = []
    policy = RetryPolicy(base_seconds=0.001, sleep=slept.append)
    fn, calls = _fails(2, classify(429, {"Retry-After": "2"}))
    assert policy.call(fn) == "ok"
    assert len(calls) == 3
    assert slept and all(s >= 2 for s in slept)


def test_given_permanent_4xx_when_called_then_not_retried() -> None:
    fn, calls = _fails(5, classify(400, reason="INVALID_FIELD"))
    with pytest.raises(VendorError) as info:
        RetryPolicy(sleep=lambda s: None).call(fn)
    assert info.value.kind is ErrorKind.PERMANENT and len(calls) == 1


def test_given_401_when_called_then_auth_error_without_retry() -> None:
    fn, calls = _fails(5, classify(401, reason="bad token"))
    with pytest.raises(VendorError) as info:
        RetryPolicy(sleep=lambda s: None).call(fn)
    assert info.value.kind is ErrorKind.AUTH and len(calls) == 1


def test_given_endless_5xx_when_called_then_attempts_are_bounded() -> None:
    fn, calls = _fails(100, classify(503))
    with pytest.raises(VendorError):
        RetryPolicy(max_attempts=4, sleep=lambda s: None).call(fn)
    assert len(calls) == 4


def test_given_unknown_outcome_when_lookup_finds_the_write_then_not_sent_again() -> None:
    fn, calls = _fails(1, UnknownOutcome("dropped"))
    assert RetryPolicy(sleep=lambda s: None).call(fn, lookup=lambda: "found-by-key") == "found-by-key"
    assert len(calls) == 1


def test_given_unknown_outcome_when_lookup_finds_nothing_then_sent_again() -> None:
    fn, calls = _fails(1, UnknownOutcome("dropped"))
    assert RetryPolicy(sleep=lambda s: None).call(fn, lookup=lambda: None) == "ok"
    assert len(calls) == 2


def test_given_retry_after_longer_than_policy_sleeps_then_gives_up_with_it() -> None:
    fn, _ = _fails(1, classify(429, {"Retry-After": "3600"}))
    with pytest.raises(GiveUp) as info:
        RetryPolicy(sleep=lambda s: None).call(fn)
    assert info.value.retry_after == 3600


def test_retry_after_headers_of_each_vendor_are_read() -> None:
    assert retry_after_from_headers({"Retry-After": "7"}) == 7
    assert retry_after_from_headers({"retry-after": "60"}) == 60
    hubspot = {"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}
    assert retry_after_from_headers(hubspot) == 10
    assert retry_after_from_headers({"X-HubSpot-RateLimit-Remaining": "5",
                                     "X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}) is None


@pytest.mark.parametrize("requests_, window", [(100, 10), (10, 60), (150, 60), (200, 60), (1500, 60)])
def test_window_limiter_never_exceeds_the_vendor_window(requests_: int, window: float) -> None:
    """Simulated time: acquire as fast as allowed for 5 windows; count the worst rolling window."""
    now = [0.0]
    limiter = WindowLimiter({"tool": RateLimit(requests=requests_, per_seconds=window)},
                            clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    stamps = []
    while now[0] < 5 * window:
        limiter.acquire("tool")
        stamps.append(now[0])
    worst = max(sum(1 for t in stamps if start <= t < start + window) for start in stamps)
    assert worst <= requests_
    assert worst >= 0.8 * requests_  # and it does not waste the budget either
    assert bucket_for(RateLimit(requests=requests_, per_seconds=window)).capacity >= 1


def test_redirect_adapter_sends_https_vendor_urls_to_the_sandbox(sandbox, sandbox_server) -> None:
    session = make_session(sandbox_server.url)
    resp = send(session, "POST", "https://example.slack.com/api/auth.test",
                headers={"Authorization": "Bearer xoxb-sandbox-token"})
    assert raise_for_vendor(resp).json()["ok"] is True
    assert sandbox.counts("slack") == {"slack POST /api/auth.test": 1}


def test_dropped_connection_after_sending_is_an_unknown_outcome(sandbox, sandbox_server) -> None:
    sandbox.add_fault(vendor="slack", kind="no_answer", times=1)
    with pytest.raises(UnknownOutcome):
        send(make_session(sandbox_server.url), "POST", f"{sandbox_server.url}/api/chat.postMessage",
             json={"channel": "#c", "text": "t"}, headers={"Authorization": "Bearer xoxb-sandbox-token"})


def test_injected_503_is_retryable(sandbox, sandbox_server) -> None:
    sandbox.add_fault(vendor="slack", kind="error", status=503, times=1)
    resp = requests.post(f"{sandbox_server.url}/api/auth.test", headers={"Authorization": "Bearer xoxb-sandbox-token"})
    with pytest.raises(VendorError) as info:
        raise_for_vendor(resp)
    assert info.value.kind is ErrorKind.RETRYABLE


def test_apply_again_asks_the_tool_first_only_in_its_own_thread() -> None:
    """A row taken over from a dead worker is looked up before it is written again; another
    thread using the same connector object at that moment writes without the look-up."""
    inside_again, other_done = threading.Event(), threading.Event()
    looked_up: dict[str, bool] = {}

    class Probe(Connector):
        tool = "slack"

        def read_changes(self, cursor, *, now, limit=None): ...
        def verify_webhook(self, request, now): ...
        def parse_webhook(self, request, now): ...

        def apply(self, actions, now):
            who = actions[0].payload.text

            def lookup():
                looked_up[who] = True

            def write():
                looked_up.setdefault(who, False)
                if who == "again":
                    inside_again.set()
                    other_done.wait(5)
                return []

            return self.call(write, lookup=lookup)

    probe = Probe(ToolConfig(), retry=RetryPolicy(sleep=lambda s: None))

    def action(who: str) -> VendorAction:
        canonical = Action(kind=ActionKind.NOTIFY, tool="slack", onboarding_id="o-1",
                           idempotency_key=f"key-{who}-0001", rule="W2", due_at=NOW)
        return VendorAction.of(canonical, {"channel": "C0PROBE01", "text": who})

    again = threading.Thread(target=probe.apply_again, args=([action("again")], NOW))
    again.start()
    assert inside_again.wait(5)
    probe.apply([action("fresh")], NOW)
    other_done.set()
    again.join(5)
    assert looked_up == {"again": True, "fresh": False}


CONTRACT = ("read_changes", "verify_webhook", "parse_webhook", "enrich", "apply", "apply_again",
            "read_records")


def _parameters(function: Any) -> list[tuple[str, Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize("tool", tool_names())
def test_every_connector_takes_the_contracts_arguments(tool: str) -> None:
    """Each operation of each tool's connector has the parameters of the contract (``now``
    passed in everywhere, ``apply`` given vendor actions), so the flows can call any tool."""
    connector = connector_class(tool)
    assert issubclass(connector, Connector) and connector.tool == tool
    wrong = [name for name in CONTRACT
             if _parameters(getattr(connector, name)) != _parameters(getattr(Contract, name))]
    assert wrong == []


JSON_BODIES = {"asana": "object", "dealbuilder": "object", "hubspot": "array", "movidesk": "object",
               "zendesk": "object"}
"""The tools whose webhooks post JSON, and what the body is (Salesforce posts SOAP XML)."""


@pytest.mark.parametrize("tool", sorted(JSON_BODIES))
def test_a_json_webhook_that_is_not_json_or_not_its_shape_is_refused_400_saying_so(tool: str) -> None:
    """Every JSON webhook is read by the one body reader: a body that is no JSON, or JSON of
    the wrong shape, is a 400 naming what is wrong, before any vendor field is looked at."""
    connector = connector_class(tool)(ToolConfig())
    shape = JSON_BODIES[tool]
    for body, reason in [(b"<html>not json</html>", "not JSON"),
                         (b"[1, 2]" if shape == "object" else b'{"eventId": 7}', f"not a JSON {shape}")]:
        with pytest.raises(WebhookRejected) as err:
            connector.parse_webhook(WebhookRequest("POST", "https://kickoff.example.com/hooks", {}, body), NOW)
        assert err.value.status == 400 and reason in err.value.reason
