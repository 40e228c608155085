"""Settings: the environment (``KICKOFF_*``) plus ``config/*.yaml`` (tenants, tools).

Credentials never appear in YAML by value: a tool's credentials are *references*
(``env:NAME`` or ``block:NAME``) resolved at the moment a client is built. A config file
that does not fit fails at load with the file, the field, its line and what was expected
(``kickoff.yamlfile`` reads every YAML file: only ``true``/``false`` are booleans).

Secrets the ledger must keep itself (a vendor's webhook secret, handed over in a handshake)
are sealed with Fernet under ``KICKOFF_SECRET_KEY`` (a Fernet key: ``python -c "from
cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``). When it is
unset, the first process that needs a key writes one to ``KICKOFF_HOME/secret.key`` (mode
0600) and every later one reads it; hosts sharing one PostgreSQL ledger must set the same
``KICKOFF_SECRET_KEY`` instead. Losing the key only loses those secrets: re-create the
webhooks. See ``kickoff.ledger.sealing``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from kickoff.calendar import Calendar
from kickoff.tools import spec as tool_spec
from kickoff.tools import tool_names
from kickoff.tools.spec import RateLimit, ToolSpec
from kickoff.yamlfile import ConfigError, load_yaml_model

SECRET_REF = re.compile(r"^(env|block):[A-Za-z_][A-Za-z0-9_\-]*$")
SHARED_ACCOUNT = "default"
"""The account of tools.yaml, shared by every tenant that names none of its own."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolConfig(_Strict):
    """How to reach one tool and what it allows. Credentials are references, never values.

    ``rate_limit``, ``endpoint_limits`` and ``batch_size`` default to the tool's declaration
    (``kickoff.tools``, the vendor's documented values); set them here for another plan.
    """

    base_url: str | None = None
    credentials: dict[str, str] = Field(default_factory=dict)
    rate_limit: RateLimit | None = None
    endpoint_limits: dict[str, RateLimit] = Field(
        default_factory=dict, description="limits of single endpoints on top of rate_limit (HubSpot search)")
    batch_size: int = Field(default=0, ge=0, description="0: the declaration's")
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for name, ref in value.items():
            if not SECRET_REF.match(str(ref)):
                raise ValueError(
                    f"credential {name!r} must be a reference 'env:VAR' or 'block:NAME', not a value"
                )
        return value


class AccountConfig(_Strict):
    """A tenant's own account in one tool: what differs from the tool's shared account in
    tools.yaml (credentials, host, budget, options), and ``route``: what the tool's webhooks
    carry that names this account (``portalId``, ``account_id``, ``OrganizationId``,
    ``workspace``, ``webhookKey``...), so a delivery is verified with this account's secret and
    given to this tenant."""

    base_url: str | None = None
    credentials: dict[str, str] = Field(default_factory=dict)
    rate_limit: RateLimit | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    route: dict[str, Any] = Field(default_factory=dict)

    @field_validator("credentials")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        return ToolConfig._references_only(value)


class TenantConfig(_Strict):
    """A customer company of Kickoff's: its time zone, its playbook and the tools it uses;
    ``accounts``: the tools in which it has an account of its own (the others are shared)."""

    name: str
    timezone: str
    playbook: str
    tools: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)
    calendar: Calendar | None = Field(
        default=None, description="business days: country (public holidays), categories, closed_days; "
                                  "default: the playbook's")
    recent_days: dict[str, int] = Field(
        default_factory=dict, description="signal -> days it counts as recent (default: the playbook's)")
    accounts: dict[str, AccountConfig] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"an IANA time zone such as Europe/Stockholm, got {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class TenantsFile(_Strict):
    tenants: dict[str, TenantConfig]


class ToolsFile(_Strict):
    tools: dict[str, ToolConfig]


class KickoffSettings(BaseSettings):
    """Process-wide settings from the environment (prefix ``KICKOFF_``)."""

    model_config = SettingsConfigDict(env_prefix="KICKOFF_", extra="ignore")

    home: Path = Path(".kickoff")
    database_url: str | None = None
    config_dir: Path = Path("config")
    public_url: str | None = None
    max_attempts: int = Field(default=8, ge=1, description="outbox attempts before dead letter")
    daily_reserve: float = Field(
        default=0.05, ge=0, lt=1,
        description="share of a daily allowance kept for urgent pushes (kickoff.urgency); the rest wait for the reset")
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key sealing the secrets the ledger keeps (else a key file)")

    @property
    def resolved_database_url(self) -> str:
        """The ledger's URL: ``KICKOFF_DATABASE_URL`` or a SQLite file under ``KICKOFF_HOME``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'ledger.sqlite3').resolve()}"


class Config(BaseModel):
    """Everything loaded: settings, tenants and tools."""

    settings: KickoffSettings
    tenants: dict[str, TenantConfig]
    tools: dict[str, ToolConfig]

    def tenant(self, name: str) -> TenantConfig:
        try:
            return self.tenants[name]
        except KeyError:
            raise ConfigError(self.settings.config_dir / "tenants.yaml", f"tenants.{name}", "a configured tenant") from None

    # --- accounts: the shared one of tools.yaml, and tenants' own --------------------------------
    def account_of(self, tool: str, tenant: str | None) -> str:
        """The account ``tenant`` uses in ``tool``: its own (named after it) or the shared one."""
        if tenant is not None and tool in self.tenant(tenant).accounts:
            return tenant
        return SHARED_ACCOUNT

    def account_config(self, tool: str, account: str = "default") -> ToolConfig:
        """How to reach ``tool`` for ``account``: tools.yaml's section, with a tenant's own
        account's settings over it (its credentials replace the shared ones)."""
        base = self.tools[tool]
        if account == SHARED_ACCOUNT:
            return base
        own = self.tenant(account).accounts[tool]
        return base.model_copy(update={
            "base_url": own.base_url or base.base_url, "credentials": own.credentials or base.credentials,
            "rate_limit": own.rate_limit or base.rate_limit, "options": {**base.options, **own.options}})

    def accounts(self, tool: str) -> dict[str, ToolConfig]:
        """Every account of ``tool`` in use: the shared one (when a tenant uses it) and the
        tenants' own."""
        found: dict[str, ToolConfig] = {}
        for key, tenant in self.tenants.items():
            if tool in tenant.tools or tool in tenant.accounts:
                account = self.account_of(tool, key)
                found.setdefault(account, self.account_config(tool, account))
        return dict(sorted(found.items(), key=lambda item: item[0] != SHARED_ACCOUNT))  # the shared one first

    def route_of(self, tool: str, account: str) -> dict[str, Any]:
        """What a delivery of ``tool`` carries when it comes from ``account`` ({} for the shared one)."""
        return {} if account == SHARED_ACCOUNT else dict(self.tenant(account).accounts[tool].route)


def load_config(config_dir: Path | None = None, settings: KickoffSettings | None = None) -> Config:
    """Read ``tenants.yaml`` and ``tools.yaml`` from the config folder and check them together."""
    settings = settings or KickoffSettings()
    folder = Path(config_dir or settings.config_dir)
    tenants: TenantsFile = load_yaml_model(folder / "tenants.yaml", TenantsFile)
    tools: ToolsFile = load_yaml_model(folder / "tools.yaml", ToolsFile)
    for name, tool in tools.tools.items():
        if name not in tool_names():
            raise ConfigError(folder / "tools.yaml", f"tools.{name}", f"a declared tool ({', '.join(tool_names())})")
        _declared_defaults(tool, tool_spec(name))
        override = os.environ.get(f"KICKOFF_{name.upper()}_BASE_URL")
        if override:
            tool.base_url = override
    for key, tenant in tenants.tenants.items():
        for tool in tenant.tools:
            if tool not in tools.tools:
                raise ConfigError(folder / "tenants.yaml", f"tenants.{key}.tools", f"a tool defined in tools.yaml, got {tool!r}")
        for tool in tenant.accounts:
            if tool not in tenant.tools:
                raise ConfigError(folder / "tenants.yaml", f"tenants.{key}.accounts.{tool}",
                                  f"one of the tenant's tools ({', '.join(tenant.tools)})")
        if key == SHARED_ACCOUNT and tenant.accounts:
            raise ConfigError(folder / "tenants.yaml", f"tenants.{key}.accounts",
                              f"no own accounts for a tenant named {SHARED_ACCOUNT!r} (the shared account's name)")
    return Config(settings=settings, tenants=tenants.tenants, tools=tools.tools)


def _declared_defaults(tool: ToolConfig, declared: ToolSpec) -> None:
    """What tools.yaml leaves out comes from the tool's declaration."""
    if tool.rate_limit is None:
        tool.rate_limit = declared.rate_limit
    tool.endpoint_limits = {**declared.endpoint_limits, **tool.endpoint_limits}
    if not tool.batch_size:
        tool.batch_size = declared.batch_size


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process's config, loaded once."""
    return load_config()
