"""Settings: the environment (``KICKOFF_*``) plus ``config/*.yaml`` (tenants, tools).

Credentials never appear in YAML by value: a tool's credentials are *references*
(``env:NAME`` or ``block:NAME``) resolved at the moment a client is built. A config file
that does not fit fails at load with the file, the field and what was expected.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_REF = re.compile(r"^(env|block):[A-Za-z_][A-Za-z0-9_\-]*$")


class ConfigError(Exception):
    """A config file that does not fit: carries the file, the field and what was expected."""

    def __init__(self, file: Path | str, field: str, expected: str) -> None:
        self.file, self.field, self.expected = str(file), field, expected
        super().__init__(f"{file}: {field}: {expected}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RateLimit(_Strict):
    """A vendor's request budget: ``requests`` per ``per_seconds``, per credential."""

    requests: int = Field(gt=0)
    per_seconds: float = Field(gt=0)

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds


class ToolConfig(_Strict):
    """How to reach one tool and what it allows. Credentials are references, never values."""

    base_url: str | None = None
    credentials: dict[str, str] = Field(default_factory=dict)
    rate_limit: RateLimit | None = None
    endpoint_limits: dict[str, RateLimit] = Field(
        default_factory=dict, description="limits of single endpoints on top of rate_limit (HubSpot search)")
    batch_size: int = Field(default=1, ge=1)
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


class TenantConfig(_Strict):
    """A customer company of Kickoff's: its time zone, its playbook and the tools it uses."""

    name: str
    timezone: str
    playbook: str
    tools: list[str] = Field(default_factory=list)
    options: dict[str, Any] = Field(default_factory=dict)

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

    @property
    def resolved_database_url(self) -> str:
        """The ledger's URL: ``KICKOFF_DATABASE_URL`` or a SQLite file under ``KICKOFF_HOME``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'ledger.sqlite3').resolve()}"


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(top level)"
    return field, err["msg"]


def load_yaml_model(path: Path, model: type[BaseModel]) -> Any:
    """Load ``path`` as YAML into ``model``; every failure becomes a ConfigError naming file and field."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(path, "(file)", "the file to exist") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "(syntax)"
        raise ConfigError(path, where, f"valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(raw, dict):
        raise ConfigError(path, "(top level)", "a mapping")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, msg = _first_error(exc)
        raise ConfigError(path, field, msg) from exc


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


def load_config(config_dir: Path | None = None, settings: KickoffSettings | None = None) -> Config:
    """Read ``tenants.yaml`` and ``tools.yaml`` from the config folder and check them together."""
    settings = settings or KickoffSettings()
    folder = Path(config_dir or settings.config_dir)
    tenants: TenantsFile = load_yaml_model(folder / "tenants.yaml", TenantsFile)
    tools: ToolsFile = load_yaml_model(folder / "tools.yaml", ToolsFile)
    for name, tool in tools.tools.items():
        override = os.environ.get(f"KICKOFF_{name.upper()}_BASE_URL")
        if override:
            tool.base_url = override
    for key, tenant in tenants.tenants.items():
        for tool in tenant.tools:
            if tool not in tools.tools:
                raise ConfigError(folder / "tenants.yaml", f"tenants.{key}.tools", f"a tool defined in tools.yaml, got {tool!r}")
    return Config(settings=settings, tenants=tenants.tenants, tools=tools.tools)


@lru_cache(maxsize=1)
def get_config() -> Config:
    """The process's config, loaded once."""
    return load_config()


def resolve_secret(ref: str) -> str:
    """Turn ``env:NAME`` / ``block:NAME`` into the secret's value. The value is never logged."""
    if not SECRET_REF.match(ref):
        raise ValueError("not a secret reference")
    scheme, name = ref.split(":", 1)
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise KeyError(f"environment variable {name} is not set")
        return value
    from prefect.blocks.system import Secret  # only when a block is actually asked for

    return str(Secret.load(name).get())
