"""push-<tool>: the tool's due outbox rows, mapped to the tool's terms, written in the
connector's batches, each result recorded (done, retry later, dead letter, tool paused).

A row is claimed by one worker only (the ledger's claim); the connector makes the write
idempotent in the tool; the ledger records what was written so its echo is recognised. Each
answer is recorded under the row's claim: a push that outlived its lease gets "stale" and the
row is left to the worker that took it over (which looks the write up before sending it).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from connectors.base import Connector
from flows import onboarding_events
from flows.runtime import Runtime
from flows.steps import MAX_LINES, budget
from kickoff.contracts.mapping import MappingError
from kickoff.contracts.vendor import VendorAction
from kickoff.failures import at_fault, failure_reason
from kickoff.ledger.records import OutboxItem
from kickoff.model import Action, ActionResult, Onboarding, ResultStatus
from kickoff.settings import SHARED_ACCOUNT

log = logging.getLogger("kickoff.flows.push")
NOT_READY_RETRY_SECONDS = 30.0


@dataclass
class PushedRow:
    outbox_id: int
    action: Action
    result: ActionResult
    new_status: str


@dataclass
class PushReport:
    tool: str
    rows: list[PushedRow] = field(default_factory=list)

    @property
    def by_status(self) -> Counter[str]:
        return Counter(row.result.status.value for row in self.rows)

    def not_done(self) -> list[PushedRow]:
        """The rows that did not end done: retried later, dead, or paused."""
        return [row for row in self.rows if row.new_status != "done"]

    def listed(self) -> list[PushedRow]:
        """The rows the run's table and log show one by one (``MAX_LINES``), in the order
        pushed: every row not done first, then as many done ones as fit (the summary counts
        them all)."""
        not_done = self.not_done()[:MAX_LINES]
        done = [row for row in self.rows if row.new_status == "done"][:MAX_LINES - len(not_done)]
        shown = {id(row) for row in (*not_done, *done)}
        return [row for row in self.rows if id(row) in shown]

    def table(self) -> list[dict[str, str]]:
        """One line per listed action: what the Prefect artifact shows."""
        return [
            {"tool": self.tool, "kind": row.action.kind.value, "rule": row.action.rule,
             "onboarding": row.action.onboarding_id, "result": row.result.status.value,
             "external_id": row.result.external_id or "", "reason": (row.result.reason or "")[:200],
             "status": row.new_status}
            for row in self.listed()
        ]

    def summary(self) -> str:
        counts = self.by_status
        if not self.rows:
            return f"push-{self.tool}: nothing due"
        parts = [f"{counts[s]} {s}" for s in ("done", "retryable", "permanent", "auth") if counts[s]]
        return f"push-{self.tool}: " + ", ".join(parts)


def _tenant_key(rt: Runtime, action: Action, state: Onboarding | None) -> str:
    """The tenant whose tables map ``action`` (``Runtime.tenant_of_action``); none is permanent."""
    key = rt.tenant_of_action(action, state)
    if key is None:
        raise MappingError(f"no onboarding {action.onboarding_id} in the ledger to name its tenant, and "
                           f"{action.tool} is not one tenant's alone", field="onboarding_id", retry=False)
    return key


def _not_mapped(action: Action, exc: MappingError) -> ActionResult:
    status = ResultStatus.RETRYABLE if exc.retry else ResultStatus.PERMANENT
    return ActionResult(idempotency_key=action.idempotency_key, status=status,
                        reason=f"mapping: {exc.field}: {exc.reason}",
                        retry_after=NOT_READY_RETRY_SECONDS if exc.retry else None,
                        waits_for=exc.waits_for if exc.retry else None)


def _unmappable(action: Action, exc: Exception) -> ActionResult:
    """A row the mapping fails on unexpectedly: a dead letter with the reason (``kickoff ledger
    replay`` sends it again once the mapping is fixed), so the rows behind it still go."""
    reason = f"mapping failed: {failure_reason(exc)}"
    log.warning("%s action %s: %s", action.tool, action.idempotency_key[:12], reason)
    return ActionResult(idempotency_key=action.idempotency_key, status=ResultStatus.PERMANENT, reason=reason)


def _unanswered(tool: str, ready: list[tuple[OutboxItem, VendorAction]], exc: Exception) -> list[ActionResult]:
    """The connector raised instead of answering (a bug, an answer it could not read): each
    row's write may or may not have happened, so it is retried with backoff through
    ``apply_again`` (the tool is asked before writing) and dies after the last attempt,
    instead of holding the whole round until its lease runs out, again and again."""
    reason = f"connector failed, outcome unknown: {failure_reason(exc)}"
    log.warning("push-%s: no answer for %d actions: %s", tool, len(ready), reason)
    return [ActionResult(idempotency_key=item.action.idempotency_key, status=ResultStatus.RETRYABLE, reason=reason)
            for item, _ in ready]


def _after_done(rt: Runtime, tool: str, vendor: VendorAction, result: ActionResult, now: datetime) -> None:
    """Remember the fingerprints of what was written, so its echo is recognised. (The record
    a creation made is linked by the ledger's ``record_result``, under the action's key: a
    tool's record belongs to one canonical id, and mappings find the onboarding from the key.)"""
    for record_id, fingerprint in rt.mapping(tool).write_fingerprints(vendor, result.external_id):
        rt.ledger.journal_write(tool, record_id, fingerprint, now=now)


def _apply(tool: str, connector: Connector, ready: list[tuple[OutboxItem, VendorAction]],
           now: datetime) -> list[ActionResult]:
    """One result per row, in order. A row taken over from a dead worker, or tried before
    without a known outcome, may already be in the tool: it goes through ``apply_again``."""
    again = [i for i, (item, _) in enumerate(ready) if item.reclaimed or item.attempts > 0]
    fresh = [i for i in range(len(ready)) if i not in set(again)]
    results: list[ActionResult | None] = [None] * len(ready)
    for indexes, apply in ((fresh, connector.apply), (again, connector.apply_again)):
        if indexes:
            for i, result in zip(indexes, _answers(tool, apply, [ready[i] for i in indexes], now), strict=True):
                results[i] = result
    return results  # type: ignore[return-value]


def _answers(tool: str, apply: Callable[[list[VendorAction], datetime], list[ActionResult]],
             rows: list[tuple[OutboxItem, VendorAction]], now: datetime) -> list[ActionResult]:
    """What one call of the connector answered for ``rows``; if it raised instead (or answered
    for other rows than it was given), those rows' outcomes are unknown (``_unanswered``), and
    only those: what other calls of the round answered is recorded as answered."""
    try:
        results = apply([vendor for _, vendor in rows], now)
        if len(results) != len(rows):
            raise ValueError(f"{len(results)} results for {len(rows)} actions")
        return results
    except SQLAlchemyError:
        raise  # the ledger, not the tool: the round is tried again after its lease
    except Exception as exc:  # noqa: BLE001 - the connector broke off: each row's outcome is unknown
        return _unanswered(tool, rows, exc)


def _apply_per_account(rt: Runtime, tool: str, shared: Connector, ready: list[tuple[OutboxItem, VendorAction]],
                       now: datetime, accounts: dict[int, str]) -> list[ActionResult]:
    """``_apply`` with each row's tenant's connector (``accounts``: by outbox id): its own
    account's, or the shared one."""
    groups: dict[str, list[int]] = {}
    for index, (item, _) in enumerate(ready):
        groups.setdefault(accounts[item.id], []).append(index)
    if list(groups) in ([], [SHARED_ACCOUNT]):
        return _apply(tool, shared, ready, now)
    results: list[ActionResult | None] = [None] * len(ready)
    for account, indexes in groups.items():
        answered = _apply(tool, rt.connector(tool, account), [ready[i] for i in indexes], now)
        for i, result in zip(indexes, answered, strict=True):
            results[i] = result
    return results  # type: ignore[return-value]


def push(rt: Runtime, tool: str, now: datetime, *, worker: str = "push", limit: int | None = None) -> PushReport:
    """Push what is due for ``tool`` in rounds of ``connector.round_size`` rows; near the end
    of a daily allowance only urgent rows go (``flows.steps.budget``); each row's result told
    on its onboarding (``flows.onboarding_events``)."""
    report = _push(rt, tool, now, worker=worker, limit=limit)
    onboarding_events.pushed(rt, tool, report.rows, now)
    return report


def _recorded(rt: Runtime, item: OutboxItem, result: ActionResult, now: datetime) -> PushedRow:
    """The result recorded under the row's claim; when the ledger ended a not-ready row dead
    (its parent's creation is dead), the row says the ledger's reason, so the run's log, table
    and events agree with ``kickoff ledger dead``."""
    new_status = rt.ledger.record_result(item.id, result, now=now, claim=item)
    if new_status == "dead" and result.status is ResultStatus.RETRYABLE:
        recorded = (rt.ledger.outbox_row(item.id) or {}).get("last_error")
        result = result.model_copy(update={"reason": recorded or result.reason})
    return PushedRow(item.id, item.action, result, new_status)


def _push(rt: Runtime, tool: str, now: datetime, *, worker: str, limit: int | None) -> PushReport:
    report = PushReport(tool)
    connector = rt.connector(tool)
    mapping = rt.mapping(tool)
    round_size = limit or connector.round_size
    while True:
        items: list[OutboxItem] = rt.ledger.claim_outbox(tool, worker, limit=round_size, now=now)
        if not items:
            return report
        states = rt.ledger.load_states({item.action.onboarding_id for item in items})  # one read per round
        ready: list[tuple[OutboxItem, VendorAction]] = []
        accounts: dict[int, str] = {}
        for item in items:
            try:
                tenant = _tenant_key(rt, item.action, states.get(item.action.onboarding_id))
                ready.append((item, mapping.to_vendor(item.action, rt.mapping_context(tool, tenant, now))))
                accounts[item.id] = rt.config.account_of(tool, tenant)
            except MappingError as exc:
                report.rows.append(_recorded(rt, item, _not_mapped(item.action, exc), now))
            except Exception as exc:  # one row that cannot be mapped, never the round (or re-raised)
                if not at_fault(exc):
                    raise  # the ledger or the network: the round is tried again after its lease
                report.rows.append(_recorded(rt, item, _unmappable(item.action, exc), now))
        ready = budget.split(rt, tool, ready, accounts, worker, now)  # a daily allowance's end
        results = _apply_per_account(rt, tool, connector, ready, now, accounts)
        budget.remember(rt, tool, [rt.connector(tool, a) for a in sorted(set(accounts.values()))], now)
        for (item, vendor), result in zip(ready, results, strict=True):
            if result.status is ResultStatus.DONE:
                _after_done(rt, tool, vendor, result, now)
            row = _recorded(rt, item, result, now)
            report.rows.append(row)
            if result.status is ResultStatus.AUTH:
                log.warning("push-%s: authentication refused; pushes to %s paused until resumed", tool, tool)
        if len(items) < round_size or any(r.result.status is ResultStatus.AUTH for r in report.rows):
            return report


def replay_dead_letters(rt: Runtime, now: datetime, ids: list[int] | None = None, tool: str | None = None) -> list[int]:
    """Send dead letters again (all of a tool's, or the ids given)."""
    chosen = ids if ids is not None else [d.id for d in rt.ledger.dead_letters(tool)]
    return rt.ledger.replay_dead(chosen, now=now) if chosen else []
