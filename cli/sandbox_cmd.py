"""``kickoff sandbox``: serve the local stand-in for every vendor until interrupted."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import typer
import yaml

from cli.output import fail


def register(app: typer.Typer) -> None:
    @app.command("sandbox")
    def sandbox(
        host: str = typer.Option("127.0.0.1", help="loopback by default"),
        port: int = typer.Option(0, help="0 picks a free port"),
        smtp_port: int = typer.Option(0, help="0 picks a free port"),
        fixture: Path | None = typer.Option(None, help="YAML/JSON fixture to seed the vendors with"),
        no_limits: bool = typer.Option(False, "--no-limits", help="turn the vendors' rate limits off"),
        time_scale: float = typer.Option(1.0, help="rate-limit windows run this many times faster"),
        env_file: Path | None = typer.Option(None, help="also write the settings to this file"),
    ) -> None:
        """Serve HubSpot, Salesforce, Zendesk, Movidesk, Asana, Slack, Dealbuilder webhooks and SMTP."""
        from sandbox.server import SandboxServer

        server = SandboxServer(host=host, port=port, smtp_port=smtp_port or None,
                               limits_enabled=not no_limits, time_scale=time_scale)
        if fixture is not None:
            try:
                server.sandbox.seed(yaml.safe_load(fixture.read_text(encoding="utf-8")) or {})
            except (OSError, yaml.YAMLError, ValueError, KeyError, TypeError) as exc:
                fail(f"{fixture}: cannot seed the sandbox: {exc}")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        with server:
            env = server.environment()
            lines = [f"export {k}={json.dumps(v)}" for k, v in sorted(env.items())]
            typer.echo(f"# Kickoff sandbox on {server.url} (admin: {server.url}/_sandbox/, SMTP {server.smtp.port})")
            typer.echo("# These settings point Kickoff at it (sandbox credentials, not secrets):")
            typer.echo("\n".join(lines), nl=True)
            if env_file is not None:
                env_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
            stop.wait()
