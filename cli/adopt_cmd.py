"""``kickoff adopt --tenant T [--apply]``: the onboardings already running in the tenant's tools
that the ledger does not know. Per onboarding, in ``kickoff simulate``'s format: the steps of
its past taken as done (never sent), the timers from now on, and what follows if nothing else
happens; then the records it cannot place, each with the reason. ``--apply`` enters them into
the ledger, one transaction each, and links their records; a second run changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cli.output import config_or_fail, fail

if TYPE_CHECKING:
    from flows.adopt import TenantPlan
    from kickoff.playbooks.adopt import Adoption


def _table(plan: TenantPlan, entered: dict[str, bool] | None) -> None:
    from kickoff.playbooks import to_table

    zone = plan.playbook.zone
    for adoption in plan.adoptions:
        running = adoption.running
        state = "" if entered is None else ("  -> adopted" if entered[running.subject] else
                                            "  -> already in the ledger: left as it is")
        typer.echo(f"== {running.subject}: {running.label}, stage {running.stage}{state}")
        typer.echo("taken as done, never sent:" if adoption.done else "taken as done: nothing")
        if adoption.done:
            typer.echo(_indent(to_table(adoption.done)))
        typer.echo("timers from now on:" if adoption.timers else "timers from now on: none")
        for timer in adoption.timers:
            at = timer.fire_at.astimezone(zone).strftime("%Y-%m-%d %a %H:%M %z")
            typer.echo(f"  {at}  {timer.rule:<4}  {timer.key}")
        typer.echo("what follows if nothing else happens:" if adoption.upcoming else "what follows: nothing")
        if adoption.upcoming:
            typer.echo(_indent(to_table(adoption.upcoming)))
        for note in adoption.notes:
            typer.echo(f"note: {note}")
    if plan.cannot:
        typer.echo(f"{plan.tenant}: cannot adopt: {plan.cannot}")
    for item in plan.unplaced:
        typer.echo(f"cannot place {item.label}: {item.reason}")
    for failure in plan.failures:
        typer.echo(f"FAILED {failure}")


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.rstrip("\n").splitlines())


def _json(plan: TenantPlan, entered: dict[str, bool] | None) -> None:
    def one(adoption: Adoption) -> dict:
        running = adoption.running
        return {"onboarding": running.subject, "record": running.label, "tool": running.tool,
                "record_id": running.record_id, "stage": running.stage,
                "done": [a.as_dict() for a in adoption.done], "upcoming": [a.as_dict() for a in adoption.upcoming],
                "timers": [{"key": t.key, "rule": t.rule, "fire_at": t.fire_at.isoformat()} for t in adoption.timers],
                "notes": adoption.notes, **({} if entered is None else {"adopted": entered[running.subject]})}

    for adoption in plan.adoptions:
        typer.echo(json.dumps(one(adoption), ensure_ascii=False))
    for item in plan.unplaced:
        typer.echo(json.dumps({"record": item.label, "tool": item.tool, "record_id": item.record_id,
                               "unplaced": item.reason}, ensure_ascii=False))
    for failure in plan.failures:
        typer.echo(json.dumps({"failed": failure}, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    @app.command("adopt")
    def adopt(tenant: str = typer.Option(..., "--tenant", help="the tenant whose running onboardings to adopt"),
              apply: bool = typer.Option(False, "--apply", help="enter them into the ledger (else: the plan)"),
              output: str = typer.Option("table", "--format", help="table or json (one object a line)"),
              config_dir: Path = typer.Option(None, "--config-dir", help="default: KICKOFF_CONFIG_DIR or ./config")
              ) -> None:
        """Onboardings already running in the tenant's tools: plan them (or --apply them)."""
        from flows.adopt import apply_adoptions, plan_adoptions
        from flows.runtime import Runtime, utcnow

        if output not in ("table", "json"):
            fail(f"--format: table or json, not {output!r}")
        config = config_or_fail(config_dir)
        if tenant not in config.tenants:
            fail(f"config/tenants.yaml: no tenant {tenant!r} (known: {', '.join(config.tenants)})")
        rt = Runtime.build(config)
        try:
            now = utcnow()
            plan = plan_adoptions(rt, tenant, now)
            entered = {a.running.subject: new for a, new in apply_adoptions(rt, plan, now)} if apply else None
        finally:
            rt.ledger.close()
        (_json if output == "json" else _table)(plan, entered)
        if output == "table":
            new = sum(entered.values()) if entered is not None else len(plan.adoptions)
            verb = "adopted" if apply else "to adopt"
            typer.echo(f"{tenant}: {new} {verb}, {len(plan.unplaced)} cannot be placed, "
                       f"{plan.known} already known to the ledger")
        raise typer.Exit(1 if plan.failures else 0)
