"""``kickoff simulate`` and ``kickoff playbook check|list``: playbooks without any tool."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from cli.output import fail
from kickoff.playbooks import (
    EventsFileError,
    PlaybookError,
    check_files,
    load_playbook,
    parse_events,
    playbook_files,
    playbooks_dir,
    simulate,
    to_jsonl,
    to_table,
)
from kickoff.settings import (
    ConfigError,
    KickoffSettings,
    TenantConfig,
    TenantsFile,
    load_yaml_model,
)

_PACKAGE_CONFIG = Path(__file__).resolve().parents[2] / "config"
ConfigDirOption = Annotated[
    Path | None, typer.Option("--config-dir", help="default: KICKOFF_CONFIG_DIR or ./config")
]


def _config_dir(config_dir: Path | None) -> Path:
    """The config folder: the option, else KICKOFF_CONFIG_DIR / ./config, else the checkout's."""
    if config_dir is not None:
        return config_dir
    here = KickoffSettings().config_dir
    return here if here.is_dir() else _PACKAGE_CONFIG


def _tenant_for(config_dir: Path, playbook: str, tenant: str | None) -> tuple[str | None, ZoneInfo | None]:
    """The tenant (named, or the first one running ``playbook``) and its time zone."""
    path = config_dir / "tenants.yaml"
    if tenant is None and not path.is_file():
        return None, None
    try:
        tenants: dict[str, TenantConfig] = load_yaml_model(path, TenantsFile).tenants
    except ConfigError as exc:
        if tenant is None:
            return None, None
        fail(str(exc))
    if tenant is not None:
        if tenant not in tenants:
            fail(f"{path}: tenants.{tenant}: a configured tenant")
        return tenant, tenants[tenant].zone
    for key, config in tenants.items():
        if config.playbook == playbook:
            return key, config.zone
    return None, None


def _parse_until(text: str | None, zone: ZoneInfo) -> datetime | None:
    if text is None:
        return None
    try:
        until = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--until: an ISO-8601 date or time, got {text!r}")
    return until if until.tzinfo else until.replace(tzinfo=zone)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_cmd(
        playbook: Annotated[str, typer.Option("--playbook", "-p", help="playbook name (config/playbooks/NAME.yaml)")],
        events: Annotated[Path, typer.Option("--events", "-e", help="canonical events, one JSON object a line")],
        until: Annotated[
            str | None, typer.Option("--until", help="run timers up to this ISO-8601 time (default: until none is left)")
        ] = None,
        tenant: Annotated[
            str | None, typer.Option("--tenant", "-t", help="tenant whose time zone to use (default: the one running it)")
        ] = None,
        output: Annotated[str, typer.Option("--format", "-f", help="json (JSON lines) or table")] = "json",
        config_dir: ConfigDirOption = None,
    ) -> None:
        """Run a playbook on an events file with a virtual clock; print every action in order."""
        if output not in ("json", "table"):
            fail(f"--format: json or table, got {output!r}")
        folder = _config_dir(config_dir)
        try:
            pb = load_playbook(folder / "playbooks" / f"{playbook}.yaml")
        except PlaybookError as exc:
            fail(str(exc))
        tenant_key, zone = _tenant_for(folder, playbook, tenant)
        zone = zone or pb.zone
        try:
            text = events.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{events}: cannot read ({exc.strerror})")
        try:
            parsed = parse_events(text.splitlines(), zone)
        except EventsFileError as exc:
            fail(f"{events}:{exc.line}: {exc.reason}")
        result = simulate(pb, parsed, until=_parse_until(until, zone), tz=zone, tenant=tenant_key)
        sys.stdout.write(to_table(result.actions) if output == "table" else to_jsonl(result.actions))

    playbook_app = typer.Typer(help="Check and list the playbooks in config/playbooks.", no_args_is_help=True)

    @playbook_app.command("check")
    def check(
        files: Annotated[
            list[Path] | None, typer.Argument(help="playbook files (default: every config/playbooks/*.yaml)")
        ] = None,
        config_dir: ConfigDirOption = None,
    ) -> None:
        """Load and check every playbook; each problem as file:line: message on stderr."""
        paths = list(files or []) or playbook_files(_config_dir(config_dir) / "playbooks")
        if not paths:
            fail(f"no playbook in {playbooks_dir(_config_dir(config_dir) / 'playbooks')}")
        problems = check_files(paths)
        for problem in problems:
            typer.echo(str(problem), err=True)
        if problems:
            fail(f"{len(problems)} problem(s) in {len(paths)} playbook(s)", code=1)
        typer.echo(f"playbooks ok: {len(paths)} checked")

    @playbook_app.command("list")
    def list_cmd(config_dir: ConfigDirOption = None) -> None:
        """Each playbook: name, rule family, seed, stages."""
        for path in playbook_files(_config_dir(config_dir) / "playbooks"):
            try:
                pb = load_playbook(path)
            except PlaybookError as exc:
                typer.echo(f"{path.stem}\t(does not load: {exc})")
                continue
            typer.echo(f"{pb.name}\t{pb.family}\tseed {pb.seed}\t{pb.timezone}\t{', '.join(pb.stages)}")

    app.add_typer(playbook_app, name="playbook")
