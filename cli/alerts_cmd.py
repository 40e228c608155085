"""``kickoff alerts sync``: the alerts' automations on the Prefect server, from config/alerts.yaml."""

from __future__ import annotations

import typer

from cli.output import config_or_fail, fail


def register(app: typer.Typer) -> None:
    alerts_app = typer.Typer(help="Prefect automations that tell ops when Kickoff gives up.", no_args_is_help=True)

    @alerts_app.command("sync")
    def sync() -> None:
        """Create or update the alerts' automations (idempotent): kickoff-dead-letter-alert
        (a push run's actions gave up) and kickoff-failed-timer-alert (a timer could not be decided);
        each with its block set in alerts.yaml sends a notification through that block."""
        from flows.alerts import BlockMissing, sync_alerts
        from kickoff.yamlfile import ConfigError

        config = config_or_fail()
        try:
            synced = sync_alerts(config.settings.config_dir)
        except (ConfigError, BlockMissing) as exc:
            fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - any Prefect failure is reported in one line
            fail(f"cannot reach the Prefect API to sync the alerts: {type(exc).__name__}: {exc}")
        for one in synced:
            typer.echo(f"{one.kind.name}: {one.outcome}; " + (f"notifies through block {one.block}" if one.block else
                       f"no notification block in alerts.yaml ({one.kind.section}.block): it only shows up in the UI"))

    app.add_typer(alerts_app, name="alerts")
