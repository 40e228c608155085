"""Reading playbooks from config/playbooks/*.yaml, with the file and line of every error."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from kickoff.engine.spec import Playbook
from kickoff.engine.yamlload import line_at, load_with_lines

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
        raw = load_with_lines(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlaybookError(path, None, "no such playbook file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PlaybookError(path, mark.line + 1 if mark else None, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(raw, dict):
        raise PlaybookError(path, 1, "a playbook is a mapping (playbook:, stages:, triggers: ...)")
    try:
        playbook = Playbook.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        where = ".".join(str(p) for p in loc) or "(top level)"
        raise PlaybookError(path, line_at(raw, loc), f"{where}: {err['msg']}") from None
    if playbook.playbook != path.stem:
        raise PlaybookError(path, raw.get("__line__"), f"playbook: {playbook.playbook!r} must match the file name {path.stem!r}")
    return playbook.model_copy(update={"source": str(path)})


def find_playbook(name: str, folder: Path | str | None = None) -> Playbook:
    """The playbook called ``name`` in the playbooks folder."""
    return load_playbook(playbooks_dir(folder) / f"{name}.yaml")


def playbook_files(folder: Path | str | None = None) -> list[Path]:
    return sorted(playbooks_dir(folder).glob("*.yaml"))
