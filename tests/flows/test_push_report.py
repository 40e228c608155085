"""What a push run lists one by one (its table artifact and log) is bounded by MAX_LINES, and
the rows not done come first: over a backlog of thousands of actions, the dead letters and
retries are what ops read, and a done row never pushes one of them out of the list."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.steps import push
from flows.steps.push import PushedRow, PushReport
from kickoff.model import Action, ActionKind, ActionResult, ResultStatus

NOW = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
OUTCOMES = {"done": ResultStatus.DONE, "dead": ResultStatus.PERMANENT, "pending": ResultStatus.RETRYABLE}


def _row(n: int, new_status: str) -> PushedRow:
    action = Action(kind=ActionKind.ADD_NOTE, tool="hubspot", onboarding_id=f"ob-{n}", rule="E5", due_at=NOW,
                    idempotency_key=f"push-report-key-{n}", payload={"body": "note"})
    return PushedRow(n, action, ActionResult(idempotency_key=action.idempotency_key, status=OUTCOMES[new_status]),
                     new_status)


@pytest.mark.parametrize(("limit", "listed"), [(9, [1, 2, 3, 4, 5]), (3, [1, 3, 4]), (2, [3, 4]), (1, [3])])
def test_a_push_report_lists_the_rows_not_done_first_then_done_ones_up_to_max_lines_in_pushed_order(
        monkeypatch: pytest.MonkeyPatch, limit: int, listed: list[int]) -> None:
    monkeypatch.setattr(push, "MAX_LINES", limit)
    report = PushReport("hubspot", [_row(1, "done"), _row(2, "done"), _row(3, "dead"), _row(4, "pending"),
                                    _row(5, "done")])

    assert [row.outbox_id for row in report.listed()] == listed
    assert [line["onboarding"] for line in report.table()] == [f"ob-{n}" for n in listed]
    assert report.summary() == "push-hubspot: 3 done, 1 retryable, 1 permanent"  # every row counted
