"""``kickoff schema events|actions``: the JSON Schema of the event format and of the action."""

from __future__ import annotations

import json

import typer

from kickoff.event_input import events_schema
from kickoff.model import Action

__all__ = ["events_schema", "register"]


def register(app: typer.Typer) -> None:
    schema_app = typer.Typer(help="Print JSON Schemas of the canonical model.", no_args_is_help=True)

    @schema_app.command("events")
    def events() -> None:
        """JSON Schema of an event as events files and POST /webhooks/events take it: one
        schema per event type, its data's keys and no others; with one example per type."""
        typer.echo(json.dumps(events_schema(), indent=2, ensure_ascii=False))

    @schema_app.command("actions")
    def actions() -> None:
        """JSON Schema of the canonical Action."""
        typer.echo(json.dumps(Action.model_json_schema(), indent=2))

    app.add_typer(schema_app, name="schema")
