"""``python -m soak.scaleout [--runs N] [--seed S] [--limiter prefect|local] [--load-only] [--realtime]``."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from functools import partial
from pathlib import Path

from soak.scaleout.stack import REPO, scaleout_stack


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m soak.scaleout")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--steps-only", action="store_true", help="bring steps 1-4 up, prove them, tear down")
    p.add_argument("--no-contend", action="store_true", help="keep push-* concurrency_limit 1")
    p.add_argument("--limiter", choices=("prefect", "local"), default="prefect",
                   help="local: one bucket per flow-run process (the control run: expect 429s)")
    p.add_argument("--realtime", action="store_true",
                   help="prefect.yaml as it is (schedules, triggers), wall clock; a fresh stack per run")
    p.add_argument("--load-only", action="store_true", help="only the load phase (with --limiter: the comparison)")
    p.add_argument("--workdir", type=Path, default=REPO / ".kickoff" / "scaleout")
    a = p.parse_args(argv)
    # SIGTERM (a CI timeout, kill) unwinds like Ctrl-C: every process stopped, every database dropped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    # imported here, after the stack has set Prefect's environment (read at Prefect's first import)
    if a.realtime:
        from soak.scaleout.drive import run_many, run_one
        from soak.scaleout.realtime import RealtimeRun

        ok = True
        for seed in range(a.seed, a.seed + a.runs):
            with scaleout_stack(a.workdir / f"realtime-{seed}", workers=a.workers, virtual_clock=False,
                                contend=False, limiter=a.limiter) as st:
                ok = run_many(st, [seed], run=partial(run_one, variant=RealtimeRun)) and ok
        return _finish(started, ok)
    with scaleout_stack(a.workdir, workers=a.workers, contend=not a.no_contend, limiter=a.limiter) as st:
        if a.steps_only:
            print("steps 1-4 up; tearing down")
            return 0
        from soak.scaleout.drive import LoadOnlyRun, run_many, run_one

        run = partial(run_one, variant=LoadOnlyRun) if a.load_only else run_one
        ok = run_many(st, list(range(a.seed, a.seed + a.runs)), run=run)
    return _finish(started, ok)


def _finish(started: float, ok: bool) -> int:
    from soak.scaleout import pg

    print(f"done in {time.monotonic() - started:.0f} s; leftover databases: {pg.leftover_databases()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
