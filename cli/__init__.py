"""The ``kickoff`` command: an adapter over the core, the flows and the sandbox. Each area adds
its commands from its own module (``register(app)``); heavy imports happen inside commands."""

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
    "cli.config_cmd",
    "cli.connect_cmd",
    "cli.discover_cmd",
    "cli.ledger_cmd",
    "cli.schema_cmd",
    "cli.playbook_cmd",
    "cli.sandbox_cmd",
    "cli.limits_cmd",
    "cli.alerts_cmd",
    "cli.blocks_cmd",
    "cli.gateway_cmd",
    "cli.stack_cmd",
    "cli.webhooks_cmd",
    "cli.adopt_cmd",
)

for _name in _AREAS:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console-script entry point."""
    app()
