"""Going live against the sandbox: the default fixture seeded, the config pointed at it, and the
command line run in-process (``kickoff ...`` through typer's runner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cli import app
from tests.conftest import REPO

FIXTURES = REPO / "sandbox" / "fixtures"


def fixture(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))


def kickoff(*args: str) -> Result:
    """One ``kickoff`` command, in-process; stdout and stderr kept apart."""
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def seeded(sandbox, sandbox_env) -> Any:
    """The sandbox with the default fixture (what config/mappings refer to), config pointed at it."""
    sandbox.seed(fixture("default"))
    return sandbox


@pytest.fixture
def config_copy(tmp_path: Path, sandbox_env, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of config/ to change (``KICKOFF_CONFIG_DIR`` points at it)."""
    import shutil

    target = tmp_path / "config"
    shutil.copytree(REPO / "config", target)
    monkeypatch.setenv("KICKOFF_CONFIG_DIR", str(target))
    return target
