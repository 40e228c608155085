"""``kickoff config check --live``: the mapping tables read against the live tools. Each tool's
account is discovered once (``Connector.discover``) and every tenant's table that uses it is
verified (``Mapping.verify``): one line per problem, naming the file, the key and what the tool
has instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli import live
from kickoff.settings import Config


def check_live(config: Config, folder: Path, tenant: str | None) -> tuple[list[str], int]:
    """The problem lines, and how many tables were checked."""
    from kickoff.contracts.errors import VendorError
    from kickoff.yamlfile import read_yaml, strip_lines
    from mappings.base import mapping_for

    problems: list[str] = []
    checked = 0
    tables = live.tables_of(config)
    now = live.utcnow()
    for tool, account in live.targets(config, [], tenant):
        path = folder / "mappings" / f"{tool}.yaml"
        raw = (strip_lines(read_yaml(path)) or {}) if path.is_file() else {}
        users = [key for key in ([tenant] if tenant else list(config.tenants))
                 if tool in config.tenant(key).tools and config.account_of(tool, key) == account and key in raw]
        if not users:
            continue
        connector = live.connector(tool, config, tables, account)
        try:
            found = connector.discover(now)
        except VendorError as error:
            words = connector.problem(error, next(iter(connector.config.credentials), "credentials"))
            problems.append(f"{path}: ({live.label(tool, account)}): cannot read the account: {words}")
            continue
        mapping = mapping_for(tool)
        for key in users:
            table = _complete(mapping, raw[key], path, key, problems)
            if table is None:
                continue
            checked += 1
            problems += [f"{path}: {key}.{p.key}: {p.message}" for p in mapping.verify(table, found)]
    return problems, checked


def _complete(mapping: Any, raw: Any, path: Path, tenant: str, problems: list[str]) -> dict[str, Any] | None:
    """The table with its defaults (what runs), or a problem line when it is incomplete."""
    from pydantic import ValidationError

    try:
        return dict(mapping.Table.model_validate(raw or {}).model_dump(mode="json"))
    except ValidationError as exc:
        err = exc.errors()[0]
        problems.append(f"{path}: {tenant}.{'.'.join(str(p) for p in err['loc'])}: {err['msg']} "
                        f"(kickoff discover {mapping.tool} --tenant {tenant})")
        return None
