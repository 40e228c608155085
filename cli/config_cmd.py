"""``kickoff config check``: load every config file and say what is wrong, in one line."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.output import config_or_fail


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Check the configuration in config/.", no_args_is_help=True)

    @config_app.command("check")
    def check(config_dir: Path = typer.Option(None, "--config-dir", help="default: KICKOFF_CONFIG_DIR or ./config"),
              live: bool = typer.Option(False, "--live", help="also check every id in the mappings against the "
                                                              "live tools"),
              tenant: str = typer.Option(None, "--tenant", help="with --live: only this tenant's mappings")) -> None:
        """Load tenants.yaml and tools.yaml; exit non-zero with file, field and reason if wrong.
        With --live: every id, property, field, value, section and channel of the mappings is
        read back from the tools (one line per problem: file, key, what the tool has instead)."""
        config = config_or_fail(config_dir)
        if not live:
            typer.echo(f"config ok: {len(config.tenants)} tenants, {len(config.tools)} tools")
            return
        from cli.config_live import check_live

        problems, checked = check_live(config, Path(config_dir or config.settings.config_dir), tenant)
        for line in problems:
            typer.echo(line)
        if problems:
            raise typer.Exit(1)
        typer.echo(f"config ok, live: {checked} mapping tables match their tools")

    app.add_typer(config_app, name="config")
