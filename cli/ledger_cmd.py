"""``kickoff ledger status|dead|replay|resume``: what is waiting, what is stuck, and un-sticking it."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from cli.output import fail
from kickoff.ledger import Budget, Ledger, LedgerError
from kickoff.settings import KickoffSettings

JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON instead of text")]


def open_ledger() -> Ledger:
    """The ledger the settings name (``KICKOFF_DATABASE_URL`` or the file under ``KICKOFF_HOME``)."""
    try:
        return Ledger.open(settings=KickoffSettings())
    except (SQLAlchemyError, ValueError, OSError) as exc:  # bad URL, server down: one line
        fail(f"cannot open the ledger: {exc}")


def budget_lines(budgets: list[Budget]) -> list[str]:
    """One line per daily budget: the vendor's allowance, how much is used and when it resets."""
    lines = []
    for b in budgets:
        resets = f"resets {b.resets_at:%Y-%m-%d %H:%M}Z" if b.resets_at else "rolling"
        lines.append(f"{'budget ' + b.tool + '/' + b.account + ':':<16} used {b.used:,} of {b.allowed:,}, {resets}")
    return lines


def register(app: typer.Typer) -> None:
    ledger_app = typer.Typer(
        help="Inspect the ledger: queues, dead letters, failed facts and timers, paused tools.", no_args_is_help=True
    )

    @ledger_app.command("status")
    def status(as_json: JsonFlag = False) -> None:
        """Pending inbox, pending and dead outbox rows, due and failed timers, paused tools, and each daily
        budget (a vendor's daily allowance: used of allowed, and when it resets)."""
        with open_ledger() as ledger:
            counts = ledger.status(datetime.now(UTC))
            budgets = ledger.budgets()
        if as_json:
            typer.echo(json.dumps({**counts.as_dict(), "budgets": [b.as_dict() for b in budgets]}, indent=2))
            return
        rows = [
            ("pending inbox", counts.pending_inbox),
            ("failed inbox", counts.failed_inbox),
            ("pending outbox", counts.pending_outbox),
            ("dead outbox", counts.dead_outbox),
            ("due timers", counts.due_timers),
            ("failed timers", counts.failed_timers),
            ("paused tools", ", ".join(counts.paused_tools) or "none"),
        ]
        for label, value in rows:
            typer.echo(f"{label + ':':<16} {value}")
        for line in budget_lines(budgets):
            typer.echo(line)

    @ledger_app.command("dead")
    def dead(
        tool: Annotated[
            str | None, typer.Option("--tool", help="only this tool's dead letters")
        ] = None,
        as_json: JsonFlag = False,
    ) -> None:
        """List dead letters: actions that gave up, with their last error."""
        with open_ledger() as ledger:
            letters = ledger.dead_letters(tool)
        if as_json:
            typer.echo(
                json.dumps(
                    [
                        {**asdict(letter), "updated_at": letter.updated_at.isoformat()}
                        for letter in letters
                    ],
                    indent=2,
                )
            )
            return
        if not letters:
            typer.echo("no dead letters")
            return
        for d in letters:
            typer.echo(
                f"{d.id}\t{d.tool}\t{d.kind}\t{d.rule}\t{d.onboarding_id}\t"
                f"attempts={d.attempts}\t{d.updated_at:%Y-%m-%d %H:%M}Z\t{d.last_error or ''}"
            )

    @ledger_app.command("replay")
    def replay(
        ids: Annotated[list[int], typer.Argument(help="outbox ids of dead letters")],
    ) -> None:
        """Send dead letters again from scratch (attempts reset, due now)."""
        with open_ledger() as ledger:
            try:
                replayed = ledger.replay_dead(ids, datetime.now(UTC))
            except LedgerError as exc:
                fail(str(exc))
        missing = sorted(set(ids) - set(replayed))
        typer.echo(f"replayed {len(replayed)}: {' '.join(map(str, replayed)) or '-'}")
        if missing:
            fail(f"not dead letters (left alone): {' '.join(map(str, missing))}", code=1)

    @ledger_app.command("failed")
    def failed(as_json: JsonFlag = False) -> None:
        """What failed and is kept for inspection, latest first: facts (inbox rows, with their
        ids for retry-inbox) and timers, each with why."""
        with open_ledger() as ledger:
            facts, timers = ledger.failed()
        if as_json:
            typer.echo(json.dumps({"facts": facts, "timers": timers}, indent=2, default=str))
            return
        if not facts and not timers:
            typer.echo("nothing failed")
            return
        for f in facts:
            typer.echo(f"fact {f['id']}\t{f['tool']} {f['kind']}\t{f['received_at']:%Y-%m-%d %H:%M}Z\t"
                       f"{f['onboarding_id'] or '-'}\t{f['error'] or ''}")
        for t in timers:
            typer.echo(f"timer {t['key']}\t{t['onboarding_id']}\t{t['rule']}\tfailed {t['updated_at']:%Y-%m-%d %H:%M}Z"
                       f"\t{t['error'] or ''}")

    @ledger_app.command("retry-inbox")
    def retry_inbox(
        ids: Annotated[list[int] | None, typer.Argument(help="inbox ids of failed facts (default: all)")] = None,
    ) -> None:
        """Decide failed facts again (their mapping or playbook is fixed): pending, attempts
        reset; the next process-inbox decides them anew (kickoff ledger failed lists them)."""
        with open_ledger() as ledger:
            retried = ledger.retry_failed_inbox(ids or None)
        typer.echo(f"{len(retried)} failed fact{'s' if len(retried) != 1 else ''} pending again: "
                   f"{' '.join(map(str, retried)) or '-'}")
        missing = sorted(set(ids or ()) - set(retried))
        if missing:
            fail(f"not failed (left alone): {' '.join(map(str, missing))}", code=1)

    @ledger_app.command("retry-timers")
    def retry_timers(
        onboarding: Annotated[
            list[str] | None, typer.Option("--onboarding", help="only this onboarding's (repeatable)")
        ] = None,
    ) -> None:
        """Fire failed timers again (their playbook line is fixed): pending at their own moment,
        so the next tick decides them as they were set. Why each failed: kickoff ledger failed,
        or its onboarding's story (kickoff onboarding show)."""
        with open_ledger() as ledger:
            count = ledger.retry_failed_timers(onboarding or None, datetime.now(UTC))
        typer.echo(f"{count} failed timer{'s' if count != 1 else ''} pending again")

    @ledger_app.command("resume")
    def resume(
        tool: Annotated[str, typer.Argument(help="a tool paused after refused credentials")],
    ) -> None:
        """Push to a paused tool again, once its credentials are fixed."""
        with open_ledger() as ledger:
            was_paused = ledger.resume_tool(tool)
        typer.echo(f"{tool} resumed" if was_paused else f"{tool} was not paused")

    app.add_typer(ledger_app, name="ledger")
