"""``kickoff demo``, ``kickoff up`` and ``kickoff run``: the commands that run the flows.

Heavy imports (Prefect, the vendor clients) happen inside the commands.
"""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        home: Path = typer.Option(Path(".kickoff/demo"), help="where the demo keeps its ledger and Prefect server"),
        days: int = typer.Option(60, help="virtual days to play"),
        prefect: bool = typer.Option(True, help="run the flows on a local Prefect server (off: call them directly)"),
    ) -> None:
        """Play the five onboarding procedures against the sandbox on a virtual clock."""
        from flows.demo.main import run_demo
        from flows.local.up import stop_on_sigterm

        stop_on_sigterm()  # a killed demo still stops the Prefect server it started
        raise typer.Exit(run_demo(home=home, days=days, use_prefect=prefect))

    @app.command("up")
    def up(
        sandbox: bool = typer.Option(False, "--sandbox", help="also serve the sandbox and point Kickoff at it"),
        home: Path = typer.Option(Path(".kickoff"), help="KICKOFF_HOME: ledger and local Prefect server"),
        prefect_port: int = typer.Option(4200, help="the local Prefect server's port (UI and API)"),
        gateway_port: int = typer.Option(8787, help="the webhook gateway's port"),
    ) -> None:
        """The whole stack on one machine: Prefect server, every deployment served, the gateway."""
        from flows.local.up import run_up

        raise typer.Exit(run_up(home=home, with_sandbox=sandbox, prefect_port=prefect_port, gateway_port=gateway_port))

    @app.command("run")
    def run(
        step: str = typer.Argument(..., help="poll TOOL | process-inbox | tick | push TOOL | reconcile"),
        tool: str = typer.Argument(None),
    ) -> None:
        """Run one step once, in this process, without Prefect (for ops and debugging)."""
        from flows.runtime import default_runtime, utcnow
        from flows.steps import ingest, process, push

        rt = default_runtime()
        now = utcnow()
        if step == "poll" and tool:
            typer.echo(ingest.poll(rt, tool, now))
        elif step == "process-inbox":
            typer.echo(process.process_inbox(rt, now))
        elif step == "tick":
            typer.echo(process.tick(rt, now))
        elif step == "push" and tool:
            typer.echo(push.push(rt, tool, now).summary())
        else:
            raise typer.BadParameter(f"unknown step {step!r} (or missing tool)")
