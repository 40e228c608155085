"""``kickoff onboarding show|list``: one customer found by id or name, and its whole story;
every onboarding with whether it is stuck (``kickoff.ledger.story`` says what stuck means)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from cli.ledger_cmd import open_ledger
from cli.output import config_or_fail, fail

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]
NowOption = Annotated[str | None, typer.Option(
    "--now", help="as of this ISO time with its offset (a virtual clock's); default: the wall clock")]


def _now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"--now: not an ISO 8601 time: {value!r}")
    if moment.tzinfo is None:
        fail(f"--now: give the offset too, e.g. {value}+01:00")
    return moment


def register(app: typer.Typer) -> None:
    onboarding_app = typer.Typer(help="One customer's onboarding: its story, and who is stuck.",
                                 no_args_is_help=True)

    @onboarding_app.command("show")
    def show(
        who: Annotated[str, typer.Argument(help="the onboarding's id, or the customer's name (case and accents ignored)")],
        as_json: JsonFlag = False,
        now: NowOption = None,
    ) -> None:
        """Facts and stage, every decision with its rule, every action with its result, the
        tool's id and reason, every fact received about it, pending timers (tenant's zone),
        and what the playbook waits for."""
        from cli.onboarding_view import View
        from cli.onboarding_view import as_json as story_json
        from cli.onboarding_view import text as story_text
        from kickoff.playbooks import PlaybookError, find_playbook

        config = config_or_fail()
        with open_ledger() as ledger:
            found = ledger.find_onboardings(who)
            if not found:
                fail(f"no onboarding has the id or a customer name matching {who!r}", code=1)
            if len(found) > 1:
                print(f"kickoff: {who!r} matches {len(found)} onboardings; give one's id:", file=sys.stderr)
                for one in found:
                    print(f"  {one.id}\t{one.tenant}\t{one.name or '-'}\t{one.stage}", file=sys.stderr)
                raise typer.Exit(1)
            story = ledger.story(found[0].id)
        if story is None:  # removed between the two reads
            fail(f"onboarding {found[0].id} is gone", code=1)
        tenant = config.tenants.get(story.onboarding.tenant)
        try:
            playbook = find_playbook(story.onboarding.playbook, Path(config.settings.config_dir) / "playbooks")
        except (PlaybookError, OSError):
            playbook = None  # the story still reads; only "waiting for" needs the playbook
        zone = tenant.zone if tenant else (playbook.zone if playbook else UTC)
        view = View(story, zone, playbook, _now(now))  # type: ignore[arg-type]
        typer.echo(json.dumps(story_json(view), indent=2, default=str) if as_json else story_text(view))

    @onboarding_app.command("list")
    def list_(
        tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant's")] = None,
        stage: Annotated[str | None, typer.Option("--stage", help="only those in this stage")] = None,
        stuck: Annotated[bool, typer.Option("--stuck", help=(
            "only the stuck: a dead action, a timer or action overdue by 15 min, a failed fact, or "
            "active with nothing pending and no decision for --idle-days"))] = False,
        idle_days: Annotated[float, typer.Option("--idle-days", help="no progress for this long is stuck")] = 7.0,
        as_json: JsonFlag = False,
        now: NowOption = None,
    ) -> None:
        """Every onboarding: tenant, customer, stage, last decision, and why it is stuck."""
        from cli.onboarding_view import summary_line

        config = config_or_fail()
        with open_ledger() as ledger:
            found = ledger.onboarding_summaries(_now(now), tenant=tenant, stage=stage,
                                                idle=timedelta(days=idle_days))
        if stuck:
            found = [one for one in found if one.stuck]
        if as_json:
            typer.echo(json.dumps([{
                "id": o.id, "tenant": o.tenant, "name": o.name, "stage": o.stage, "status": o.status,
                "updated_at": o.updated_at.isoformat(), "counts": dict(o.counts), "stuck": o.stuck,
            } for o in found], indent=2))
            return
        if not found:
            typer.echo("no onboardings" + (" stuck" if stuck else ""))
            return
        for one in found:
            zone = config.tenants[one.tenant].zone if one.tenant in config.tenants else None
            typer.echo(summary_line(one, zone))

    app.add_typer(onboarding_app, name="onboarding")
