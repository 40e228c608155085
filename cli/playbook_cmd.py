"""``kickoff simulate`` and ``kickoff playbook check|list``: playbooks without any tool."""

from __future__ import annotations

import dataclasses
import sys
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from cli.output import fail
from kickoff.playbooks import (
    EventsFileError,
    Playbook,
    PlaybookError,
    SimIgnored,
    check_files,
    load_playbook,
    numbered_events,
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


def _tenants(config_dir: Path, needed: bool) -> dict[str, TenantConfig]:
    """The configured tenants ({} when there is no tenants.yaml and none is asked for)."""
    path = config_dir / "tenants.yaml"
    if not needed and not path.is_file():
        return {}
    try:
        return load_yaml_model(path, TenantsFile).tenants
    except ConfigError as exc:
        if not needed:
            return {}
        fail(str(exc))


def _tenant_for(config_dir: Path, playbook: str | None, tenant: str | None) -> tuple[str | None, TenantConfig | None]:
    """The tenant named (it must run ``playbook``), else the first one running ``playbook``."""
    tenants = _tenants(config_dir, needed=tenant is not None)
    if tenant is None:
        return next(((key, config) for key, config in tenants.items() if config.playbook == playbook), (None, None))
    if tenant not in tenants:
        fail(f"--tenant: {tenant!r} is not a tenant of {config_dir / 'tenants.yaml'}; one of {', '.join(tenants)}")
    config = tenants[tenant]
    if playbook is not None and config.playbook != playbook:
        runs = [key for key, c in tenants.items() if c.playbook == playbook]
        fail(f"--tenant: {tenant} runs the playbook {config.playbook}, not {playbook} "
             f"(in its time zone and calendar); " + (f"{playbook} is run by {', '.join(runs)}" if runs
                                                     else "leave out --tenant"))
    return tenant, config


def _playbook(folder: Path, name: str) -> Playbook:
    """The playbook ``name``; if there is none, the ones there are."""
    path = folder / "playbooks" / f"{name}.yaml"
    if not path.is_file():
        there = ", ".join(p.stem for p in playbook_files(folder / "playbooks")) or "none"
        fail(f"--playbook: no playbook {name!r} in {folder / 'playbooks'}; the playbooks: {there}")
    try:
        return load_playbook(path)
    except PlaybookError as exc:
        fail(str(exc))


def _parse_until(text: str | None, zone: ZoneInfo) -> datetime | None:
    """A time (without an offset: the tenant's), or a date: the end of that day, there."""
    if text is None:
        return None
    try:
        if len(text) == len("2024-10-24"):
            return datetime.combine(date.fromisoformat(text), time.max, tzinfo=zone)
        until = datetime.fromisoformat(text)
    except ValueError:
        fail(f"--until: a date (2024-10-24: to the end of that day) or a time (2024-10-24T12:00), got {text!r}")
    return until if until.tzinfo else until.replace(tzinfo=zone)


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate_cmd(
        events: Annotated[Path, typer.Option(
            "--events", "-e", help="events file: one event a line, as `kickoff schema events` prints")],
        playbook: Annotated[str | None, typer.Option(
            "--playbook", "-p", help="playbook name (config/playbooks/NAME.yaml); default: the tenant's")] = None,
        until: Annotated[str | None, typer.Option(
            "--until", help="stop the clock at this time, or at the end of this date, in the tenant's zone "
                            "(default: when no timer is left)")] = None,
        tenant: Annotated[str | None, typer.Option(
            "--tenant", "-t", help="a tenant running the playbook: its time zone and calendar "
                                   "(default: the first one running it)")] = None,
        output: Annotated[str, typer.Option("--format", "-f", help="json (JSON lines) or table")] = "json",
        config_dir: ConfigDirOption = None,
    ) -> None:
        """Run a playbook on an events file with a virtual clock: every action in order, with its
        due time, and every event it ignored, with why. A time without an offset is the tenant's."""
        if output not in ("json", "table"):
            fail(f"--format: json or table, got {output!r}")
        if playbook is None and tenant is None:
            fail("--playbook or --tenant: which playbook to run")
        folder = _config_dir(config_dir)
        tenant_key, config = _tenant_for(folder, playbook, tenant)
        pb = _playbook(folder, playbook or (config.playbook if config else ""))
        zone = config.zone if config else pb.zone
        try:
            text = events.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{events}: cannot read ({exc.strerror})")
        try:
            numbered = numbered_events(text.splitlines(), zone, tenant_key)
        except EventsFileError as exc:
            fail(f"{events}:{exc.line}: {exc.reason}")
        result = simulate(pb, [event for _, event in numbered], until=_parse_until(until, zone), tz=zone,
                          tenant=tenant_key, calendar=config.calendar if config else None,
                          recent_days=config.recent_days if config else None)
        items = [dataclasses.replace(i, number=numbered[i.number - 1][0]) if isinstance(i, SimIgnored) else i
                 for i in result.timeline]
        sys.stdout.write(to_table(items) if output == "table" else to_jsonl(items))

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
