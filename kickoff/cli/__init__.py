"""The ``kickoff`` command. Each area adds its commands from its own module (``register(app)``)."""

from __future__ import annotations

import importlib

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
    "kickoff.cli.run_cmd",
)

for _name in _AREAS:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as exc:  # an area not built yet: the rest still works
        if exc.name != _name:
            raise
        continue
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
