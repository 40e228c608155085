"""Which tenant a delivery belongs to, when several tenants share one account of a tool.

The tables' ``route`` decide first (``mappings.base.tenant_for``: a portal, a pipeline the
payload names). A webhook that names neither (a HubSpot property change carries only the
record's id) still belongs to a tenant when Kickoff knows the record: the crosswalk links it
to an onboarding (or to one of its cycles: ``<onboarding>#<n>``, or to the action that
created it), and the onboarding names its tenant.
"""

from __future__ import annotations

from flows.runtime import Runtime
from kickoff.contracts.mapping import MappingError
from kickoff.model import Delivery, split_cycle_id
from mappings.base import tenant_for


def tenant_of(rt: Runtime, delivery: Delivery) -> str:
    try:
        return tenant_for(delivery.tool, delivery, rt.config.tenants, rt.tables)
    except MappingError:
        owner = known_owner(rt, delivery)
        if owner is None:
            raise
        return owner


def known_owner(rt: Runtime, delivery: Delivery) -> str | None:
    """The tenant of the onboarding the delivery's record is linked to, if it is."""
    if not delivery.record_id:
        return None
    canonical = rt.ledger.canonical_for(delivery.tool, delivery.record_id)
    if canonical is None:
        return None
    state = rt.ledger.load_state(split_cycle_id(canonical)[0])
    if state is None:
        row = rt.ledger.outbox_row_by_key(canonical)
        state = rt.ledger.load_state(str(row["onboarding_id"])) if row else None
    return state.tenant if state is not None else None
