"""Stored before acknowledged; Prefect never holds up an answer; size cap; health; no
secret in any log line; nothing heavy imported with the core."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy.exc import OperationalError

from flows.prefect_events import INBOX_RECEIVED as EVENT_NAME
from gateway import expect_webhook_handshake
from gateway.announce import BackgroundAnnouncer, announce_to_prefect
from kickoff.ledger import Ledger
from tests.gateway import signing
from tests.gateway.cases import (
    ASANA_SECRET,
    CASES,
    DEALBUILDER_KEY,
    HUBSPOT_SECRET,
    MOVIDESK_TOKEN,
    PIPELINE_STAGE,
    STALE,
    ZENDESK_SECRET,
)
from tests.gateway.conftest import EVENTS_TOKEN, REPO_ROOT, Gateway


class FlakyLedger(Ledger):
    """A ledger whose first ``failures`` commits of deliveries fail (disk full, database down)."""

    def __init__(self, real: Ledger, failures: int) -> None:
        super().__init__(real.database)
        self.failures = failures

    def store_deliveries(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.failures > 0:
            self.failures -= 1
            raise OperationalError("INSERT INTO inbox ...", {}, Exception("database is locked"))
        return super().store_deliveries(*args, **kwargs)


# --- stored before acknowledged ----------------------------------------------------------
def test_given_storing_fails_then_503_no_2xx_nothing_stored_and_prefect_not_told(start_gateway, ledger) -> None:
    gateway = start_gateway(ledger=FlakyLedger(ledger, failures=1))

    answer = gateway.post(signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(1)))

    assert answer.status_code == 503
    assert gateway.rows() == [] and gateway.announced_ids() == []


def test_given_storing_fails_once_then_the_vendors_retry_is_stored_and_acknowledged(
        start_gateway, ledger, sandbox) -> None:
    gateway = start_gateway(ledger=FlakyLedger(ledger, failures=1))
    sandbox.set_webhook("hubspot", f"{gateway.url}/webhooks/hubspot", secret=HUBSPOT_SECRET, retries=2)

    sandbox.act("hubspot", "tickets", properties=PIPELINE_STAGE)
    assert sandbox.flush_webhooks()

    assert [d["status"] for d in sandbox.webhook_deliveries("hubspot")] == [503, 200]
    assert len(gateway.rows("hubspot")) == 1


def test_given_announcer_raises_then_still_2xx_and_row_pending_for_the_sweep(start_gateway, caplog) -> None:
    def broken(tool: str, ids: Sequence[int]) -> None:
        raise ConnectionError("Prefect API unreachable")

    gateway = start_gateway(announce=broken)
    answer = gateway.post(signing.zendesk(ZENDESK_SECRET, signing.zendesk_event()))
    gateway.announcer.wait_idle(5)

    assert answer.status_code == 200
    assert [r["status"] for r in gateway.rows()] == ["pending"]
    assert "announcer failed" in caplog.text and "ConnectionError" in caplog.text


SAFETY_SECONDS = 30  # only so that a broken gateway fails the test instead of hanging the suite


@pytest.fixture
def hung() -> Iterator[threading.Event]:
    release = threading.Event()
    yield release
    release.set()


def test_given_announcer_hangs_then_every_request_is_answered_while_it_hangs_and_rows_pending(
        start_gateway, hung) -> None:
    entered = threading.Event()

    def hangs(tool: str, ids: Sequence[int]) -> None:
        entered.set()
        hung.wait()  # until the test is over: no answer may wait for this

    gateway = start_gateway(announce=hangs)
    answers = [gateway.post(signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(0)))]
    assert entered.wait(SAFETY_SECONDS), "the announcer was never called"
    answers += [gateway.post(signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(n)))
                for n in range(1, 5)]

    assert not hung.is_set()  # every answer came back while the announcer was still stuck
    assert [a.status_code for a in answers] == [200] * 5
    assert [r["status"] for r in gateway.rows()] == ["pending"] * 5


def test_given_announcements_pile_up_then_extra_ones_are_dropped_not_blocking(hung, caplog) -> None:
    announcer = BackgroundAnnouncer(lambda tool, ids: hung.wait(30), max_pending=2)
    results = [announcer.submit("hubspot", [n]) for n in range(5)]

    assert results[:2] == [True, True] and results[-1] is False
    assert "left for the sweep" in caplog.text


def test_given_prefect_api_url_then_default_announcer_emits_kickoff_inbox_received_for_the_tool(
        monkeypatch) -> None:
    from prefect.events import Event
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sent: list[dict] = []
    monkeypatch.setattr("prefect.events.emit_event", lambda **kwargs: sent.append(kwargs))
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        announce_to_prefect("hubspot", [7, 8])

    [kwargs] = sent
    event = Event(**kwargs)  # what emit_event builds: a valid Prefect event
    assert event.event == EVENT_NAME == "kickoff.inbox.received"
    assert event.resource.id == "kickoff.inbox.hubspot" and event.resource["kickoff.tool"] == "hubspot"
    assert event.payload == {"inbox_ids": [7, 8], "count": 2, "source": "webhook"}


def test_given_no_prefect_api_url_then_default_announcer_sends_nothing_and_says_so_once(monkeypatch, caplog) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    sent = []
    monkeypatch.setattr("prefect.events.emit_event", lambda **kwargs: sent.append(kwargs))
    monkeypatch.setattr("flows.prefect_events._warned_no_api", False)
    with temporary_settings({PREFECT_API_URL: None}):
        announce_to_prefect("zendesk", [1])
        announce_to_prefect("zendesk", [2])
    assert sent == [] and caplog.text.count("PREFECT_API_URL is not set") == 1


def test_given_emit_event_fails_then_default_announcer_logs_and_swallows(monkeypatch, caplog) -> None:
    def unreachable(**kwargs: object) -> None:
        raise OSError("connection refused")

    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.setattr("prefect.events.emit_event", unreachable)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        announce_to_prefect("zendesk", [1])
    assert "could not tell Prefect" in caplog.text and "OSError" in caplog.text


# --- size cap and health -----------------------------------------------------------------
def test_given_declared_length_over_the_cap_then_413_before_reading_and_nothing_stored(start_gateway) -> None:
    gateway = start_gateway(max_body_bytes=1024)
    body = signing.hubspot_events(*range(20))
    assert len(body) > 1024

    answer = gateway.post(signing.hubspot(gateway.url, HUBSPOT_SECRET, body))

    assert answer.status_code == 413 and gateway.rows() == []


def test_given_chunked_body_over_the_cap_then_413_while_streaming_and_nothing_stored(start_gateway) -> None:
    gateway = start_gateway(max_body_bytes=1024)
    post = signing.dealbuilder(DEALBUILDER_KEY)
    sent = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: only counting the stream can catch it
        for _ in range(64):
            sent.append(1)
            yield b" " * 256
        yield post.body

    try:
        answer = gateway.session.post(gateway.url + post.path, data=chunks(), headers=post.headers, timeout=10)
        assert answer.status_code == 413
    except requests.ConnectionError:
        pass  # the gateway may answer and close before the client finished sending
    assert gateway.rows() == []


def test_given_body_within_the_cap_then_accepted(start_gateway) -> None:
    gateway = start_gateway(max_body_bytes=4096)
    assert gateway.post(signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(1))).status_code == 200


def test_given_default_cap_then_one_mebibyte_passes_and_more_is_413(gateway: Gateway) -> None:
    padding = " " * (1024 * 1024 - len(signing.hubspot_events(1)))
    exactly = signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(1) + padding.encode())
    over = signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(2) + padding.encode() + b" ")

    assert gateway.post(exactly).status_code == 200
    assert gateway.post(over).status_code == 413


def test_health_answers_ok_with_the_routes(gateway: Gateway) -> None:
    answer = gateway.session.get(gateway.url + "/", timeout=5)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    assert "/webhooks/hubspot" in answer.json()["routes"]


def test_given_ledger_unreachable_then_health_is_503(start_gateway, ledger) -> None:
    class Down(Ledger):
        def get_cursor(self, tool: str, stream: str) -> str | None:
            raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    gateway = start_gateway(ledger=Down(ledger.database))
    assert gateway.session.get(gateway.url + "/", timeout=5).status_code == 503


def test_given_vendor_secret_not_configured_then_503_and_nothing_stored(gateway: Gateway, monkeypatch) -> None:
    monkeypatch.delenv("ZENDESK_WEBHOOK_SECRET")
    answer = gateway.post(signing.zendesk(ZENDESK_SECRET, signing.zendesk_event()))
    assert answer.status_code == 503 and gateway.rows() == []


def test_given_a_secret_kept_in_the_ledger_then_a_delivery_it_signs_is_stored_and_an_unsigned_one_refused(
        gateway: Gateway) -> None:
    gateway.ledger.keep_webhook_secret("zendesk", "second-account", "zendesk-kept-signing-secret",
                                       datetime.now(UTC))

    kept = gateway.post(signing.zendesk("zendesk-kept-signing-secret", signing.zendesk_event("kept")))
    configured = gateway.post(signing.zendesk(ZENDESK_SECRET, signing.zendesk_event("configured")))
    forged = gateway.post(signing.zendesk("not-the-signing-secret", signing.zendesk_event("forged")))

    assert (kept.status_code, configured.status_code, forged.status_code) == (200, 200, 401)
    assert len(gateway.rows("zendesk")) == 2


def test_given_unknown_tool_then_404(gateway: Gateway) -> None:
    assert gateway.session.post(gateway.url + "/webhooks/slack", data=b"{}", timeout=5).status_code == 404


# --- secrets never logged ------------------------------------------------------------------
def test_given_a_run_of_every_kind_of_delivery_then_no_log_line_holds_a_secret_or_signature(
        gateway: Gateway, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    expect_webhook_handshake(gateway.ledger, "asana", "board", datetime.now(UTC))
    gateway.session.post(f"{gateway.url}/webhooks/asana/board", headers={"X-Hook-Secret": ASANA_SECRET})
    gateway.session.post(f"{gateway.url}/webhooks/asana/other", headers={"X-Hook-Secret": ASANA_SECRET})
    posts = [p for case in CASES for p in (case.valid(gateway), case.valid(gateway), case.forged(gateway),
                                           case.malformed(gateway))]
    posts += [signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(9), age=STALE),
              signing.zendesk(ZENDESK_SECRET, signing.zendesk_event("late"), age=STALE)]
    for post in posts:
        gateway.post(post)
    gateway.announcer.wait_idle(5)

    # Lines from the test's own HTTP client libraries (they print the URLs the test calls) are
    # not the gateway's; everything else -- kickoff, uvicorn, starlette, asyncio -- is checked.
    lines = [r.getMessage() for r in caplog.records if not r.name.startswith(("urllib3", "httpx", "httpcore"))]
    assert any("refused with 401" in line for line in lines) and any("stored" in line for line in lines)
    secrets = [HUBSPOT_SECRET, ZENDESK_SECRET, DEALBUILDER_KEY, MOVIDESK_TOKEN, ASANA_SECRET, EVENTS_TOKEN,
               os.environ["SALESFORCE_ORG_ID"]]
    signatures = [v for p in posts for k, v in p.headers.items()
                  if k.lower() in ("x-hubspot-signature-v3", "x-zendesk-webhook-signature", "x-hook-signature",
                                   "authorization")]
    leaked = [(s[:6] + "...", line) for line in lines for s in secrets + signatures if s in line]
    assert leaked == []
    assert any("/webhooks/movidesk " in line for line in lines)  # the access line, without ?token=


# --- the gateway stays light ----------------------------------------------------------------
def test_importing_the_gateway_loads_no_prefect_no_tool_connector_and_no_vendor_client() -> None:
    """The connector factory and the shared limiter are loaded; a tool's connector (and its
    vendor client) only when that tool's first webhook arrives."""
    code = ("import sys, gateway, gateway.server, cli.gateway_cmd; "
            "from kickoff.tools import tool_names; "
            "heavy = {'prefect', 'hubspot', 'simple_salesforce', 'zenpy', 'asana', 'slack_sdk'}; "
            "tools = {f'connectors.{t}' for t in tool_names()}; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in tools))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []


def test_cli_serves_on_a_free_port_prints_its_url_and_stops_on_sigint(tmp_path: Path, gateway_env) -> None:
    env = {**os.environ, "KICKOFF_HOME": str(tmp_path / "home"), "KICKOFF_CONFIG_DIR": str(REPO_ROOT / "config")}
    process = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "gateway",
                                "--port", "0", "--log-level", "warning"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = process.stdout.readline()
        assert line.startswith("Kickoff gateway on http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[3]
        assert requests.get(url + "/", timeout=5).json()["status"] == "ok"
        post = signing.canonical(EVENTS_TOKEN, signing.signup_event())
        assert requests.post(url + post.path, data=post.body, headers=post.headers, timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        process.stdout.close()
        process.stderr.close()
    assert (tmp_path / "home" / "ledger.sqlite3").exists()
