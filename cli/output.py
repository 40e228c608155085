"""How the CLI fails: one line on stderr naming the file and field, and a non-zero exit."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as one line on stderr and exit with ``code``."""
    print(f"kickoff: {message}".replace("\n", " "), file=sys.stderr)
    raise typer.Exit(code)
