"""``python -m bench [calls|throughput|gateway|tick|simulate ...] [--quick]``: run the benchmarks
(all of them by default, in that order), each printing its figures and the bound they are
compared with. ``make bench`` runs them all. ``python -m bench idle --minutes 10`` (asked for
by name only: it takes its minutes) counts the runs an idle ``kickoff up`` makes."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import time

BENCHMARKS = {
    "calls": "bench.bench_calls",
    "throughput": "bench.bench_throughput",
    "gateway": "bench.bench_gateway",
    "tick": "bench.bench_tick",
    "simulate": "bench.bench_simulate",
}
BY_NAME_ONLY = {"idle": "bench.bench_idle"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, *BY_NAME_ONLY, []], metavar="NAME",
                        help=f"which benchmarks ({', '.join([*BENCHMARKS, *BY_NAME_ONLY])}); default all but idle")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a quick look, not the figures)")
    parser.add_argument("--minutes", type=float, default=None, help="idle: how long the stack is left alone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = args.names or list(BENCHMARKS)
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        if name in BY_NAME_ONLY:
            importlib.import_module(BY_NAME_ONLY[name]).run(quick=args.quick, minutes=args.minutes)
        else:
            importlib.import_module(BENCHMARKS[name]).run(quick=args.quick)
        print(f"-- {name}: {time.perf_counter() - t0:.0f} s\n", flush=True)
    print(f"== all done in {time.perf_counter() - started:.0f} s ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())
