"""``kickoff connect check [TOOL...] [--tenant T]``: one cheap authenticated read per tool (and
account) proving the credentials and the access Kickoff needs. One line per tool: ``ok``, or
the problems in words with the setting to fix. Exit 0 only when every tool is ok. Secrets are
never printed: the lines name settings (``HUBSPOT_ACCESS_TOKEN``), never values."""

from __future__ import annotations

from pathlib import Path

import typer

from cli import live
from cli.output import config_or_fail


def register(app: typer.Typer) -> None:
    connect_app = typer.Typer(help="Prove Kickoff can reach each tool with the access it needs.",
                              no_args_is_help=True)

    @connect_app.command("check")
    def check(tools: list[str] = typer.Argument(None, help="tools to check (default: all configured)"),
              tenant: str = typer.Option(None, "--tenant", help="check this tenant's tools and accounts"),
              config_dir: Path = typer.Option(None, "--config-dir")) -> None:
        """Per tool: ok, or what is wrong and which setting fixes it. Exit 1 if any is not ok."""
        from kickoff.contracts.errors import VendorError

        config = config_or_fail(config_dir)
        pairs = live.targets(config, list(tools or []), tenant)
        tables = live.tables_of(config)
        now = live.utcnow()
        failed = 0
        for tool, account in pairs:
            connector = live.connector(tool, config, tables, account)
            try:
                problems = connector.check(now)
            except VendorError as error:
                problems = [connector.problem(error, next(iter(connector.config.credentials), "credentials"))]
            if problems:
                failed += 1
                typer.echo(f"{live.label(tool, account)}: {'; '.join(problems)}")
            else:
                note = getattr(connector, "checks_only", None)
                typer.echo(f"{live.label(tool, account)}: ok" + (f" ({note})" if note else ""))
        raise typer.Exit(1 if failed else 0)

    app.add_typer(connect_app, name="connect")
