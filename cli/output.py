"""How the CLI fails: one line on stderr naming the file and field, and a non-zero exit."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from kickoff.settings import Config


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``message`` as one line on stderr and exit with ``code``."""
    print(f"kickoff: {message}".replace("\n", " "), file=sys.stderr)
    raise typer.Exit(code)


def config_or_fail(config_dir: Path | None = None) -> Config:
    """The configuration (``config_dir``, or KICKOFF_CONFIG_DIR or ./config); a wrong file is
    one ``fail`` line naming the file, the field and what was expected."""
    from kickoff.settings import ConfigError, load_config

    try:
        return load_config(config_dir)
    except ConfigError as exc:
        fail(str(exc))
