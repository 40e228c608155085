"""The base every tool's mapping builds on (the contract is ``kickoff.contracts.mapping``).

A mapping turns one stored ``Delivery`` into canonical ``Event``s and one canonical
``Action`` into a ``VendorAction`` (its payload in the connector's terms, validated by the
tool's payload model), reading ids from the tenant's mapping table
(``config/mappings/<tool>.yaml``) and the ledger only through ``MappingContext.ledger``. It
does no I/O of its own, so every mapping is tested with plain dicts. Example::

    tables = load_tables(Path("config"))
    ctx = MappingContext(tenant_key="assist", tenant=config.tenant("assist"),
                         table=tables["hubspot"]["assist"], now=now, ledger=LedgerLookups(ledger))
    events = mapping_for("hubspot").to_events(delivery, ctx)
    vendor_action = mapping_for("hubspot").to_vendor(action, ctx)
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from kickoff.actions import PAYLOAD_MODELS, Payload
from kickoff.contracts.account import Account
from kickoff.contracts.mapping import MappingContext, MappingError
from kickoff.contracts.subscriptions import Wanted
from kickoff.contracts.vendor import PayloadRefused, VendorAction, VendorPayload
from kickoff.events import validate_event_data
from kickoff.model import Action, Delivery, Event, EventSource, split_cycle_id
from kickoff.paths import dig
from kickoff.playbooks.adopt import Running, Unplaced
from kickoff.settings import ConfigError, TenantConfig, load_yaml_model
from kickoff.tools import companion, plugin, tool_names
from mappings.common import change_fingerprint, stable_id
from mappings.discovery import Names, Problem, Proposal

__all__ = [
    "MappingContext", "MappingError", "TableModel", "ToolMapping", "change_fingerprint", "load_tables",
    "mapping_for", "tenant_for",
]

class TableModel(BaseModel):
    """Base of every tool's per-tenant table: unknown keys are typos, and refused.

    ``route``: payload path -> expected value (or values), used by ``tenant_for`` when several
    tenants hear from the same tool: a tenant whose route matches at any path is chosen.
    """

    model_config = ConfigDict(extra="forbid")

    route: dict[str, Any] = Field(default_factory=dict)


class ToolMapping(ABC):
    """One tool's mapping. Subclasses set ``tool`` and ``Table`` (their table's model)."""

    tool: ClassVar[str]
    Table: ClassVar[type[TableModel]] = TableModel

    # --- the four operations ---------------------------------------------------------
    @abstractmethod
    def to_events(self, delivery: Delivery, ctx: MappingContext) -> list[Event]:
        """Canonical events for one delivery; empty when it means nothing for onboarding."""

    @abstractmethod
    def to_vendor(self, action: Action, ctx: MappingContext) -> VendorAction:
        """The action with its payload in the connector's terms (see ``vendor``)."""

    def reads(self, tables: Mapping[str, dict[str, Any]]) -> dict[str, list[str]]:
        """What the connector must read for this mapping (object -> fields or ids), from every
        tenant's table of this tool. Default: nothing beyond the connector's own needs."""
        return {}

    # --- adopting onboardings already running (``kickoff adopt``) ------------------------
    adopt_starts: ClassVar[frozenset[str]] = frozenset()
    """The start events this mapping can read off a running record (none: it adopts nothing)."""

    def running_query(self, ctx: MappingContext, stages: Sequence[str]) -> dict[str, Any] | None:
        """What the connector reads to find the tenant's onboardings under way whose record is in
        one of the canonical ``stages`` (the playbook's open ones), in the tool's terms; None
        when this tool holds none."""
        return None

    def adopt(self, record: dict[str, Any], ctx: MappingContext) -> Running | Unplaced:
        """One running record (as ``Connector.read_running`` returns it) read as an onboarding:
        its stage, and its history as canonical facts dated from the record."""
        raise MappingError(f"{self.tool} records are not adopted", field="record")

    def wanted_webhooks(self, tables: Mapping[str, dict[str, Any]]) -> list[Wanted]:
        """What the tool must send Kickoff for this mapping to hear what it reads, in the tool's
        terms, from the given tenants' tables (``kickoff webhooks``). Default: nothing."""
        return []

    def write_fingerprints(self, vendor_action: VendorAction,
                           external_id: str | None = None) -> list[tuple[str, str]]:
        """(record id, fingerprint) of each field change a vendor action writes; a creation's
        record is known only after the push (``external_id``)."""
        return []

    def delivery_fingerprints(self, delivery: Delivery) -> list[tuple[str, str]]:
        """(record id, fingerprint) of each field change a delivery reports; empty when it
        cannot tell (then it is never taken for an echo)."""
        return []

    # --- going live: the ids of the tenant's account --------------------------------------
    @property
    def account_module(self) -> ModuleType | None:
        """The tool's ``mappings/<tool>_account.py``, whose ``propose`` and ``verify`` (same
        arguments as below) read the live account; None: the tool has nothing to match."""
        return companion("mappings", self.tool, "account")

    def propose(self, table: dict[str, Any], account: Account, names: Names, *,
                own_account: bool = False) -> Proposal:
        """The tenant's table with the ids ``account`` holds filled in, matched by the playbook's
        ``names`` (``kickoff discover``); ``own_account``: the tenant alone uses this account, so
        the account's id routes its webhooks. Default: nothing in the tool to match."""
        if self.account_module is None:
            return Proposal(copy.deepcopy(table))
        proposal: Proposal = self.account_module.propose(table, account, names, own_account=own_account)
        return proposal

    def verify(self, table: dict[str, Any], account: Account) -> list[Problem]:
        """Every id, field and value the table names that the live account does not have as
        the table says (``kickoff config check --live``). Default: nothing to check."""
        if self.account_module is None:
            return []
        problems: list[Problem] = self.account_module.verify(table, account)
        return problems

    # --- shared helpers ----------------------------------------------------------------
    def stage_of(self, record: dict[str, Any], ctx: MappingContext) -> str | None:
        """The canonical stage a record (as ``Connector.read_records`` returns it) is in; None
        when this tool keeps no stage Kickoff writes (reconcile then has nothing to compare)."""
        return None

    def table(self, ctx: MappingContext) -> Any:
        """This tenant's table, typed (``load_tables`` validated it already; tests pass dicts)."""
        try:
            return self.Table.model_validate(ctx.table)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise MappingError(f"mapping table {self.tool}/{ctx.tenant_key}: {err['msg']}", field=where) from None

    def payload(self, action: Action) -> Any:
        """The canonical payload, checked against its kind."""
        if action.tool != self.tool:
            raise MappingError(f"a {action.tool} action given to the {self.tool} mapping", field="tool")
        try:
            return PAYLOAD_MODELS[action.kind].model_validate(action.payload)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise MappingError(err["msg"], field="payload." + ".".join(str(p) for p in err["loc"])) from None

    def vendor(self, action: Action, payload: dict[str, Any] | VendorPayload) -> VendorAction:
        """``action`` with ``payload`` in this tool's terms (unset values dropped), validated by
        the tool's payload model: a payload that does not fit is a MappingError here, not a
        vendor's 400 later."""
        if isinstance(payload, dict):
            payload = {k: v for k, v in payload.items() if v is not None}
        try:
            return VendorAction.of(action, payload)
        except PayloadRefused as exc:
            raise MappingError(exc.reason, field=f"payload.{exc.field}") from None

    def event(self, delivery: Delivery, ctx: MappingContext, event_type: str, subject: str,
              data: dict[str, Any], *, occurred_at: datetime | None = None, record_id: str | None = None,
              n: int = 0) -> Event:
        """An event whose id is derived from the delivery, so re-processing gives the same id."""
        try:
            typed = validate_event_data(event_type, {k: v for k, v in data.items() if v is not None})
            clean = typed.model_dump(mode="json", exclude_unset=True)  # "5" -> 5, as the playbook expects
            return Event(
                id="evt-" + stable_id(delivery.tool, delivery.dedup_key, event_type, n),
                type=event_type, occurred_at=occurred_at or delivery.received_at, subject=subject,
                tenant=ctx.tenant_key, data=clean,
                source=EventSource(tool=delivery.tool, record_id=record_id or delivery.record_id,
                                   delivery_id=delivery.dedup_key))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "data"
            raise MappingError(f"{event_type}: {err['msg']}", field=field) from None

    def new_subject(self, ctx: MappingContext, record_id: str) -> str:
        """The id of an onboarding a starting fact opens, e.g. ``assist:<document id>``."""
        return f"{ctx.tenant_key}:{record_id}"

    def onboarding_of(self, ctx: MappingContext, record_id: str) -> str | None:
        """The onboarding a tool's record belongs to: the crosswalk's canonical id when it is
        an onboarding (or one of its cycles), or the onboarding of the action that created
        the record."""
        canonical = ctx.ledger.onboarding_for(self.tool, str(record_id))
        if canonical is None:
            return None
        for candidate in dict.fromkeys((canonical, split_cycle_id(canonical)[0])):
            if ctx.ledger.state_for(candidate) is not None:
                return candidate
        if ctx.ledger.onboarding_of_action is not None:
            return ctx.ledger.onboarding_of_action(canonical)
        return None

    def of_closed_cycle(self, ctx: MappingContext, record_id: str) -> bool:
        """Whether a tool's record belongs to a cycle of its onboarding that is over (the
        ticket a case since closed came in on, a case Kickoff opened for it): what happens to
        it now drives nothing of the cycle that runs. A record of no onboarding is not."""
        canonical = ctx.ledger.onboarding_for(self.tool, str(record_id))
        if canonical is None:
            return False
        onboarding, cycle = split_cycle_id(canonical)
        state = ctx.ledger.state_for(onboarding)
        if state is not None:  # linked to a cycle (the record a fact came from)
            return state.cycle != cycle
        owner = ctx.ledger.onboarding_of_action(canonical) if ctx.ledger.onboarding_of_action is not None else None
        state = ctx.ledger.state_for(owner) if owner else None  # created by one of Kickoff's actions
        return state is not None and not state.made_in_this_cycle(canonical)

    def record_id(self, action: Action, ctx: MappingContext, payload: Payload, *,
                  main_record: str | None = None, main_kind: str | None = None,
                  record_kind: str | None = None) -> str:
        """The tool's id of the record an action writes to.

        In order: ``record_id`` named by an event; ``target`` (a record Kickoff created:
        not there yet means retry); ``record`` (an object Kickoff did not create, e.g. the
        company: the running cycle's, else the onboarding's); else the running cycle's main
        record: the crosswalk (under ``Onboarding.cycle_id``), the state's refs (first cycle
        only), the record created by the playbook's ``main_record`` line in this cycle (retry
        while it is pending). A later cycle never falls back on an earlier cycle's records:
        a customer's second case is not written on the first case's ticket. The crosswalk's
        object kind of the main record is ``main_kind``, or the line's name (the playbooks
        name a create_record line after its object: ``ticket``, ``request``).
        """
        if payload.record_id:
            return str(payload.record_id)
        if payload.target:
            found = ctx.ledger.record_for(payload.target, self.tool, record_kind)
            if found is None:
                raise MappingError(f"the {self.tool} record created by {payload.target[:12]} does not exist yet",
                                   field="target", retry=True, waits_for=payload.target)
            return str(found)
        onboarding = action.onboarding_id
        state = ctx.ledger.state_for(onboarding)
        cycle = state.cycle_id if state is not None else onboarding
        if payload.record:
            for canonical in dict.fromkeys((cycle, onboarding)):
                found = ctx.ledger.record_for(canonical, self.tool, payload.record)
                if found is not None:
                    return str(found)
            raise MappingError(f"no {self.tool} {payload.record} is linked to onboarding {onboarding}",
                               field="record")
        for kind in dict.fromkeys(k for k in (main_kind, main_record) if k):
            found = ctx.ledger.record_for(cycle, self.tool, kind)
            if found is not None:
                return str(found)
        if state is None:
            raise MappingError(f"onboarding {onboarding} is not stored yet", field="onboarding_id", retry=True)
        if state.cycle == 1 and state.refs.get(self.tool):
            return str(state.refs[self.tool])
        key = state.created_record(main_record) if main_record else None
        if key:
            found = ctx.ledger.record_for(key, self.tool, None)
            if found is None:
                raise MappingError(f"the {self.tool} {main_record} of {onboarding} is not created yet",
                                   field="record_id", retry=True, waits_for=key)
            return str(found)
        raise MappingError(f"onboarding {onboarding} has no {self.tool} record", field="record_id")


def default(value: Any) -> Any:
    """A table field's default: a fresh copy per table (tables are edited per tenant)."""
    return Field(default_factory=lambda: copy.deepcopy(value))


def role_value(values: Mapping[str, Any], role: str | None, what: str) -> Any:
    """A canonical name (stage, owner role) looked up in a table; MappingError naming it."""
    if role is None:
        return None
    if role not in values:
        known = ", ".join(sorted(values)) or "none"
        raise MappingError(f"no {what} {role!r} in the mapping table (known: {known})", field=what)
    return values[role]


# --- lookup, routing, tables ----------------------------------------------------------
_LOADED: dict[str, dict[str, dict[str, Any]]] = {}


def mapping_for(tool: str) -> ToolMapping:
    """The mapping of ``tool``: ``mappings/<tool>.py``'s ``MAPPING``."""
    mapping: ToolMapping = plugin("mappings", tool, "MAPPING")
    return mapping


def tenant_for(tool: str, delivery: Delivery, tenants: Mapping[str, TenantConfig],
               tables: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    """The tenant a delivery belongs to: the one tenant that uses ``tool``; when several do,
    the one whose table's ``route`` matches the payload (``tables`` default: the ones
    ``load_tables`` read last)."""
    tables = _LOADED if tables is None else tables
    users = [key for key, tenant in tenants.items() if tool in tenant.tools]
    if len(users) == 1:
        return users[0]
    if not users:
        raise MappingError(f"no tenant uses {tool}", field="tenant")
    for key in users:
        route = ((tables or {}).get(tool, {}).get(key) or {}).get("route") or {}
        if any(_routes(dig(delivery.payload, path), value) for path, value in route.items()):
            return key
    raise MappingError(f"tenants {', '.join(users)} all use {tool} and no table route matches", field="tenant")


def _routes(found: Any, wanted: Any) -> bool:
    """A route's value (or any of its values) equals what the payload holds there."""
    if found is None:
        return False
    return str(found) in {str(w) for w in (wanted if isinstance(wanted, list) else [wanted])}


def load_tables(config_dir: Path | str) -> dict[str, dict[str, dict[str, Any]]]:
    """``config/mappings/<tool>.yaml`` for every tool: {tool: {tenant: table}}, each table
    validated by its mapping's model; a file that does not fit is a ConfigError naming the
    file and the field. No ``mappings`` folder: no tables."""
    folder = Path(config_dir) / "mappings"
    if not folder.is_dir():
        return {}
    tenants_file = Path(config_dir) / "tenants.yaml"
    known = None
    if tenants_file.is_file():
        known = set(load_yaml_model(tenants_file, _TenantKeys).tenants or {})
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.yaml")):
        tool = path.stem
        if tool not in tool_names():
            raise ConfigError(path, "(file name)", f"a tool's name ({', '.join(tool_names())})")
        model = RootModel[dict[str, mapping_for(tool).Table]]  # type: ignore[name-defined]
        loaded = load_yaml_model(path, model)
        for tenant in loaded.root:
            if known is not None and tenant not in known:
                raise ConfigError(path, tenant, f"a tenant of tenants.yaml ({', '.join(sorted(known))})")
        tables[tool] = {tenant: table.model_dump(mode="json") for tenant, table in loaded.root.items()}
    _LOADED.clear()
    _LOADED.update(tables)
    return tables


class _TenantKeys(BaseModel):
    tenants: dict[str, Any] = Field(default_factory=dict)
