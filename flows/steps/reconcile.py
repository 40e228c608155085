"""reconcile: find what the tools and the ledger disagree on, and repair it.

Missed webhooks are found by re-reading every tool (``ingest.poll``; the inbox drops what it
already has). Stage drift — a record whose stage a person changed by hand to one that means
nothing to the playbook, or a write lost on the vendor's side — is found by reading the
records Kickoff last moved and comparing their stage with the one Kickoff last wrote; where
the onboarding's state still says that stage, the stage is written again, as a set_stage
action under the rule that first chose it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from flows.runtime import Runtime
from kickoff.contracts.mapping import MappingError
from kickoff.model import Action, ActionKind, Decision, Onboarding, idempotency_key

log = logging.getLogger("kickoff.flows.reconcile")


@dataclass
class DriftReport:
    checked: dict[str, int] = field(default_factory=dict)
    repaired: list[tuple[str, str, str, str]] = field(default_factory=list)  # tool, onboarding, was, now
    unsupported: list[str] = field(default_factory=list)


def _last_written_stages(rt: Runtime, tool: str) -> dict[str, dict]:
    """Per onboarding, the last set_stage Kickoff carried out in ``tool`` (its row)."""
    last: dict[str, dict] = {}
    for row in rt.ledger.outbox_rows():
        main_record = not (row.get("payload") or {}).get("record")  # not a meeting's outcome
        if row["tool"] == tool and row["kind"] == ActionKind.SET_STAGE.value and row["status"] == "done" and main_record:
            last[row["onboarding_id"]] = row
    return last


def _repair_action(tool: str, state: Onboarding, row: dict, now: datetime, record: dict | None = None) -> Action:
    """The stage written again; keyed on the record as read, so the same drift seen by two
    reconcile runs is repaired once."""
    seen = json.dumps(record or {}, sort_keys=True, default=str)
    return Action(kind=ActionKind.SET_STAGE, tool=tool, onboarding_id=state.id, payload={"stage": state.stage},
                  rule=row["rule"], due_at=now,
                  idempotency_key=idempotency_key(state.id, "reconcile", tool, state.stage, seen))


def repair_stage_drift(rt: Runtime, now: datetime, tools: list[str]) -> DriftReport:
    report = DriftReport()
    for tool in tools:
        mapping = rt.mapping(tool)
        candidates: dict[str, tuple[Onboarding, dict, str]] = {}  # record id -> (state, last row, tenant)
        for onboarding_id, row in _last_written_stages(rt, tool).items():
            state = rt.ledger.load_state(onboarding_id)
            if state is None or state.stage != row["payload"]["stage"]:
                continue  # the playbook has moved on: a newer set_stage is pending or not needed
            try:  # where the stage lives, found the way a push would find it
                vendor = mapping.to_vendor(_repair_action(tool, state, row, now), rt.mapping_context(tool, state.tenant, now))
            except MappingError:
                continue
            record_id = getattr(vendor.payload, "record_id", None)
            if record_id:
                candidates[str(record_id)] = (state, row, state.tenant)
        if not candidates:
            continue
        try:
            current: dict = {}
            for account in {rt.config.account_of(tool, tenant) for _, _, tenant in candidates.values()}:
                ids = [rid for rid, (_, _, tenant) in candidates.items() if rt.config.account_of(tool, tenant) == account]
                current.update(rt.connector(tool, account).read_records("ticket", ids))  # each in its own account
        except NotImplementedError:
            report.unsupported.append(tool)
            continue
        report.checked[tool] = len(candidates)
        for record_id, (state, row, tenant) in candidates.items():
            record = current.get(record_id)
            seen = mapping.stage_of(record, rt.mapping_context(tool, tenant, now)) if record else None
            if seen is None or seen == state.stage:
                continue
            repair = _repair_action(tool, state, row, now, record)
            rt.ledger.commit_decision(
                Decision(state=state, actions=[repair],
                         audit=[(f"{row['rule']}: reconcile found {tool} {record_id} in {seen}, "
                                 f"not {state.stage}; stage written again")]),
                now=now)
            report.repaired.append((tool, state.id, seen, state.stage))
            log.info("reconcile: %s %s drifted to %s; %s written again", tool, record_id, seen, state.stage)
    return report
