"""Small builders for the canonical objects the ledger tests store (one place to change them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kickoff.model import Action, ActionKind, Decision, Delivery, Onboarding, Timer, idempotency_key

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def delivery(
    n: int | str = 1, tool: str = "hubspot", kind: str = "webhook", **extra: Any
) -> Delivery:
    return Delivery(
        tool=tool,
        dedup_key=f"evt-{n}",
        kind=kind,
        received_at=extra.pop("received_at", T0),
        payload=extra.pop("payload", {"objectId": n, "propertyName": "dealstage"}),
        record_id=extra.pop("record_id", f"deal-{n}"),
        **extra,
    )


def state(
    onboarding_id: str = "ob-1", stage: str = "signed", version: int = 0, **extra: Any
) -> Onboarding:
    return Onboarding(
        id=onboarding_id, tenant="acme", playbook="standard", stage=stage, version=version, **extra
    )


def action(
    n: int | str = 1,
    tool: str = "hubspot",
    onboarding_id: str = "ob-1",
    kind: ActionKind = ActionKind.SET_STAGE,
    due_at: datetime = T0,
    payload: dict[str, Any] | None = None,
    rule: str = "E1",
) -> Action:
    return Action(
        kind=kind,
        tool=tool,
        onboarding_id=onboarding_id,
        payload=payload if payload is not None else {"stage": f"stage-{n}"},
        idempotency_key=idempotency_key(onboarding_id, rule, n),
        rule=rule,
        due_at=due_at,
    )


def timer(
    key: str = "nudge", onboarding_id: str = "ob-1", fire_at: datetime | None = None, **data: Any
) -> Timer:
    return Timer(
        key=key,
        onboarding_id=onboarding_id,
        fire_at=fire_at or T0 + timedelta(days=3),
        rule="T1",
        data=data,
    )


def decision(
    st: Onboarding | None = None,
    actions: list[Action] | None = None,
    set_timers: list[Timer] | None = None,
    cancel_timers: list[str] | None = None,
    audit: list[str] | None = None,
) -> Decision:
    return Decision(
        state=st or state(),
        actions=actions or [],
        set_timers=set_timers or [],
        cancel_timers=cancel_timers or [],
        audit=audit if audit is not None else ["E1: contract signed, onboarding starts"],
    )
