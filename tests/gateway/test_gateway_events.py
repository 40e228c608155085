"""``POST /webhooks/events`` reads the one event format (``kickoff schema events``): each event
is validated for its type before anything is stored; a refused one is answered 422 naming
the event and the field, and kept as a failed inbox row for inspection."""

from __future__ import annotations

from typing import Any

import pytest

from kickoff.event_input import EXAMPLES
from tests.gateway import signing
from tests.gateway.conftest import EVENTS_TOKEN, Gateway


def post(gateway: Gateway, body: Any):
    return gateway.post(signing.canonical(EVENTS_TOKEN, body))


def signup(**data: Any) -> dict[str, Any]:
    event = signing.signup_event()
    return {**event, "data": {**event["data"], **data}}


def refused(gateway: Gateway, body: Any, reason: str) -> dict[str, Any]:
    """Posted, answered 422 with ``reason``, kept once as a failed row; returns the row."""
    answer = post(gateway, body)
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert reason in error
    [row] = gateway.rows()
    assert row["status"] == "failed" and row["error"] == error
    assert answer.json()["kept_as_inbox_id"] == row["id"] and row["payload"]["invalid"] is True
    assert gateway.announced_ids() == []  # never handed to processing
    return row


def test_E1_given_a_signup_without_email_then_422_naming_the_field_and_kept_as_failed(gateway: Gateway) -> None:
    event = signup()
    del event["data"]["email"]
    row = refused(gateway, event, "event 0: data.email: missing")
    assert row["payload"]["body"]["data"] == event["data"]  # the body, for inspection


def test_given_a_misspelt_data_key_then_422_with_the_keys_the_type_has(gateway: Gateway) -> None:
    event = {"type": "contract.signed", "occurred_at": "2026-03-02T10:00:00+01:00", "subject": "acct-1",
             "tenant": "assist", "data": {"account_name": "Example AB", "signed_on": "2026-03-02",
                                          "startOn": "2026-03-09"}}
    refused(gateway, event, "data.startOn: unknown key; contract.signed data has: account_name, signed_on, start_on")


def test_given_one_bad_event_in_a_list_then_none_is_stored(gateway: Gateway) -> None:
    good, bad = signup(), signup(email="not an address")
    bad["id"] = "signup-2"
    refused(gateway, [good, bad], "event 1: data.email: String should match pattern")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tenant": "nowhere"}, "tenant: not a configured tenant; one of network, "),
        ({"tenant": None, "occurred_at": "2026-03-02T09:00"}, "occurred_at: a time with an offset"),
        ({"type": "timer.fired"}, "type: timer.fired is Kickoff's own event"),
        ({"at": "2026-03-02T09:00:00+00:00"}, "at: unknown key; an event has: id, type, occurred_at"),
    ],
)
def test_given_an_event_outside_the_format_then_422(gateway: Gateway, change: dict[str, Any], reason: str) -> None:
    refused(gateway, {**signup(), **change}, reason)


def test_given_a_local_time_then_it_is_read_in_the_named_tenants_zone(gateway: Gateway) -> None:
    event = {**signup(), "occurred_at": "2026-04-02T09:00"}
    assert post(gateway, event).status_code == 200
    [row] = gateway.rows("kickoff")
    assert row["payload"]["occurred_at"] == "2026-04-02T09:00:00+02:00"  # the network tenant: Europe/Paris


def test_given_an_event_without_id_then_its_id_comes_from_its_content_and_a_repost_is_one_event(
        gateway: Gateway) -> None:
    event = signup()
    del event["id"]
    assert post(gateway, event).status_code == post(gateway, event).status_code == 200
    assert post(gateway, {**event, "subject": "acct-other"}).status_code == 200
    keys = [r["dedup_key"] for r in gateway.rows("kickoff")]
    assert len(keys) == 2 and all(k.startswith("kickoff:event:evt-") for k in keys)


def test_every_example_of_the_printed_schema_is_accepted(gateway: Gateway) -> None:
    answer = post(gateway, [{**example, "tenant": "network"} for example in EXAMPLES])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"stored": len(EXAMPLES), "new": len(EXAMPLES)}
