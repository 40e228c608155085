"""Side by side with a baseline checkout, in one run on the same machine: each benchmark runs
in the baseline (its own ``.venv``) and in this checkout, alternately, and the figures are
printed as "baseline | now" tables. Machines differ and load varies over minutes, which is
why a figure is only compared with one measured in the same run.

Run: ``.venv/bin/python -m bench.compare gateway tick throughput --baseline ../base [--rounds 2] [--quick]``
where ``../base`` is e.g. ``git worktree add ../base 73c149d`` with a venv of its own
(``python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'``). PostgreSQL rows too when
``KICKOFF_BENCH_DATABASE_URL`` is set. One function per benchmark: ``compare_<name>``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from bench.common import REPO, backends, note, print_table

Checkout = tuple[str, Path]  # (label, root with its own .venv)


def run_bench(root: Path, name: str, quick: bool, timeout: float = 1800) -> str:
    """``python -m bench NAME`` in ``root`` with ``root``'s own interpreter; its printed output."""
    command = [str(root / ".venv" / "bin" / "python"), "-m", "bench", name, *(["--quick"] if quick else [])]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(command, check=False, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"bench {name} failed in {root}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def table_rows(output: str, first_header: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose first header is ``first_header``, as dicts."""
    lines = [line.strip() for line in output.splitlines()]
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            rows = []
            for body in lines[i + 2:]:
                if not body.startswith("|"):
                    break
                rows.append(dict(zip(cells, (c.strip() for c in body.strip("|").split("|")), strict=True)))
            return rows
    raise ValueError(f"no table starting with {first_header!r} in the output")


def _median(values: list[str]) -> str:
    numbers = [float(v.replace(",", "")) for v in values]
    return f"{statistics.median(numbers):.1f}"


def _collect_runs(checkouts: list[Checkout], rounds: int, quick: bool, bench: str,
                  key: str) -> dict[tuple[str, str], list[dict[str, str]]]:
    """``bench <bench>`` in each checkout, alternately (so load on the machine falls on all
    alike): (row's ``key`` column, checkout label) -> that row of each round."""
    runs: dict[tuple[str, str], list[dict[str, str]]] = {}
    for n in range(rounds):
        for label, root in checkouts:
            print(f"-- {bench}, round {n + 1}/{rounds}: {label} ({root.name})", flush=True)
            for row in table_rows(run_bench(root, bench, quick), key):
                runs.setdefault((row[key], label), []).append(row)
    return runs


def compare_gateway(checkouts: list[Checkout], rounds: int, quick: bool) -> None:
    """``bench gateway`` in each checkout, alternately: ack p50/p99/max, deliveries/s and
    acknowledged-but-missing per ledger backend, each run and the median over the rounds."""
    figures = ["deliveries/s", "ack p50 ms", "ack p99 ms", "max ms", "acked 2xx", "acked but missing"]
    runs = _collect_runs(checkouts, rounds, quick, "gateway", "ledger")
    rows = []
    for (backend, label), measured in runs.items():
        for n, row in enumerate(measured, 1):
            rows.append([backend, label, str(n), *(row[f] for f in figures)])
    print_table("Gateway, each run (same load, alternately)", ["ledger", "checkout", "round", *figures], rows)
    backends = sorted({backend for backend, _ in runs}, key=lambda b: (b != "sqlite", b))
    summary = []
    for backend in backends:
        cells: list[str] = [backend]
        for figure in ("deliveries/s", "ack p50 ms", "ack p99 ms", "max ms"):
            for label, _ in checkouts:
                cells.append(_median([row[figure] for row in runs[(backend, label)]]))
        for label, _ in checkouts:
            cells.append(str(sum(int(row["acked but missing"]) for row in runs[(backend, label)])))
        base_p99, now_p99 = (float(cells[5]), float(cells[6])) if len(checkouts) == 2 else (0.0, 0.0)
        cells.append(f"{now_p99 / base_p99:.2f}" if base_p99 else "-")
        summary.append(cells)
    labels = [label for label, _ in checkouts]
    headers = ["ledger", *(f"{f} {label}" for f in ("deliveries/s", "p50 ms", "p99 ms", "max ms") for label in labels),
               *(f"missing {label}" for label in labels), "p99 now/baseline"]
    print_table(f"Gateway: baseline vs now (median of {rounds} round(s))", headers, summary)


def _table_row(checkout: Path, module: str, *args: str) -> dict[str, str]:
    """Run ``python -m module args`` with ``checkout``'s own interpreter, in ``checkout``; the
    last row of the Markdown table it prints, by header."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    out = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-m", module, *args],
                         cwd=checkout, env=env, capture_output=True, text=True, check=True).stdout
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in out.splitlines() if line.startswith("| ") and not line.startswith("|--")]
    return dict(zip(rows[0], rows[-1], strict=True))


def compare_tick(checkouts: list[Checkout], rounds: int, quick: bool,
                 size: int = 10_000, big: int = 100_000) -> None:
    """The tick over ``size`` due onboardings in each checkout, interleaved, ``rounds`` times per
    backend (ms per timer, ratio of the medians); then ``big`` onboardings on this checkout alone
    (SQLite) for its memory."""
    if quick:
        size, big = 2_000, 0
    note(f"== tick: {size:,} due onboardings, checkouts interleaved, {rounds} round(s) per backend ==")
    (base_label, _), (now_label, now_root) = checkouts
    rows = []
    for backend in backends():
        measured: dict[str, list[float]] = {base_label: [], now_label: []}
        for _ in range(rounds):
            for label, root in checkouts:
                row = _table_row(root, "bench.bench_tick", "--size", str(size), "--backend", backend)
                measured[label].append(float(row["ms/timer"]))
        base, now = statistics.median(measured[base_label]), statistics.median(measured[now_label])
        rows.append([backend, f"{size:,}", " / ".join(f"{v:.2f}" for v in measured[base_label]),
                     " / ".join(f"{v:.3f}" for v in measured[now_label]), f"{base / now:.1f}x"])
    print_table("The tick, ms per due timer (each round's figure; ratio of the medians)",
                ["ledger", "onboardings", f"{base_label} ms/timer", f"{now_label} ms/timer", "faster"], rows)
    if big:
        memory = [_table_row(now_root, "bench.bench_tick", "--size", str(n), "--backend", "sqlite")
                  for n in (size, big)]
        print_table("Now, memory as N grows (SQLite, peak RSS of the tick's process)",
                    ["onboardings", "tick s", "ms/timer", "peak RSS MB", "RSS growth MB", "helper peak RSS MB"],
                    [[m["onboardings"], m["tick s"], m["ms/timer"], m["peak RSS MB"], m["RSS growth MB"],
                      m.get("helper peak RSS MB", "-")] for m in memory])


def compare_throughput(checkouts: list[Checkout], rounds: int, quick: bool) -> None:
    """``bench throughput`` in each checkout, alternately: per vendor the steady rate's ratio to
    the vendor's bound and to the limiter's own rate, and the 429s (median ratio, summed 429s)."""
    runs = _collect_runs(checkouts, rounds, quick, "throughput", "tool")
    labels = [label for label, _ in checkouts]
    tools = list(dict.fromkeys(tool for tool, _ in runs))
    rows = []
    for tool in tools:
        cells = [tool]
        for figure in ("steady/bound", "steady/limiter"):
            for label in labels:
                measured = runs.get((tool, label), [])
                cells.append(f"{statistics.median(float(r[figure]) for r in measured):.2f}" if measured else "-")
        for label in labels:
            measured = runs.get((tool, label), [])
            cells.append(str(sum(int(r["429s"]) for r in measured)) if measured else "-")
        rows.append(cells)
    headers = ["tool", *(f"{f} {label}" for f in ("steady/bound", "steady/limiter") for label in labels),
               *(f"429s {label}" for label in labels)]
    print_table(f"Throughput at the vendors' limits: baseline vs now (median of {rounds} round(s))", headers, rows)


COMPARES: dict[str, Callable[..., None]] = {
    "gateway": compare_gateway, "tick": compare_tick, "throughput": compare_throughput}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("names", nargs="+", choices=sorted(COMPARES), metavar="NAME")
    parser.add_argument("--baseline", type=Path, required=True, help="the baseline checkout (with its .venv)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per checkout, alternating (default 1)")
    parser.add_argument("--quick", action="store_true", help="the benchmarks' smaller sizes")
    parser.add_argument("--size", type=int, default=10_000, help="tick: due onboardings")
    parser.add_argument("--big", type=int, default=100_000, help="tick: the memory run's size (0: none)")
    args = parser.parse_args(argv)
    checkouts = [("baseline", args.baseline.resolve()), ("now", REPO)]
    for name in args.names:
        extra = {"size": args.size, "big": args.big} if name == "tick" else {}
        COMPARES[name](checkouts, args.rounds, args.quick, **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
