"""The ``kickoff`` command. Each area adds its commands from its own module (``register(app)``)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import typer

app = typer.Typer(
    name="kickoff",
    help="Kickoff: customer onboarding across the SaaS tools a company already uses.",
    no_args_is_help=True,
    add_completion=False,
)

# One module per area; each defines register(app). Order is the order of --help.
_AREAS = (
    "kickoff.cli.config_cmd",
    "kickoff.cli.ledger_cmd",
    "kickoff.cli.schema_cmd",
    "kickoff.cli.playbook_cmd",
    "kickoff.cli.sandbox_cmd",
    "kickoff.cli.limits_cmd",
    "kickoff.cli.gateway_cmd",
)

for _name in _AREAS:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # an area not built yet: the rest still works
        if exc.name != _name:
            raise
        continue
    _module.register(app)

# Commands that need the flows (demo, up, run) come from the "kickoff.cli" entry point
# group, so the core never imports flows/ (see pyproject.toml).
for _entry in entry_points(group="kickoff.cli"):
    _entry.load()(app)


def main() -> None:
    """Console-script entry point."""
    app()
