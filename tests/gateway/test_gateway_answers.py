"""The gateway's answer to valid, forged, stale, replayed and malformed deliveries of each
vendor, built with the vendor's own formula (``signing``); the sandbox-driven deliveries are
in ``test_gateway_sandbox``. Every refusal leaves the inbox as it was."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from gateway import expect_webhook_handshake, forget_webhook_secret
from tests.gateway import signing
from tests.gateway.cases import (
    ASANA_SECRET,
    CASES,
    DEALBUILDER_KEY,
    HUBSPOT_SECRET,
    IDS,
    STALE,
    ZENDESK_SECRET,
    Case,
    salesforce_org,
)
from tests.gateway.conftest import EVENTS_TOKEN, Gateway


@pytest.fixture
def asana_ready(gateway: Gateway) -> Gateway:
    """Asana's handshake done on /webhooks/asana/board, as when our create_webhook call runs."""
    expect_webhook_handshake(gateway.ledger, "asana", "board", datetime.now(UTC))
    answer = gateway.session.post(f"{gateway.url}/webhooks/asana/board", headers={"X-Hook-Secret": ASANA_SECRET})
    assert answer.status_code == 200 and answer.headers["X-Hook-Secret"] == ASANA_SECRET
    return gateway


@pytest.fixture
def ready(gateway: Gateway, request: pytest.FixtureRequest) -> Gateway:
    if request.node.callspec.params.get("case") is CASES[IDS.index("asana")]:
        request.getfixturevalue("asana_ready")
    return gateway


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_valid_delivery_then_2xx_after_storing_and_prefect_told(ready: Gateway, case: Case) -> None:
    answer = ready.post(case.valid(ready))

    assert answer.status_code == 200
    rows = ready.rows(case.tool)
    assert len(rows) == case.stored_per_valid
    assert {r["status"] for r in rows} == {"pending"} and {r["kind"] for r in rows} == {"webhook"}
    assert ready.announced_ids() == [r["id"] for r in rows]
    assert ready.notes.calls[0][0] == case.tool
    if case.tool == "salesforce":  # Outbound Messages are retried until this exact Ack
        assert answer.headers["content-type"].startswith("text/xml")
        assert "<Ack>true</Ack>" in answer.text and "notificationsResponse" in answer.text
    else:
        assert answer.json() == {"stored": case.stored_per_valid, "new": case.stored_per_valid}


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_forged_signature_then_401_and_nothing_stored(ready: Gateway, case: Case) -> None:
    answer = ready.post(case.forged(ready))

    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]
    assert ready.rows() == [] and ready.announced_ids() == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_missing_signature_then_401_and_nothing_stored(ready: Gateway, case: Case) -> None:
    post = case.valid(ready)
    auth = {"x-hubspot-signature-v3", "x-zendesk-webhook-signature", "x-hook-signature", "authorization"}
    post.headers = {k: v for k, v in post.headers.items() if k.lower() not in auth}
    if case.tool == "movidesk":
        post.path = "/webhooks/movidesk"
    if case.tool == "dealbuilder":
        post.body = json.dumps({k: v for k, v in json.loads(post.body).items() if k != "webhookKey"}).encode()
    if case.tool == "salesforce":
        post.body = post.body.replace(salesforce_org(ready).encode(), b"")

    answer = ready.post(post)

    assert answer.status_code == 401, answer.text
    assert ready.rows() == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_redelivery_then_2xx_each_time_and_stored_once(ready: Gateway, case: Case) -> None:
    first, again = ready.post(case.valid(ready)), ready.post(case.valid(ready))

    assert first.status_code == again.status_code == 200
    assert len(ready.rows(case.tool)) == case.stored_per_valid
    if case.tool != "salesforce":
        assert again.json() == {"stored": case.stored_per_valid, "new": 0}
    assert len(ready.announced_ids()) == case.stored_per_valid  # only new rows are announced


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_authentic_but_malformed_body_then_400_with_reason_and_kept_as_failed(
        ready: Gateway, case: Case) -> None:
    answer = ready.post(case.malformed(ready))
    again = ready.post(case.malformed(ready))

    assert answer.status_code == again.status_code == 400
    reason = answer.json()["error"]
    assert reason and answer.json()["kept_as_inbox_id"] == again.json()["kept_as_inbox_id"]
    [row] = ready.rows()  # kept once, for inspection; never handed to processing
    assert row["tool"] == case.tool and row["status"] == "failed" and row["error"] == reason
    assert row["payload"]["invalid"] is True and row["payload"]["reason"] == reason
    assert ready.announced_ids() == []
    assert DEALBUILDER_KEY not in json.dumps(row["payload"])  # a key in the body is not kept


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_given_bad_delivery_first_then_the_next_good_one_is_still_stored(ready: Gateway, case: Case) -> None:
    assert ready.post(case.malformed(ready)).status_code == 400
    assert ready.post(case.forged(ready)).status_code == 401

    assert ready.post(case.valid(ready)).status_code == 200
    assert len([r for r in ready.rows(case.tool) if r["status"] == "pending"]) == case.stored_per_valid


@pytest.mark.parametrize("tool", ["hubspot", "zendesk"])
def test_given_signature_timestamp_older_than_five_minutes_then_401_and_nothing_stored(
        gateway: Gateway, tool: str) -> None:
    if tool == "hubspot":
        post = signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(1), age=STALE)
    else:
        post = signing.zendesk(ZENDESK_SECRET, signing.zendesk_event(), age=STALE)

    answer = gateway.post(post)

    assert answer.status_code == 401 and "stale" in answer.json()["error"]
    assert gateway.rows() == []


def test_given_hubspot_signature_within_five_minutes_then_accepted(gateway: Gateway) -> None:
    post = signing.hubspot(gateway.url, HUBSPOT_SECRET, signing.hubspot_events(1), age=timedelta(minutes=4))
    assert gateway.post(post).status_code == 200


def test_given_public_url_then_hubspot_signature_checked_over_it_not_the_local_url(start_gateway) -> None:
    gateway = start_gateway(public_url="https://hooks.example.com")
    body = signing.hubspot_events(5)
    local = signing.hubspot(gateway.url, HUBSPOT_SECRET, body)
    public = signing.hubspot(gateway.url, HUBSPOT_SECRET, body,
                             signed_url="https://hooks.example.com/webhooks/hubspot")

    assert gateway.post(local).status_code == 401
    assert gateway.post(public).status_code == 200
    assert len(gateway.rows("hubspot")) == 1


def test_given_query_string_then_hubspot_signature_covers_it(gateway: Gateway) -> None:
    body = signing.hubspot_events(6)
    post = signing.hubspot(gateway.url, HUBSPOT_SECRET, body,
                           signed_url=f"{gateway.url}/webhooks/hubspot?tenant=assist:se")
    post.path = "/webhooks/hubspot?tenant=assist%3Ase"  # HubSpot decodes %3A before signing
    assert gateway.post(post).status_code == 200


def test_given_asana_delivery_before_any_handshake_then_401(gateway: Gateway) -> None:
    answer = gateway.post(signing.asana(ASANA_SECRET, signing.asana_events()))
    assert answer.status_code == 401 and "handshake" in answer.json()["error"]
    assert gateway.rows() == []


def test_given_unexpected_asana_handshake_then_403_and_no_secret_planted(gateway: Gateway) -> None:
    answer = gateway.session.post(f"{gateway.url}/webhooks/asana/board", headers={"X-Hook-Secret": "planted"})

    assert answer.status_code == 403 and "X-Hook-Secret" not in answer.headers
    assert gateway.post(signing.asana("planted", signing.asana_events())).status_code == 401


def test_given_asana_handshake_then_its_secret_signs_only_that_path(asana_ready: Gateway) -> None:
    post = signing.asana(ASANA_SECRET, signing.asana_events(), name="other-board")
    assert asana_ready.post(post).status_code == 401
    assert asana_ready.post(signing.asana(ASANA_SECRET, signing.asana_events())).status_code == 200


def test_given_second_handshake_without_expecting_it_then_refused_and_old_secret_kept(asana_ready: Gateway) -> None:
    again = asana_ready.session.post(f"{asana_ready.url}/webhooks/asana/board", headers={"X-Hook-Secret": "new"})
    assert again.status_code == 403
    assert asana_ready.post(signing.asana(ASANA_SECRET, signing.asana_events())).status_code == 200


def test_given_asana_webhook_deleted_and_its_secret_forgotten_then_its_deliveries_refused(
        asana_ready: Gateway) -> None:
    forget_webhook_secret(asana_ready.ledger, "asana", "board", datetime.now(UTC))
    answer = asana_ready.post(signing.asana(ASANA_SECRET, signing.asana_events()))
    assert answer.status_code == 401 and asana_ready.rows() == []


def test_given_a_webhook_name_that_is_no_path_segment_we_make_then_404(gateway: Gateway) -> None:
    expect_webhook_handshake(gateway.ledger, "asana", "a.b", datetime.now(UTC))
    answer = gateway.session.post(f"{gateway.url}/webhooks/asana/a.b", headers={"X-Hook-Secret": "x"})
    assert answer.status_code == 404 and "X-Hook-Secret" not in answer.headers


def test_given_asana_heartbeat_with_no_events_then_200_and_nothing_stored(asana_ready: Gateway) -> None:
    answer = asana_ready.post(signing.asana(ASANA_SECRET, b'{"events": []}'))
    assert answer.status_code == 200 and asana_ready.rows() == []


def test_given_canonical_events_list_then_each_stored_once_by_event_id(gateway: Gateway) -> None:
    events = [signing.signup_event("signup-1"), signing.signup_event("signup-2")]
    assert gateway.post(signing.canonical(EVENTS_TOKEN, events)).status_code == 200
    assert gateway.post(signing.canonical(EVENTS_TOKEN, signing.signup_event("signup-1"))).status_code == 200

    rows = gateway.rows("kickoff")
    assert [r["dedup_key"] for r in rows] == ["kickoff:event:signup-1", "kickoff:event:signup-2"]
    assert rows[0]["record_id"] == "acct-example-salon" and rows[0]["payload"]["type"] == "account.created"


def test_given_events_token_not_configured_then_503_and_nothing_stored(gateway: Gateway, monkeypatch) -> None:
    monkeypatch.delenv("KICKOFF_EVENTS_TOKEN")
    answer = gateway.post(signing.canonical(EVENTS_TOKEN, signing.signup_event()))
    assert answer.status_code == 503 and gateway.rows() == []
