"""``python -m soak [--runs N] [--first-seed S] [--seed N] [--verbose]``: randomized runs with
faults injected; prints runs, faults injected by kind and violations (0 expected), and for a
failing run its seed and the command that replays it. Exit code 1 if any violation."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from soak.record import RunResult
from soak.run import run_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--runs", type=int, default=200, help="randomized runs (seeds first-seed, first-seed+1, ...)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--seed", type=int, action="append", help="replay this seed (repeatable); overrides --runs")
    parser.add_argument("--verbose", "-v", action="store_true", help="one line per run")
    parser.add_argument("--jobs", "-j", type=int, default=1,
                        help="processes running seeds side by side (each with its own sandbox)")
    parser.add_argument("--json-out", help=argparse.SUPPRESS)  # a job's results, for its parent
    args = parser.parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace", line_buffering=True)
    seeds = args.seed or list(range(args.first_seed, args.first_seed + args.runs))
    started = time.monotonic()
    if not args.json_out:
        print(f"soak: {len(seeds)} randomized run(s), seeds {seeds[0]}..{seeds[-1]}"
              + (f", {args.jobs} jobs" if args.jobs > 1 else ""))
    if args.jobs > 1 and len(seeds) > 1:
        results = _in_jobs(seeds, args.jobs, args.verbose)
    else:
        results = run_seeds(seeds, out=print, verbose=args.verbose or len(seeds) <= 5)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps([
            {"seed": r.seed, "plan": r.plan, "faults": dict(r.faults), "violations": r.violations,
             "seconds": r.seconds, "stats": dict(r.stats)} for r in results]), encoding="utf-8")
        return 0
    return report(results, time.monotonic() - started)


def _in_jobs(seeds: list[int], jobs: int, verbose: bool) -> list[RunResult]:
    """Seeds dealt round-robin to ``jobs`` child processes (``python -m soak --seed ...``)."""
    with tempfile.TemporaryDirectory(prefix="soak-jobs-") as tmp:
        procs = []
        for job in range(jobs):
            mine = seeds[job::jobs]
            if not mine:
                continue
            out = Path(tmp) / f"job-{job}.json"
            command = [sys.executable, "-m", "soak", "--json-out", str(out), *(["-v"] if verbose else [])]
            for seed in mine:
                command += ["--seed", str(seed)]
            procs.append((subprocess.Popen(command, env={**os.environ, "SOAK_JOB": str(job)}), out))
        results: list[RunResult] = []
        for proc, out in procs:
            proc.wait()
            if out.exists():
                for data in json.loads(out.read_text(encoding="utf-8")):
                    results.append(RunResult(data["seed"], data["plan"], Counter(data["faults"]), data["violations"],
                                             data["seconds"], Counter(data["stats"])))
            else:
                results.append(RunResult(-1, f"job exited with {proc.returncode}",
                                         violations=[f"a soak job died (exit {proc.returncode})"]))
    return sorted(results, key=lambda r: r.seed)


def report(results, seconds: float, out=print) -> int:
    faults: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    for r in results:
        faults.update(r.faults)
        stats.update(r.stats)
    failed = [r for r in results if not r.ok]
    out("")
    out(f"runs: {len(results)} in {seconds:.0f} s")
    out("faults injected, by kind:")
    for kind, n in sorted(faults.items()):
        out(f"  {kind:<48} {n}")
    out("checked:")
    for kind, n in sorted(stats.items()):
        out(f"  {kind:<48} {n}")
    out(f"violations: {sum(len(r.violations) for r in results)}")
    for r in failed:
        out(f"  seed {r.seed}: {len(r.violations)} violation(s) — replay: python -m soak --seed {r.seed}")
        for v in r.violations[:5]:
            out(f"    {v.splitlines()[0][:300]}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
