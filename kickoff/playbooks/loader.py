"""Reading playbooks from config/playbooks/*.yaml, with the file and line of every error."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from kickoff.playbooks.spec import Playbook
from kickoff.yamlfile import (
    LINE_KEY,
    ConfigError,
    YamlSyntaxError,
    read_yaml,
    validation_error,
)

DEFAULT_DIR = Path("config") / "playbooks"
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class PlaybookError(Exception):
    """A playbook that does not load or does not check: where, and what is wrong."""

    def __init__(self, file: Path | str, line: int | None, message: str) -> None:
        self.file, self.line, self.message = str(file), line, message
        super().__init__(f"{file}:{line or '?'}: {message}")


def playbooks_dir(folder: Path | str | None = None) -> Path:
    """``folder``, else ./config/playbooks, else the one next to the package (a checkout)."""
    if folder is not None:
        return Path(folder)
    from kickoff.settings import KickoffSettings

    here = KickoffSettings().config_dir / "playbooks"
    return here if here.is_dir() else _PACKAGE_ROOT / DEFAULT_DIR


def load_playbook(path: Path | str) -> Playbook:
    """Load one playbook file; raises PlaybookError with the line of the first problem."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except YamlSyntaxError as exc:
        raise PlaybookError(path, exc.line, f"not valid YAML: {exc.problem}") from None
    except ConfigError:  # the file is not there
        raise PlaybookError(path, None, "no such playbook file") from None
    if not isinstance(raw, dict):
        raise PlaybookError(path, 1, "a playbook is a mapping (playbook:, stages:, triggers: ...)")
    try:
        playbook = Playbook.model_validate(raw)
    except ValidationError as exc:
        problem = validation_error(path, raw, exc)
        raise PlaybookError(path, problem.line, f"{problem.field}: {problem.expected}") from None
    if playbook.playbook != path.stem:
        raise PlaybookError(path, raw.get(LINE_KEY), f"playbook: {playbook.playbook!r} must "
                            f"match the file name {path.stem!r}")
    return playbook.model_copy(update={"source": str(path)})


def find_playbook(name: str, folder: Path | str | None = None) -> Playbook:
    """The playbook called ``name`` in the playbooks folder."""
    return load_playbook(playbooks_dir(folder) / f"{name}.yaml")


def playbook_files(folder: Path | str | None = None) -> list[Path]:
    return sorted(playbooks_dir(folder).glob("*.yaml"))
