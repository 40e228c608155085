"""``kickoff adopt --tenant T [--apply]``: the onboardings already running in a tenant's tools
that the ledger does not know, planned and entered.

For each of the tenant's tools whose mapping can read a running record (``running_query``),
the connector reads the records in the playbook's open stages; a record the crosswalk
already links is known and skipped; each other one is read by the mapping as an onboarding
(``adopt``: its stage and its history) and planned by the engine (``kickoff.playbooks.adopt``):
past steps taken as done, timers from now on. When the tenant's playbook starts on a fact no
tool of the tenant holds (the network's sign-ups come from its own platform), nothing is
adopted and every running record is listed with that reason. ``apply`` enters each plan in
one transaction; one the ledger holds already is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flows.runtime import Runtime
from kickoff.contracts.errors import VendorError
from kickoff.contracts.mapping import MappingError
from kickoff.playbooks import Playbook
from kickoff.playbooks.adopt import DEFAULT_HORIZON, Adoption, Running, Unplaced, adopt


@dataclass
class TenantPlan:
    """What ``kickoff adopt`` found for one tenant."""

    tenant: str
    playbook: Playbook
    adoptions: list[Adoption] = field(default_factory=list)
    unplaced: list[Unplaced] = field(default_factory=list)
    known: int = 0
    """Running records the ledger knows already (nothing to do)."""
    cannot: str | None = None
    """Why this tenant's onboardings cannot be adopted at all."""
    failures: list[str] = field(default_factory=list)
    """Tools whose running records could not be read, with the reason."""


def _why_not(rt: Runtime, tenant: str, playbook: Playbook) -> str | None:
    tools = [t for t in rt.tenant(tenant).tools if t in rt.config.tools]
    starts = set(playbook.start.on)
    if any(starts & rt.mapping(tool).adopt_starts for tool in tools):
        return None
    return (f"{playbook.name} starts on {', '.join(sorted(starts))}, which none of {tenant}'s tools "
            f"({', '.join(tools)}) holds: it comes from outside them (POST /webhooks/events), so the "
            "facts its rules need cannot be read back; send those facts again to start these onboardings")


def plan_adoptions(rt: Runtime, tenant: str, now: datetime, *,
                   horizon: timedelta = DEFAULT_HORIZON) -> TenantPlan:
    config = rt.tenant(tenant)
    playbook = rt.playbook(config.playbook)
    plan = TenantPlan(tenant, playbook, cannot=_why_not(rt, tenant, playbook))
    open_stages = [name for name, stage in playbook.stages.items() if not stage.terminal]
    for tool in (t for t in config.tools if t in rt.config.tools):
        mapping = rt.mapping(tool)
        ctx = rt.mapping_context(tool, tenant, now)
        try:
            query = mapping.running_query(ctx, open_stages) if tool in rt.tables and tenant in rt.tables[tool] else None
            connector = rt.connector(tool, rt.config.account_of(tool, tenant))
            records = connector.read_running(query, now) if query else []
        except (VendorError, MappingError) as exc:
            plan.failures.append(f"{tool}: cannot read its running records: {getattr(exc, 'reason', exc)}")
            continue
        for record in records:
            _place(rt, plan, mapping.adopt(record, ctx), now, horizon)
    return plan


def _place(rt: Runtime, plan: TenantPlan, read: Running | Unplaced, now: datetime, horizon: timedelta) -> None:
    if isinstance(read, Unplaced):
        plan.unplaced.append(read)
        return
    if rt.ledger.canonical_for(read.tool, read.record_id) is not None or rt.ledger.load_state(read.subject):
        plan.known += 1
        return
    if plan.cannot:
        plan.unplaced.append(Unplaced(read.tool, read.record_id, read.label, plan.cannot))
        return
    first = next((a.running for a in plan.adoptions if a.running.subject == read.subject), None)
    if first is not None:  # one onboarding per account: the first record opened it
        plan.unplaced.append(Unplaced(read.tool, read.record_id, read.label,
                                      f"{read.subject} is adopted from {first.label} already"))
        return
    tenant = rt.tenant(plan.tenant)
    placed = adopt(plan.playbook, read, now, tz=tenant.zone, calendar=tenant.calendar,
                   recent_days=tenant.recent_days, horizon=horizon)
    (plan.unplaced if isinstance(placed, Unplaced) else plan.adoptions).append(placed)  # type: ignore[arg-type]


def audit_lines(adoption: Adoption) -> list[str]:
    running = adoption.running
    first = (f"adopted from {running.label} in stage {running.stage}: {len(adoption.done)} step(s) of the past "
             f"taken as done (not sent), {len(adoption.timers)} timer(s) from now on")
    return [first, *adoption.notes]


def apply_adoptions(rt: Runtime, plan: TenantPlan, now: datetime) -> list[tuple[Adoption, bool]]:
    """Each adoption in its own transaction; (adoption, entered) with entered False when the
    ledger already held that onboarding."""
    entered = []
    for adoption in plan.adoptions:
        links = [(x.canonical_id, x.tool, x.external_id, x.object_kind) for x in adoption.links]
        entered.append((adoption, rt.ledger.adopt(adoption.state, adoption.done_actions, adoption.timers,
                                                  links, audit_lines(adoption), now)))
    return entered
