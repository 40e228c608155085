"""Serve every deployment (``prefect.serve``) in this process, with the safety sweep beside
it: what ``kickoff up`` runs as its child, in a process group of its own, so that stopping
``up`` stops it and every flow run it started (Prefect's runner handles SIGTERM by waiting on
itself, so it is stopped from outside)."""

from __future__ import annotations


def main() -> None:
    from prefect import serve

    from flows.deployments import all_deployments
    from flows.runtime import default_runtime
    from flows.sweep import SweepLoop

    rt = default_runtime()
    SweepLoop(rt).start_thread()  # replaces the safety schedules: a run only when work is due
    serve(*all_deployments(set(rt.config.tools), sweeping=True))


if __name__ == "__main__":
    main()
