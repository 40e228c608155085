"""process_item: a delivery that maps to two events is decided in turn and committed once.

The events come from the payload (a stand-in for a tool's mapping that finds two facts in
one change); the ledger, the playbook (core-implementation) and the decisions are real.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ledger_backends import LedgerBackend

from flows.runtime import Runtime
from flows.steps.process import ProcessReport, process_inbox, process_item
from kickoff.contracts.mapping import MappingContext
from kickoff.ledger import Ledger
from kickoff.model import Decision, Delivery, Event
from kickoff.playbooks import load_playbook
from kickoff.settings import load_config
from mappings.base import ToolMapping, mapping_for

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2024, 8, 5, 18, 0, tzinfo=UTC)
PAID = {"account_name": "Loja Exemplo", "plan": "basic", "phone": "+55 11 0000-0000",
        "phone_type": "mobile"}
BOOKED = {"meeting_id": "core-1", "start": "2024-08-07T14:00:00-03:00", "booked_by": "gr",
          "channel": "video", "phone_type": "landline"}


def event(n: int, kind: str, subject: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"mv-{n}", "type": kind, "occurred_at": NOW.isoformat(), "subject": subject,
            "tenant": "core", "data": data, "source": {"tool": "movidesk", "record_id": f"t-{n}"}}


class EventsInPayload(type(mapping_for("movidesk"))):  # type: ignore[misc]
    """Movidesk's mapping, except that the events are written out in the delivery."""

    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        return [Event.model_validate(e) for e in delivery.payload["events"]]

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        return []


class PayloadRuntime(Runtime):
    def mapping(self, tool: str) -> ToolMapping:
        return EventsInPayload()


class RacedLedger(Ledger):
    """Another worker commits onboarding ``raced`` just before this one commits a delivery."""

    raced: str | None = None

    def commit_delivery(self, *args: Any, **kwargs: Any) -> Any:
        if self.raced is not None:
            current = self.load_state(self.raced)
            self.commit_decision(Decision(state=current, audit=["M6: elsewhere"]), now=NOW)
            self.raced = None
        return super().commit_delivery(*args, **kwargs)


@pytest.fixture
def ledger(ledger_backend: LedgerBackend) -> Any:
    opened = RacedLedger.open(ledger_backend.url, schema=ledger_backend.schema)
    yield opened
    opened.close()


@pytest.fixture
def rt(ledger: RacedLedger) -> Runtime:
    return PayloadRuntime.build(load_config(REPO / "config"), ledger=ledger)


def run(
    rt: Runtime, n: int, *events: dict[str, Any], now: datetime = NOW
) -> tuple[int, ProcessReport]:
    inbox_id, _ = rt.ledger.store_delivery(Delivery(
        tool="movidesk", dedup_key=f"d-{n}", kind="poll", received_at=NOW,
        payload={"events": list(events)}))
    report = ProcessReport()
    for item in rt.ledger.claim_inbox("w", limit=10, now=now, lease_seconds=60):
        process_item(rt, item, now, report)
    return inbox_id, report


def test_a_delivery_with_two_events_yields_both_decisions(rt: Runtime) -> None:
    inbox_id, report = run(rt, 1, event(1, "payment.confirmed", "loja", PAID),
                           event(2, "meeting.booked", "loja", BOOKED))

    assert (report.processed, report.deferred, report.failed) == (1, 0, 0)
    audit = rt.ledger.audit_for("loja")
    assert {line["event_id"] for line in audit} == {"mv-1", "mv-2"}  # booked was decided too
    assert rt.ledger.load_state("loja").version == 2
    assert rt.ledger.inbox_row(inbox_id)["status"] == "done"
    assert rt.ledger.canonical_for("movidesk", "t-1") == "loja"


def test_when_the_second_decision_cannot_commit_nothing_of_the_first_is_kept(
    rt: Runtime, ledger: RacedLedger
) -> None:
    run(rt, 1, event(1, "payment.confirmed", "other", PAID))
    ledger.raced = "other"  # changes between this delivery's decisions and its commit

    inbox_id, report = run(rt, 2, event(2, "payment.confirmed", "loja", PAID),
                           event(3, "meeting.booked", "other", BOOKED))

    assert report.deferred == 1 and report.processed == 0
    assert rt.ledger.load_state("loja") is None
    assert rt.ledger.audit_for("loja") == []
    assert rt.ledger.outbox_rows(["loja"]) == []
    assert rt.ledger.canonical_for("movidesk", "t-2") is None
    assert rt.ledger.inbox_row(inbox_id)["status"] == "claimed"  # tried again after its lease

    _, again = run(rt, 2, now=NOW + timedelta(seconds=61))
    assert again.processed == 1
    assert rt.ledger.load_state("loja") is not None
    assert rt.ledger.inbox_row(inbox_id)["status"] == "done"


def broken_core_playbook(folder: Path) -> Path:
    """Core's playbook with a line that cannot be carried out when the phone is known (text
    plus a number): a playbook edit's mistake that only shows when it runs."""
    text = (REPO / "config" / "playbooks" / "core-implementation.yaml").read_text(encoding="utf-8")
    assert "landline: data.phone_type == 'landline'" in text
    broken = folder / "core-implementation.yaml"
    broken.write_text(text.replace("landline: data.phone_type == 'landline'", "landline: data.phone_type + 1"),
                      encoding="utf-8")
    return broken


def test_a_delivery_whose_decision_cannot_be_made_fails_alone_and_the_rest_are_decided(
    rt: Runtime, tmp_path: Path
) -> None:
    rt._playbooks["core-implementation"] = load_playbook(broken_core_playbook(tmp_path))
    no_phone_type = {k: v for k, v in PAID.items() if k != "phone_type"}
    failing, decided = (
        rt.ledger.store_delivery(Delivery(tool="movidesk", dedup_key=f"d-{n}", kind="poll", received_at=NOW,
                                          payload={"events": [event(n, "payment.confirmed", subject, data)]}))[0]
        for n, subject, data in ((1, "loja", PAID), (2, "outra", no_phone_type)))  # PAID names its phone type

    report = process_inbox(rt, NOW)

    assert (report.processed, report.failed, report.deferred) == (1, 1, 0)
    row = rt.ledger.inbox_row(failing)
    assert row["status"] == "failed" and row["error"].startswith("TypeError: ")
    assert rt.ledger.load_state("loja") is None
    assert rt.ledger.inbox_row(decided)["status"] == "done"
    assert rt.ledger.load_state("outra") is not None

    del rt._playbooks["core-implementation"]  # the playbook fixed: the project's own again
    assert rt.ledger.retry_failed_inbox() == [failing]
    again = process_inbox(rt, NOW)
    assert (again.processed, again.failed) == (1, 0)
    assert rt.ledger.inbox_row(failing)["status"] == "done" and rt.ledger.load_state("loja") is not None


def test_a_delivery_whose_decision_postgresql_refuses_fails_alone_with_the_databases_reason(
    pg_backend: LedgerBackend
) -> None:
    ledger = pg_backend.open()
    try:
        rt = PayloadRuntime.build(load_config(REPO / "config"), ledger=ledger)
        too_long = "loja-" + "x" * 300  # an onboarding id is at most 255 characters
        refused, decided = (
            ledger.store_delivery(Delivery(tool="movidesk", dedup_key=f"d-{n}", kind="poll", received_at=NOW,
                                           payload={"events": [event(n, "payment.confirmed", subject, PAID)]}))[0]
            for n, subject in ((1, too_long), (2, "outra")))

        report = process_inbox(rt, NOW)

        assert (report.processed, report.failed, report.deferred) == (1, 1, 0)
        row = ledger.inbox_row(refused)
        assert row["status"] == "failed"
        assert row["error"] == "StringDataRightTruncation: value too long for type character varying(255)"
        assert ledger.inbox_row(decided)["status"] == "done"
    finally:
        ledger.close()
