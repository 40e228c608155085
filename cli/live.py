"""What the commands that talk to the live tools share (``connect check``, ``discover``,
``config check --live``): which (tool, account) pairs a command covers, and their connectors,
built by the one factory with a short retry policy (a person is waiting for the answer)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cli.output import fail
from kickoff.retry import RetryPolicy
from kickoff.settings import SHARED_ACCOUNT, Config

QUICK = RetryPolicy(max_attempts=2, base_seconds=0.2, max_backoff_seconds=1.0, max_total_seconds=20.0,
                    max_retry_after_seconds=5.0)
"""A check answers within seconds: one more try after a hiccup, no long waits."""


def utcnow() -> datetime:
    """The wall clock, read at the command's edge and passed down."""
    return datetime.now(UTC)


def targets(config: Config, tools: list[str], tenant: str | None) -> list[tuple[str, str]]:
    """(tool, account) pairs: the tenant's tools in its accounts, else every configured tool in
    every account in use. A tool that is not configured is one ``fail`` line."""
    for tool in tools:
        if tool not in config.tools:
            fail(f"{tool} is not configured in tools.yaml (configured: {', '.join(config.tools)})")
    if tenant is not None:
        chosen = tools or config.tenant(tenant).tools
        return [(tool, config.account_of(tool, tenant)) for tool in chosen]
    pairs = []
    for tool in tools or list(config.tools):
        pairs += [(tool, account) for account in config.accounts(tool) or [SHARED_ACCOUNT]]
    return pairs


def label(tool: str, account: str) -> str:
    return tool if account == SHARED_ACCOUNT else f"{tool} ({account}'s account)"


def tables_of(config: Config) -> dict[str, dict[str, Any]]:
    """Every tool's tables that are complete ({tool: {tenant: table}}, defaults filled in); a
    tenant's table that does not validate yet (empty, before ``discover --write``) is left out,
    so going live can start from nothing."""
    from pydantic import ValidationError

    from kickoff.yamlfile import read_yaml, strip_lines
    from mappings.base import mapping_for

    tables: dict[str, dict[str, Any]] = {}
    folder = Path(config.settings.config_dir) / "mappings"
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if path.stem not in config.tools:
            continue
        model = mapping_for(path.stem).Table
        for tenant, raw in (strip_lines(read_yaml(path)) or {}).items():
            try:
                tables.setdefault(path.stem, {})[tenant] = model.model_validate(raw or {}).model_dump(mode="json")
            except ValidationError:
                continue
    return tables


def connector(tool: str, config: Config, tables: dict[str, Any], account: str = SHARED_ACCOUNT) -> Any:
    """The tool's connector for ``account``, reading what its mapping needs."""
    from connectors import build_connector
    from connectors.ratelimit import WindowLimiter, configured_limits
    from mappings.base import mapping_for

    return build_connector(tool, config, limiter=WindowLimiter(configured_limits(config.tools)),
                           retry=QUICK, reads=mapping_for(tool).reads(tables.get(tool, {})), account=account)
