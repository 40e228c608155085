"""Everything a flow needs, built once per process: config, ledger, playbooks, mappings,
connectors (one factory, the one shared rate limiter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from connectors import build_connector
from connectors.base import Connector
from connectors.ratelimit import RateLimiter, account_limits, limiter_for
from kickoff.contracts.mapping import MappingContext
from kickoff.ledger import Ledger
from kickoff.ledger.lookups import LedgerLookups
from kickoff.model import Action, Onboarding
from kickoff.playbooks import Playbook, find_playbook
from kickoff.retry import RetryPolicy
from kickoff.settings import SHARED_ACCOUNT, Config, TenantConfig, load_config
from mappings.base import ToolMapping, load_tables, mapping_for


def connector_for(tool: str, config: Config, tables: dict[str, Any], *, limiter: RateLimiter,
                  retry: RetryPolicy | None = None, account: str = SHARED_ACCOUNT) -> Connector:
    """``tool``'s connector for ``account`` reading what its mapping needs for the tables of
    the tenants on that account: the one place a connector is built for the flows and the
    gateway alike."""
    tenants = [key for key, tenant in config.tenants.items()
               if tool in tenant.tools and config.account_of(tool, key) == account]
    own = {key: table for key, table in tables.get(tool, {}).items() if key in tenants}
    connector: Connector = build_connector(tool, config, limiter=limiter, retry=retry, account=account,
                                           reads=mapping_for(tool).reads(own if tenants else tables.get(tool, {})))
    return connector


@dataclass
class Runtime:
    config: Config
    ledger: Ledger
    limiter: RateLimiter
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    tables: dict[str, Any] = field(default_factory=dict)
    _connectors: dict[str, Connector] = field(default_factory=dict)
    _playbooks: dict[str, Playbook] = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config | None = None, *, ledger: Ledger | None = None,
              retry: RetryPolicy | None = None, limiter: RateLimiter | None = None) -> Runtime:
        config = config or load_config()
        return cls(
            config=config,
            ledger=ledger or Ledger.open(config.settings.resolved_database_url),
            limiter=limiter or limiter_for(config.tools, account_limits(config)),
            retry=retry or RetryPolicy(),
            tables=load_tables(Path(config.settings.config_dir)),
        )

    def connector(self, tool: str, account: str | None = None) -> Connector:
        """The tool's connector for ``account`` (a tenant's own; default: the shared one),
        built once, reading what its mapping needs."""
        account = account or SHARED_ACCOUNT
        key = tool if account == SHARED_ACCOUNT else f"{tool}@{account}"
        if key not in self._connectors:
            self._connectors[key] = connector_for(tool, self.config, self.tables, limiter=self.limiter,
                                                  retry=self.retry, account=account)
        return self._connectors[key]

    def accounts(self, tool: str) -> list[str]:
        """The accounts of ``tool`` in use (the shared one when no tenant names its own)."""
        return list(self.config.accounts(tool)) or [SHARED_ACCOUNT]

    def mapping(self, tool: str) -> ToolMapping:
        return mapping_for(tool)

    def playbook(self, name: str) -> Playbook:
        if name not in self._playbooks:
            folder = Path(self.config.settings.config_dir) / "playbooks"
            self._playbooks[name] = find_playbook(name, folder if folder.is_dir() else None)
        return self._playbooks[name]

    def tenant(self, key: str) -> TenantConfig:
        return self.config.tenant(key)

    def mapping_context(self, tool: str, tenant_key: str, now: datetime) -> MappingContext:
        return MappingContext(tenant_key=tenant_key, tenant=self.tenant(tenant_key),
                              table=self.tables.get(tool, {}).get(tenant_key, {}), now=now,
                              ledger=LedgerLookups(self.ledger))

    def tenant_of_action(self, action: Action, state: Onboarding | None) -> str | None:
        """The tenant whose tables map ``action``: its onboarding's, else the one tenant that
        uses its tool. None when no state names it and several tenants use the tool: taking
        the first would write with another company's tables (its owners, its account)."""
        if state is not None:
            return state.tenant
        users = [key for key, tenant in self.config.tenants.items() if action.tool in tenant.tools]
        return users[0] if len(users) == 1 else None


def utcnow() -> datetime:
    """The wall clock: read here, at the flows' edge, and passed down as ``now``."""
    return datetime.now(UTC)


def parse_now(value: str | datetime | None) -> datetime:
    """A flow's ``now`` parameter: ISO-8601 (the demo's virtual clock) or the wall clock."""
    if value is None:
        return utcnow()
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return moment


@lru_cache(maxsize=1)
def default_runtime() -> Runtime:
    """The process's runtime (a served deployment reuses it across runs)."""
    return Runtime.build()
