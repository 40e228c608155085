"""``kickoff config check``: load every config file and say what is wrong, in one line."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.output import config_or_fail


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="Check the configuration in config/.", no_args_is_help=True)

    @config_app.command("check")
    def check(config_dir: Path = typer.Option(None, "--config-dir", help="default: KICKOFF_CONFIG_DIR or ./config")) -> None:
        """Load tenants.yaml and tools.yaml; exit non-zero with file, field and reason if wrong."""
        config = config_or_fail(config_dir)
        typer.echo(f"config ok: {len(config.tenants)} tenants, {len(config.tools)} tools")

    app.add_typer(config_app, name="config")
