"""``kickoff blocks register``: the tools' credentials as Prefect Secret blocks (never printed)."""

from __future__ import annotations

import typer

from cli.output import config_or_fail, fail


def register(app: typer.Typer) -> None:
    blocks_app = typer.Typer(help="Credentials as Prefect Secret blocks.", no_args_is_help=True)

    @blocks_app.command("register")
    def register_blocks(
        tenant: str = typer.Option(None, help="only the credentials of the accounts this tenant uses"),
    ) -> None:
        """One Secret block per credential that tools.yaml (or a tenant's own account) reads from
        the environment, made or refreshed from it. Prints block names, never values; point
        the config at them with block:NAME."""
        from flows.blocks import credentials, register

        config = config_or_fail()
        if tenant is not None and tenant not in config.tenants:
            fail(f"tenants.yaml: no tenant {tenant!r}; one of {', '.join(config.tenants)}")
        missing = 0
        for credential in credentials(config, tenant):
            try:
                outcome = register(credential)
            except Exception as exc:  # noqa: BLE001 - any Prefect failure is reported in one line
                fail(f"cannot reach the Prefect API to save {credential.block}: {type(exc).__name__}")
            where = f"{credential.tool}.credentials.{credential.key}" + (
                "" if credential.account == "default" else f" of {credential.account}'s own account")
            if outcome == "missing":
                missing += 1
                typer.echo(f"{credential.block}: missing env {credential.env} ({where})")
            else:
                typer.echo(f"{credential.block}: {outcome} ({where}: block:{credential.block})")
        if missing:
            typer.echo(f"{missing} credential(s) not in the environment: their blocks were not made")

    app.add_typer(blocks_app, name="blocks")
