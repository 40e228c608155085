"""``python -m bench [calls|throughput|gateway|tick|simulate ...] [--quick]``: run the benchmarks
(all of them by default, in that order), each printing its figures and the bound they are
compared with. ``make bench`` runs them all."""

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], metavar="NAME",
                        help=f"which benchmarks ({', '.join(BENCHMARKS)}); default all")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a quick look, not the figures)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    names = args.names or list(BENCHMARKS)
    started = time.perf_counter()
    for name in names:
        t0 = time.perf_counter()
        importlib.import_module(BENCHMARKS[name]).run(quick=args.quick)
        print(f"-- {name}: {time.perf_counter() - t0:.0f} s\n", flush=True)
    print(f"== all done in {time.perf_counter() - started:.0f} s ==")
    return 0


if __name__ == "__main__":
    sys.exit(main())
