"""Every onboarding is a Prefect event resource, so the Event Feed filtered by it is the
customer's history: ``prefect.resource.id`` = ``kickoff.onboarding.<tenant>.<id>``,
``prefect.resource.name`` = the customer's name.

The steps call one function each when they finish a piece of work, with what the ledger
already told them: a delivery decided or ignored, a timer fired (and what it decided),
each action pushed (done, retryable, dead, paused). One event per thing that happened (the
timers a decision set are in its payload, not events of their own), and a step's events go
in one request: the Prefect server's work per event, not Kickoff's, is what a busy tick
waits for (``python -m bench.bench_tick --events``). Best effort and quiet: without a Prefect API,
or when Prefect does not answer, nothing is sent and the step goes on (the ledger, which
``kickoff onboarding show`` reads, is the record; these events are its view in the UI).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from flows.prefect_events import Send, api_configured, send_batch
from kickoff.ledger import Decided, Firing
from kickoff.ledger.audit import rule_of
from kickoff.ledger.records import InboxItem
from kickoff.model import Action, ActionResult, Decision, Event, Onboarding, ResultStatus, Timer

if TYPE_CHECKING:
    from flows.runtime import Runtime

log = logging.getLogger("kickoff.flows.onboarding_events")

PREFIX = "kickoff.onboarding"
DECIDED = f"{PREFIX}.decided"
IGNORED = f"{PREFIX}.ignored"
TIMER_FIRED = f"{PREFIX}.timer.fired"
TIMER_FAILED = f"{PREFIX}.timer.failed"  # kept as failed: ``kickoff ledger retry-timers`` fires it again
ACTION = f"{PREFIX}.action"  # + .done / .retryable / .dead / .paused


def resource_id(tenant: str, onboarding_id: str) -> str:
    return f"{PREFIX}.{tenant}.{onboarding_id}"


def resource(state: Onboarding, **labels: str | None) -> dict[str, str]:
    """The onboarding as a Prefect resource, with ``labels`` (rule, tool, ...) to filter on."""
    found = {
        "prefect.resource.id": resource_id(state.tenant, state.id),
        "prefect.resource.name": state.account_name or state.id,
        "kickoff.tenant": state.tenant,
        "kickoff.onboarding": state.id,
        "kickoff.stage": state.stage,
    }
    return found | {f"kickoff.{key}": str(value) for key, value in labels.items() if value}


def _zone(rt: Runtime, tenant: str) -> ZoneInfo | None:
    try:
        return rt.tenant(tenant).zone
    except Exception:  # noqa: BLE001 - a tenant no longer configured: UTC only
        return None


def _when(moment: datetime, zone: ZoneInfo | None) -> dict[str, str]:
    local = {"local": moment.astimezone(zone).isoformat(), "zone": str(zone)} if zone else {}
    return {"utc": moment.isoformat(), **local}


def _decision(rt: Runtime, decision: Decision, now: datetime) -> dict[str, Any]:
    """What a decision did: stage, rules, audit, actions, and the timers it set (with when
    they fire, in UTC and in the tenant's zone) or cancelled."""
    state = decision.state
    zone = _zone(rt, state.tenant)
    return {
        "at": now.isoformat(), "stage": state.stage, "status": state.status.value,
        "rules": _rules(decision), "audit": decision.audit,
        "actions": [{"rule": a.rule, "tool": a.tool, "kind": a.kind.value, "key": a.idempotency_key}
                    for a in decision.actions],
        "timers_set": [{"timer": t.key, "rule": t.rule, "fire_at": _when(t.fire_at, zone)} for t in decision.set_timers],
        "timers_cancelled": decision.cancel_timers,
    }


def _rules(decision: Decision) -> list[str]:
    return sorted({r for r in (rule_of(line) for line in decision.audit) if r}
                  | {a.rule for a in decision.actions} | {t.rule for t in decision.set_timers})


def _timer(timer: Timer, zone: ZoneInfo | None, now: datetime) -> dict[str, Any]:
    return {"rule": timer.rule, "timer": timer.key, "at": now.isoformat(), "fire_at": _when(timer.fire_at, zone)}


def delivery(rt: Runtime, item: InboxItem, events: Sequence[Event], decided: Sequence[Decided],
             ignored_because: str, now: datetime) -> int:
    """A delivery committed: each decision (and its timers), or, when nothing was decided,
    the onboarding its events named told that it was ignored and why."""
    if not api_configured():
        return 0
    try:
        source = {"inbox_id": item.id, "tool": item.delivery.tool}
        found = []
        for one in decided:
            kind = next((e.type.value for e in events if e.id == one.event_id), None)
            state = one.decision.state
            found.append((DECIDED, resource(state, rule=",".join(_rules(one.decision)), event=kind),
                          {**source, "event": kind, "event_id": one.event_id, **_decision(rt, one.decision, now)}))
        if not decided and events:
            state = rt.ledger.load_state(events[-1].subject)
            if state is not None:
                kind = events[-1].type.value
                found.append((IGNORED, resource(state, event=kind, tool=item.delivery.tool),
                              {**source, "event": kind, "reason": ignored_because, "at": now.isoformat()}))
        return send_batch(found)
    except Exception as exc:  # noqa: BLE001 - never the step's failure
        log.debug("onboarding events not built (%s)", type(exc).__name__)
        return 0


def timers_fired(rt: Runtime, fired: Iterable[Firing], now: datetime,
                 send: Send = send_batch) -> int:
    """A claim's due timers fired: one ``timer.fired`` event each, with what it decided (if
    anything) under ``decision``, or ``timer.failed`` with why it could not be decided; all
    of the claim's in one request (``send``: a tick helper keeps them for its tick to send)."""
    if not api_configured():
        return 0
    try:
        fired = list(fired)
        undecided = {f.timer.onboarding_id for f in fired if f.decision is None}
        states: dict[str, Onboarding] = rt.ledger.load_states(undecided) if undecided else {}
        found: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        for one in fired:
            decision = one.decision
            state = decision.state if decision is not None else states.get(one.timer.onboarding_id)
            if state is None:
                continue
            t = one.timer.timer
            payload = {**_timer(t, _zone(rt, state.tenant), now), "decided": decision is not None}
            if decision is not None:
                payload["decision"] = _decision(rt, decision, now)
            if one.failure is not None:  # whose and why, as a dead letter's event says it
                payload.update(reason=one.failure, tenant=state.tenant, onboarding=state.id,
                               customer=state.account_name or "")
            found.append((TIMER_FIRED if one.failure is None else TIMER_FAILED,
                          resource(state, rule=t.rule, timer=t.key), payload))
        return send(found)
    except Exception as exc:  # noqa: BLE001 - never the step's failure
        log.debug("onboarding events not built (%s)", type(exc).__name__)
        return 0


class PushedRow(Protocol):
    """A row a push recorded (``flows.steps.push.PushedRow``)."""

    outbox_id: int
    action: Action
    result: ActionResult
    new_status: str


def result_name(row: PushedRow) -> str:
    """done, retryable (tried again later), dead (a dead letter) or paused (credentials refused)."""
    if row.new_status == "dead":
        return "dead"
    if row.result.status is ResultStatus.DONE:
        return "done"
    return "paused" if row.result.status is ResultStatus.AUTH else "retryable"


def pushed(rt: Runtime, tool: str, rows: Sequence[PushedRow], now: datetime) -> int:
    """Each action pushed, on its onboarding: ``kickoff.onboarding.action.<result>`` with rule,
    tool, kind, the tool's id and the reason."""
    if not rows or not api_configured():
        return 0
    try:
        states = rt.ledger.load_states({row.action.onboarding_id for row in rows})
        found = []
        for row in rows:
            action = row.action
            state = states.get(action.onboarding_id)
            if state is None:
                continue
            outcome = result_name(row)
            payload = {"rule": action.rule, "tool": tool, "kind": action.kind.value, "result": outcome,
                       "vendor_result": row.result.status.value, "status": row.new_status,
                       "external_id": row.result.external_id, "reason": row.result.reason,
                       "outbox_id": row.outbox_id, "key": action.idempotency_key, "at": now.isoformat()}
            found.append((f"{ACTION}.{outcome}",
                          resource(state, rule=action.rule, tool=tool, kind=action.kind.value, result=outcome),
                          payload))
        return send_batch(found)
    except Exception as exc:  # noqa: BLE001 - never the step's failure
        log.debug("onboarding events not built (%s)", type(exc).__name__)
        return 0
