"""``kickoff limits show|sync``: the vendors' rate limits as Prefect global concurrency limits, and
the daily budgets the ledger keeps."""

from __future__ import annotations

import typer

from cli.ledger_cmd import budget_lines, open_ledger
from cli.output import config_or_fail, fail
from connectors.ratelimit import (
    bucket_for,
    configured_limits,
    limit_name,
    sync_account_limits,
    sync_prefect_limits,
)

NO_BUDGETS = "daily budgets:  none reported yet (HubSpot's and Salesforce's answers report them as pushes run)"


def register(app: typer.Typer) -> None:
    limits_app = typer.Typer(help="Vendor rate limits shared by every worker.", no_args_is_help=True)

    @limits_app.command("show")
    def show() -> None:
        """Each configured limit (tool, or tool.endpoint) and the bucket Kickoff spends it with, then
        each daily budget the vendors reported (used of allowed, and when it resets)."""
        config = config_or_fail()
        limits = configured_limits(config.tools)
        for name in sorted(set(config.tools) | set(limits)):
            limit = limits.get(name)
            if limit is None:
                typer.echo(f"{name:<16} no limit configured")
                continue
            bucket = bucket_for(limit)
            typer.echo(f"{name:<16} vendor {limit.requests}/{limit.per_seconds:g}s -> "
                       f"{limit_name(name)}: burst {bucket.capacity}, {bucket.per_second:.3f}/s")
        with open_ledger() as ledger:
            budgets = ledger.budgets()
        for line in budget_lines(budgets) or [NO_BUDGETS]:
            typer.echo(line)

    @limits_app.command("sync")
    def sync() -> None:
        """Create or update the global concurrency limits on the configured Prefect server."""
        config = config_or_fail()
        try:
            done = sync_prefect_limits(config.tools) + sync_account_limits(config)
        except Exception as exc:  # noqa: BLE001 - any Prefect failure is reported in one line
            fail(f"cannot reach the Prefect API to sync limits: {type(exc).__name__}: {exc}")
        for name, bucket in done:
            typer.echo(f"{name}: limit {bucket.capacity}, slot decay {bucket.per_second:.3f}/s")

    app.add_typer(limits_app, name="limits")
