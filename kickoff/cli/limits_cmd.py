"""``kickoff limits show|sync``: the vendors' rate limits as Prefect global concurrency limits."""

from __future__ import annotations

import typer

from kickoff.cli.output import fail
from kickoff.settings import ConfigError, load_config


def register(app: typer.Typer) -> None:
    limits_app = typer.Typer(help="Vendor rate limits shared by every worker.", no_args_is_help=True)

    @limits_app.command("show")
    def show() -> None:
        """Each tool's configured limit and the bucket Kickoff spends it with."""
        from connectors.ratelimit import bucket_for, limit_name

        try:
            config = load_config()
        except ConfigError as exc:
            fail(str(exc))
        for tool, cfg in sorted(config.tools.items()):
            if cfg.rate_limit is None:
                typer.echo(f"{tool:<12} no limit configured")
                continue
            bucket = bucket_for(cfg.rate_limit)
            typer.echo(f"{tool:<12} vendor {cfg.rate_limit.requests}/{cfg.rate_limit.per_seconds:g}s -> "
                       f"{limit_name(tool)}: burst {bucket.capacity}, {bucket.per_second:.3f}/s")

    @limits_app.command("sync")
    def sync() -> None:
        """Create or update the global concurrency limits on the configured Prefect server."""
        from connectors.ratelimit import sync_prefect_limits

        try:
            config = load_config()
        except ConfigError as exc:
            fail(str(exc))
        try:
            done = sync_prefect_limits(config.tools)
        except Exception as exc:  # noqa: BLE001 - any Prefect failure is reported in one line
            fail(f"cannot reach the Prefect API to sync limits: {type(exc).__name__}: {exc}")
        for name, bucket in done:
            typer.echo(f"{name}: limit {bucket.capacity}, slot decay {bucket.per_second:.3f}/s")

    app.add_typer(limits_app, name="limits")
