"""How long ``kickoff simulate`` takes on the 60-day Assist scenario (target: under a second).

Run: ``.venv/bin/python bench/bench_simulate.py [--repeat N]`` or ``python -m bench simulate``.
Prints the figures and the comparison with the target; asserts nothing (timing belongs in a
benchmark, not in a test).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from kickoff.playbooks import load_playbook, parse_events, simulate

ROOT = Path(__file__).resolve().parents[1]


TARGET_SECONDS = 1.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--playbook", default="assist-se")
    parser.add_argument("--events", type=Path, default=ROOT / "config" / "scenarios" / "assist-se-60-days.jsonl")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    playbook = load_playbook(ROOT / "config" / "playbooks" / f"{args.playbook}.yaml")
    events = parse_events(args.events.read_text(encoding="utf-8").splitlines(), playbook.zone)
    first = simulate(playbook, events)
    cold = time.perf_counter() - started

    runs = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        simulate(playbook, events)
        runs.append(time.perf_counter() - t0)
    days = (first.actions[-1].at - first.actions[0].at).days
    print(f"scenario: {args.events.name} ({len(events)} events, {days} days, {first.decisions} decisions, {len(first.actions)} actions)")
    print(f"cold (load playbook + parse + simulate): {cold * 1000:.1f} ms")
    print(f"warm simulate: median {statistics.median(runs) * 1000:.1f} ms, max {max(runs) * 1000:.1f} ms over {args.repeat} runs")
    print(f"target: under {TARGET_SECONDS:.0f} s; cold / target = {cold / TARGET_SECONDS:.2f}, "
          f"warm median / target = {statistics.median(runs) / TARGET_SECONDS:.3f}")


def run(quick: bool = False) -> None:
    """The entry ``python -m bench simulate`` uses."""
    print("== simulate: kickoff simulate on the 60-day Assist scenario ==")
    main(["--repeat", "5" if quick else "20"])


if __name__ == "__main__":
    main()
