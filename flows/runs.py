"""What ops read of a flow run in the Prefect UI: its name from the moment it starts, its log
lines (what Kickoff did, per customer), its table artifact, and the dead-letter events'
payloads. The steps report; this module words it, so the steps stay free of Prefect."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from flows.runtime import Runtime
from flows.steps.process import ProcessReport
from flows.steps.push import PushedRow, PushReport
from kickoff.model import Onboarding


def start_name(step: str, tool_parameter: bool = False) -> Callable[[], str]:
    """A ``flow_run_name`` callable: ``push-hubspot @ 12:03:05`` when the run starts (the
    run's ``now`` parameter, the demo's virtual time, when given), so no run ever shows a
    random name; the flow may rename it with its outcome when it ends."""

    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters or {}
        label = f"{step}-{params.get('tool')}" if tool_parameter else step
        at = params.get("now") or datetime.now(UTC).isoformat()
        try:
            stamp = datetime.fromisoformat(str(at)).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            stamp = str(at)[:19]
        return f"{label} @ {stamp}"

    return name


def log_push(rt: Runtime, report: PushReport, log: logging.Logger | logging.LoggerAdapter) -> None:
    """One line for what the run did, then one per row not done: onboarding, customer, rule,
    kind, what happens next and the tool's reason: a dead letter at ERROR, a paused tool at
    WARNING, a retry (often a record another action is still creating) at INFO."""
    log.info("%s (%d rows handled)", report.summary(), len(report.rows))
    rows = [row for row in report.listed() if row.new_status != "done"]  # listed first, all of them that fit
    unlisted = len(report.not_done()) - len(rows)
    if unlisted:
        log.info("%d more rows not done, not listed one by one (`kickoff ledger dead`, `kickoff ledger status`)",
                 unlisted)
    states = rt.ledger.load_states({row.action.onboarding_id for row in rows}) if rows else {}
    for row in rows:
        level = {"dead": logging.ERROR, "pending": logging.INFO}.get(row.new_status, logging.WARNING)
        log.log(level, "%s %s for onboarding %s (customer %s), rule %s: %s, now %s; reason: %s",
                report.tool, row.action.kind.value, row.action.onboarding_id,
                _name(states.get(row.action.onboarding_id)) or "?", row.action.rule,
                row.result.status.value, row.new_status, row.result.reason or "-")


def dead_letter_payload(rt: Runtime, row: PushedRow, state: Onboarding | None) -> dict[str, Any]:
    """What a ``kickoff.action.dead`` event carries: enough to act on without a look-up
    (``state``: the action's onboarding, for its tenant and customer)."""
    return {"tenant": rt.tenant_of_action(row.action, state) or "", "onboarding": row.action.onboarding_id,
            "customer": _name(state), "rule": row.action.rule,
            "tool": row.action.tool, "kind": row.action.kind.value, "reason": row.result.reason or "",
            "outbox_id": row.outbox_id, "key": row.action.idempotency_key}


FIRST_FEW = 5
"""Items a Failed state's message names one by one; the rest are counted."""


def _first_few(count: int, parts: list[str]) -> str:
    """The first ``FIRST_FEW`` of ``parts``, and how many more of ``count`` in all are not named."""
    named = parts[:FIRST_FEW]
    more = f"; and {count - len(named)} more" if count > len(named) else ""
    return "; ".join(named) + more


def dead_message(rows: list[PushedRow]) -> str:
    """The Failed state's message: the count, then each dead letter in a few words."""
    parts = [f"{r.action.kind.value} {r.action.onboarding_id} ({r.action.rule}): {(r.result.reason or '')[:80]}"
             for r in rows[:FIRST_FEW]]
    plural = "s" if len(rows) != 1 else ""
    return f"{len(rows)} dead letter{plural}: " + _first_few(len(rows), parts)


def dead_letters_payload(rt: Runtime, tool: str, dead: list[PushedRow],
                         states: Mapping[str, Onboarding]) -> dict[str, Any]:
    """What a push run's ``kickoff.push.dead_letters`` event carries (one per run, however many
    letters died: a mapping or connector bug kills every action of its kind, and one
    notification per letter would be hundreds): the tool, the count, the first few (which
    action, whose, which rule, why), how many more, and the run's Failed message. ``states``:
    the letters' onboardings (for tenant and customer)."""
    first = dead[:FIRST_FEW]
    named = [_dead_letter_line(rt, row, states.get(row.action.onboarding_id)) for row in first]
    return {"tool": tool, "count": len(dead), "first": named, "more": len(dead) - len(named),
            "message": dead_message(dead)}


def _dead_letter_line(rt: Runtime, row: PushedRow, state: Onboarding | None) -> str:
    """One dead letter in a few words: which action, for which customer (tenant, onboarding), rule, why."""
    action = row.action
    who = _name(state) or action.onboarding_id
    return (f"{action.kind.value} for {who} ({rt.tenant_of_action(action, state) or '?'}, onboarding "
            f"{action.onboarding_id}), rule {action.rule}: {(row.result.reason or '')[:120]}")


def _first_failures(failures: list[str]) -> list[str]:
    """The failed timers a message names (which, whose, why: ``ProcessReport.failures``), each cut short."""
    return [failure[:160] for failure in failures[:FIRST_FEW]]


def failed_timers_message(count: int, failures: list[str]) -> str:
    """A tick's Failed state message: how many timers failed, the first few, and what brings
    them back."""
    plural = "s" if count != 1 else ""
    return (f"{count} timer{plural} failed, kept until `kickoff ledger retry-timers`: "
            + _first_few(count, _first_failures(failures)))


def failed_timers_payload(count: int, failures: list[str]) -> dict[str, Any]:
    """What a tick run's ``kickoff.tick.timers_failed`` event carries (one per run, however
    many timers failed: a playbook line that cannot be carried out fails every onboarding that
    reaches it, and one notification per timer would be hundreds): the count, the first few
    (which, whose, why) and the run's Failed message."""
    return {"count": count, "first": _first_failures(failures), "message": failed_timers_message(count, failures)}


def decision_table(rt: Runtime, report: ProcessReport) -> list[dict[str, str]]:
    """The process-inbox or tick run's table: each item with its customer filled in."""
    unnamed = {line["onboarding"] for line in report.lines if not line["customer"] and line["onboarding"]}
    states = rt.ledger.load_states(unnamed) if unnamed else {}  # one read for the run's table
    return [{**line, "customer": line["customer"] or _name(states.get(line["onboarding"]))} for line in report.lines]


def _name(state: Onboarding | None) -> str:
    """The customer's name as the onboarding's state holds it ("" when not known)."""
    return (state.account_name or "") if state else ""


def log_decisions(rows: list[dict[str, str]], log: logging.Logger | logging.LoggerAdapter) -> None:
    """One log line per item handled: what came in, for whom, what was decided or why not."""
    for row in rows:
        who = f"onboarding {row['onboarding'] or '?'} (customer {row['customer'] or '?'})"
        if row["ignored"]:
            log.info("%s for %s: ignored: %s", row["what"], who, row["ignored"])
        else:
            log.info("%s for %s: decided by %s; actions: %s", row["what"], who, row["rules"] or "-",
                     row["actions"] or "none")
