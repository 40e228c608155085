"""Side by side with a baseline: the same benchmark run in a checkout of an older commit
(with its own ``.venv``) and in this one, interleaved in one run so both see the same load
on the machine, and their ratio printed.

Run: ``.venv/bin/python -m bench.compare tick --baseline ../base`` (the baseline checkout,
e.g. ``git worktree add ../base 73c149d`` plus its venv; or ``KICKOFF_BENCH_BASELINE``).
PostgreSQL too when ``KICKOFF_BENCH_DATABASE_URL`` is set. Each part has its own function.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
from pathlib import Path

from bench.common import REPO, backends, note, print_table

BASELINE_ENV = "KICKOFF_BENCH_BASELINE"


def _table_row(checkout: Path, module: str, *args: str) -> dict[str, str]:
    """Run ``python -m module args`` with ``checkout``'s own interpreter, in ``checkout``; the
    last row of the Markdown table it prints, by header."""
    out = subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-m", module, *args],
                         cwd=checkout, capture_output=True, text=True, check=True).stdout
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in out.splitlines() if line.startswith("| ") and not line.startswith("|--")]
    return dict(zip(rows[0], rows[-1], strict=True))


def tick(baseline: Path, size: int, big: int, rounds: int) -> None:
    """The tick over ``size`` due onboardings, baseline then now, ``rounds`` times per backend;
    then ``big`` onboardings on this checkout alone (SQLite) for its memory."""
    note(f"== tick: {size:,} due onboardings, baseline ({baseline.name}) and now interleaved, "
         f"{rounds} round(s) per backend ==")
    rows = []
    for backend in backends():
        base_ms: list[float] = []
        now_ms: list[float] = []
        for _ in range(rounds):
            for checkout, into in ((baseline, base_ms), (REPO, now_ms)):
                row = _table_row(checkout, "bench.bench_tick", "--size", str(size), "--backend", backend)
                into.append(float(row["ms/timer"]))
        base, now = statistics.median(base_ms), statistics.median(now_ms)
        rows.append([backend, f"{size:,}", " / ".join(f"{v:.2f}" for v in base_ms),
                     " / ".join(f"{v:.3f}" for v in now_ms), f"{base / now:.1f}x"])
    print_table("The tick, ms per due timer (each round's figure; ratio of the medians)",
                ["ledger", "onboardings", "baseline ms/timer", "now ms/timer", "faster"], rows)
    if big:
        memory = [_table_row(REPO, "bench.bench_tick", "--size", str(n), "--backend", "sqlite") for n in (size, big)]
        print_table("Now, memory as N grows (SQLite, peak RSS of the tick's process)",
                    ["onboardings", "tick s", "ms/timer", "peak RSS MB", "RSS growth MB"],
                    [[m["onboardings"], m["tick s"], m["ms/timer"], m["peak RSS MB"], m["RSS growth MB"]]
                     for m in memory])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("part", choices=["tick"])
    parser.add_argument("--baseline", default=os.environ.get(BASELINE_ENV), required=BASELINE_ENV not in os.environ,
                        help=f"a checkout of the baseline commit with its own .venv (or ${BASELINE_ENV})")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000, help="0: skip the memory run")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    baseline = Path(args.baseline).resolve()
    if args.part == "tick":
        tick(baseline, args.size, args.big, args.rounds)


if __name__ == "__main__":
    main()
