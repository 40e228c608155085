"""The bugs the soak found, each pinned by a small test (the soak's seed in the docstring)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.hubspot import HubSpotConnector
from connectors.zendesk import ZendeskConnector
from kickoff.contracts.vendor import VendorAction
from kickoff.ledger import Ledger
from kickoff.model import Action, ActionKind, ResultStatus
from kickoff.retry import FAST_POLICY
from sandbox.control import SandboxControl

DUE = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _zendesk(kickoff_config: Any) -> ZendeskConnector:
    config = kickoff_config.tools["zendesk"]
    fast = config.model_copy(update={"options": {"job_poll_seconds": 0.0}})
    return ZendeskConnector(fast, retry=FAST_POLICY)


def _vendor(kind: ActionKind, tool: str, rule: str, key: str, payload: dict[str, Any]) -> VendorAction:
    """An action in ``tool``'s terms, as a mapping would hand it to the connector."""
    action = Action(kind=kind, tool=tool, onboarding_id=f"onb-{key}", rule=rule, due_at=DUE,
                    idempotency_key=key)
    return VendorAction.of(action, payload)


def test_given_a_dropped_zendesk_create_when_retried_then_the_ticket_keeps_its_first_comment(
        sandbox: SandboxControl, kickoff_config: Any) -> None:
    """Seed 58: the retry after an unknown outcome re-sent a zenpy Comment already sent once,
    which zenpy serialises empty: 422 "Description: cannot be blank", a dead letter."""
    sandbox.add_fault(vendor="zendesk", method="POST", kind="drop", times=1)
    action = _vendor(ActionKind.CREATE_RECORD, "zendesk", "W2", "zd-create-dropped-0001",
                     {"subject": "Churn risk", "body": "first comment",
                      "requester": {"name": "A", "email": "a@example.com"}})
    [result] = _zendesk(kickoff_config).apply([action], DUE)
    assert result.status is ResultStatus.DONE, result.reason
    [ticket] = [t for t in sandbox.get("zendesk", "records/tickets") if t.get("external_id") == action.idempotency_key]
    assert ticket["id"] == int(result.external_id)


def test_given_a_note_already_on_the_ticket_when_applied_again_then_zendesk_gets_no_second_one(
        sandbox: SandboxControl, kickoff_config: Any) -> None:
    """Seed 13: a push worker killed after update_many, before recording it; the next worker
    added the internal note again (Zendesk keeps no key on a comment)."""
    sandbox.seed({"zendesk": {"tickets": [{"subject": "NPS", "description": "Welcome"}]}})
    ticket_id = sandbox.get("zendesk", "records/tickets")[-1]["id"]
    note = _vendor(ActionKind.ADD_NOTE, "zendesk", "W4", "zd-note-again-0001",
                   {"record_id": str(ticket_id), "body": "NPS 5/10"})
    zendesk = _zendesk(kickoff_config)
    assert [r.status for r in zendesk.apply([note], DUE)] == [ResultStatus.DONE]
    assert [r.status for r in zendesk.apply_again([note], DUE)] == [ResultStatus.DONE]
    comments = sandbox.get("zendesk", "records/comments")
    thread = comments[str(ticket_id)] if str(ticket_id) in comments else comments[ticket_id]
    assert [c["body"] for c in thread].count("NPS 5/10") == 1


def test_given_a_task_already_created_when_applied_again_then_hubspot_finds_it_by_its_key(
        sandbox: SandboxControl, kickoff_config: Any) -> None:
    """Seed 4: a push worker killed after HubSpot's batch create, before recording it; the
    next worker created the tasks again (the key was looked up only after a lost answer)."""
    sandbox.seed({"hubspot": {"objects": {"tickets": [{"properties": {"subject": "SE x", "hs_pipeline": "0",
                                                                      "hs_pipeline_stage": "1"}}]}}})
    ticket_id = sandbox.get("hubspot", "records/tickets")[-1]["id"]
    task = _vendor(ActionKind.CREATE_TASK, "hubspot", "A7", "hs-task-again-0001",
                   {"record_id": str(ticket_id), "subject": "Call", "task_type": "CALL"})
    hubspot = HubSpotConnector(kickoff_config.tools["hubspot"], retry=FAST_POLICY)
    [first] = hubspot.apply([task], DUE)
    [again] = hubspot.apply_again([task], DUE)
    assert first.status is again.status is ResultStatus.DONE, (first.reason, again.reason)
    assert again.external_id == first.external_id
    keys = [t["properties"].get("kickoff_key") for t in sandbox.get("hubspot", "records/tasks")]
    assert keys.count(task.idempotency_key) == 1


def test_rows_of_a_dead_push_worker_are_handed_over_and_marked_reclaimed(tmp_path) -> None:
    """Seed 13: rows claimed by a SIGKILLed worker stayed claimed to the end: the sweep asked
    ``due_outbox_tools``, which saw only pending rows, and the clock never jumped to the lease."""
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    try:
        from kickoff.model import Decision, Onboarding

        action = Action(kind=ActionKind.NOTIFY, tool="slack", onboarding_id="t:1", rule="W1", due_at=DUE,
                        idempotency_key="slack-reclaim-0001", payload={"channel": "C1", "text": "hi"})
        state = Onboarding(id="t:1", tenant="retention", playbook="retention", stage="new", version=0)
        ledger.commit_decision(Decision(state=state, actions=[action]), now=DUE)
        [claimed] = ledger.claim_outbox("slack", "worker-that-dies", now=DUE, lease_seconds=60)
        assert not claimed.reclaimed
        assert ledger.due_outbox_tools(DUE + timedelta(seconds=30)) == []
        assert ledger.next_due(after=DUE) == DUE + timedelta(seconds=60)
        later = DUE + timedelta(seconds=61)
        assert ledger.due_outbox_tools(later) == ["slack"]
        [again] = ledger.claim_outbox("slack", "next-worker", now=later)
        assert again.id == claimed.id and again.reclaimed
    finally:
        ledger.close()
