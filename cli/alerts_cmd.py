"""``kickoff alerts sync``: the dead-letter automation on the Prefect server, from config/alerts.yaml."""

from __future__ import annotations

import typer

from cli.output import config_or_fail, fail


def register(app: typer.Typer) -> None:
    alerts_app = typer.Typer(help="Prefect automations that tell ops when Kickoff gives up.", no_args_is_help=True)

    @alerts_app.command("sync")
    def sync() -> None:
        """Create or update the kickoff-dead-letter-alert automation (idempotent): with
        dead_letter.block set in alerts.yaml, it sends a notification through that block."""
        from flows.alerts import AUTOMATION, BlockMissing, sync_dead_letter_alert
        from kickoff.yamlfile import ConfigError

        config = config_or_fail()
        try:
            outcome, block = sync_dead_letter_alert(config.settings.config_dir)
        except (ConfigError, BlockMissing) as exc:
            fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - any Prefect failure is reported in one line
            fail(f"cannot reach the Prefect API to sync {AUTOMATION}: {type(exc).__name__}: {exc}")
        typer.echo(f"{AUTOMATION}: {outcome}; " + (f"notifies through block {block}" if block else
                   "no notification block in alerts.yaml (dead_letter.block): it only shows up in the UI"))

    app.add_typer(alerts_app, name="alerts")
