"""``kickoff webhooks plan|apply [--tenant T]``: Kickoff's public URL (``KICKOFF_PUBLIC_URL``)
registered in each tool it hears from: through the tool's API where it has one (Zendesk
webhooks and the trigger that calls one, HubSpot app subscriptions, Asana board webhooks),
as a person's steps where it has none (Dealbuilder, Movidesk, Salesforce). ``plan`` says per
item what ``apply`` would do (create, update, delete, unchanged, by hand); ``apply`` does it,
and a second ``apply`` changes nothing. Secrets are kept in the ledger, never printed."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli.output import config_or_fail, fail

if TYPE_CHECKING:
    from flows.webhooks import Registration

TenantOption = typer.Option(None, "--tenant", help="only this tenant's tools and accounts")
ConfigOption = typer.Option(None, "--config-dir", help="default: KICKOFF_CONFIG_DIR or ./config")


def _print(registrations: list[Registration]) -> Counter[str]:
    """One line per item, then the steps of the tools with no API; the counts by change."""
    counts: Counter[str] = Counter()
    for reg in registrations:
        for change in reg.plan.changes:
            counts[change.change.value] += 1
            counts["failed"] += 1 if change.error else 0
            typer.echo(change.line(reg.label))
        if reg.plan.steps:
            typer.echo(f"  steps for {reg.label} (it has no API for this):")
            for step in reg.plan.steps:
                typer.echo(f"    {step}")
    return counts


def _run(apply: bool, tenant: str | None, config_dir: Path | None) -> None:
    from flows.runtime import Runtime, utcnow
    from flows.webhooks import NoPublicUrl, apply_webhooks, plan_webhooks

    config = config_or_fail(config_dir)
    if tenant is not None and tenant not in config.tenants:
        fail(f"config/tenants.yaml: no tenant {tenant!r} (known: {', '.join(config.tenants)})")
    rt = Runtime.build(config)
    try:
        now = utcnow()
        try:
            registrations = plan_webhooks(rt, now, tenant=tenant)
        except NoPublicUrl as exc:
            fail(str(exc))
        if apply:
            registrations = apply_webhooks(rt, registrations, now)
        counts = _print(registrations)
    finally:
        rt.ledger.close()
    verb = "done" if apply else "to do"
    typer.echo(f"{verb}: {counts['create']} create, {counts['update']} update, {counts['delete']} delete; "
               f"{counts['unchanged']} unchanged; {counts['by hand']} by hand; {counts['failed']} failed")
    raise typer.Exit(1 if counts["failed"] else 0)


def register(app: typer.Typer) -> None:
    hooks_app = typer.Typer(help="Register Kickoff's webhooks in the tools.", no_args_is_help=True)

    @hooks_app.command("plan")
    def plan(tenant: str = TenantOption, config_dir: Path = ConfigOption) -> None:
        """What apply would change in each tool (read from the tools); changes nothing."""
        _run(False, tenant, config_dir)

    @hooks_app.command("apply")
    def apply(tenant: str = TenantOption, config_dir: Path = ConfigOption) -> None:
        """Register Kickoff in each tool; exit 1 if any item failed. Safe to run again."""
        _run(True, tenant, config_dir)

    app.add_typer(hooks_app, name="webhooks")
