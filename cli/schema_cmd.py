"""``kickoff schema events|actions``: the JSON Schema of the canonical event and action."""

from __future__ import annotations

import json
from typing import Any

import typer

from kickoff.events import EVENT_DATA_MODELS
from kickoff.model import Action, Event


def events_schema() -> dict[str, Any]:
    """The Event envelope, plus the schema of ``data`` for each event type."""
    schema = Event.model_json_schema()
    schema["x-event-data"] = {t.value: m.model_json_schema() for t, m in EVENT_DATA_MODELS.items()}
    return schema


def register(app: typer.Typer) -> None:
    schema_app = typer.Typer(help="Print JSON Schemas of the canonical model.", no_args_is_help=True)

    @schema_app.command("events")
    def events() -> None:
        """JSON Schema of the canonical Event and of each event type's data."""
        typer.echo(json.dumps(events_schema(), indent=2))

    @schema_app.command("actions")
    def actions() -> None:
        """JSON Schema of the canonical Action."""
        typer.echo(json.dumps(Action.model_json_schema(), indent=2))

    app.add_typer(schema_app, name="schema")
