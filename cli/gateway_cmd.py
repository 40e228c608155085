"""``kickoff gateway``: receive the vendors' webhooks until interrupted."""

from __future__ import annotations

import logging
import signal
import threading

import typer

from cli.output import config_or_fail, fail
from kickoff.tools import declared


def _help() -> str:
    tools = ", ".join(t.name for t in declared() if t.webhooks is not None)
    return (f"Serve /webhooks/<tool> ({tools}), /webhooks/events (canonical, bearer token) and "
            "GET / (health).")


def register(app: typer.Typer) -> None:
    @app.command("gateway", help=_help())
    def gateway(
        host: str = typer.Option("127.0.0.1", help="loopback by default; 0.0.0.0 behind a proxy"),
        port: int = typer.Option(8787, help="0 picks a free port (printed)"),
        max_body_bytes: int = typer.Option(
            1024 * 1024, min=1, envvar="KICKOFF_GATEWAY_MAX_BODY_BYTES",
            help="larger requests are answered 413"),
        log_level: str = typer.Option("info", help="debug, info, warning or error"),
    ) -> None:
        """Receive the vendors' webhooks until interrupted (help: the declared webhook tools)."""
        from gateway.app import create_app
        from gateway.server import GatewayServer
        from kickoff.ledger import Ledger

        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = config_or_fail()
        try:
            ledger = Ledger.open(settings=config.settings)
        except Exception as exc:  # noqa: BLE001 - unreachable or not migrating; the URL may hold a password
            fail(f"cannot open the ledger ({type(exc).__name__}); check KICKOFF_DATABASE_URL")
        with ledger:
            try:
                server = GatewayServer(create_app(ledger, config=config, max_body_bytes=max_body_bytes),
                                       host=host, port=port, log_level=log_level.lower())
            except OSError as exc:
                fail(f"cannot listen on {host}:{port}: {exc.strerror}")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            with server:  # started (listening) before the URL is printed
                logging.getLogger("gateway").info("HTTP parser %s, event loop %s", server.http, server.loop)
                typer.echo(f"Kickoff gateway on {server.url} (webhooks at {server.url}/webhooks/<tool>)")
                stop.wait()
