"""``kickoff discover TOOL --tenant T [--write]``: read the tenant's live account in the tool and
propose its part of ``config/mappings/<tool>.yaml``: the playbook's stages, owner roles,
properties, fields, sections and channels matched by name. Prints the change as a diff and
lists what it could not match; ``--write`` writes it (the other tenants and the comments kept).
Exit 0 when everything matched, 1 when something did not (the rest is still proposed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli import live
from cli.output import config_or_fail, fail


def register(app: typer.Typer) -> None:
    @app.command("discover")
    def discover(tool: str = typer.Argument(..., help="the tool whose account to read"),
                 tenant: str = typer.Option(..., "--tenant", help="whose part of the mapping file"),
                 write: bool = typer.Option(False, "--write", help="write the proposed table"),
                 config_dir: Path = typer.Option(None, "--config-dir")) -> None:
        """Propose the tenant's mapping table from its live account (a diff; --write writes it)."""
        from cli import tablefile
        from kickoff.contracts.errors import VendorError

        config = config_or_fail(config_dir)
        folder = Path(config_dir or config.settings.config_dir)
        if tenant not in config.tenants:
            fail(f"{folder / 'tenants.yaml'}: tenants.{tenant}: not a configured tenant")
        if tool not in config.tenant(tenant).tools:
            fail(f"{folder / 'tenants.yaml'}: tenants.{tenant}.tools: {tenant} does not use {tool}")
        account = config.account_of(tool, tenant)
        connector = live.connector(tool, config, live.tables_of(config), account)
        try:
            found = connector.discover(live.utcnow())
        except VendorError as error:
            fail(f"{live.label(tool, account)}: cannot read the account: "
                 f"{connector.problem(error, next(iter(connector.config.credentials), 'credentials'))}", 1)
        path = tablefile.path_of(folder, tool)
        document = tablefile.read(path)
        before = path.read_text(encoding="utf-8") if path.is_file() else ""
        current = tablefile.plain(document.get(tenant) or {})
        proposal = _propose(config, folder, tool, tenant, account, current, found)
        after = tablefile.text(tablefile.merged(document, tenant, proposal.table))
        typer.echo(tablefile.diff(path, before, after) or f"{path}: {tenant}: nothing to change")
        for line in proposal.unmatched:
            typer.echo(f"not matched: {tool}.yaml {tenant}.{line}")
        invalid = _invalid(tool, proposal.table)
        if invalid:
            typer.echo(f"not complete: {tool}.yaml {tenant}.{invalid}")
        if write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(after, encoding="utf-8")
            typer.echo(f"wrote {path}")
        raise typer.Exit(1 if proposal.unmatched or invalid else 0)


def _propose(config: Any, folder: Path, tool: str, tenant: str, account: str, current: dict[str, Any],
             found: Any) -> Any:
    from kickoff.playbooks import find_playbook
    from kickoff.settings import SHARED_ACCOUNT
    from mappings.base import mapping_for
    from mappings.discovery import Names

    playbooks = folder / "playbooks"
    playbook = find_playbook(config.tenant(tenant).playbook, playbooks if playbooks.is_dir() else None)
    sharing = [key for key in config.tenants if config.account_of(tool, key) == account
               and tool in config.tenant(key).tools]
    own = account != SHARED_ACCOUNT or len(sharing) == 1
    return mapping_for(tool).propose(current, found, Names.of(playbook, tool), own_account=own)


def _invalid(tool: str, table: dict[str, Any]) -> str | None:
    """What the proposed table still lacks for the mapping's model (``key: reason``), if anything."""
    from pydantic import ValidationError

    from mappings.base import mapping_for

    try:
        mapping_for(tool).Table.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return None
