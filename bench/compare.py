"""``python -m bench.compare throughput [--baseline DIR] [--quick]``: a benchmark run side by
side in the baseline checkout and in this one, in one go on the same machine, and the figures
that matter printed together (baseline, now).

The baseline is another checkout of the repository with its own ``.venv`` (``git worktree add
<dir> <commit>``; default ``../base``): each side runs its own code, so the comparison holds
whatever changed in between. The two runs go one after the other, not at once, so they do not
compete for the cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DEFAULT_BASELINE = HERE.parent / "base"


def run_bench(checkout: Path, name: str, quick: bool) -> str:
    """One ``python -m bench <name>`` in ``checkout`` with its own interpreter; its output."""
    python = checkout / ".venv" / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{checkout}: no .venv (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]')")
    args = [str(python), "-m", "bench", name, *(["--quick"] if quick else [])]
    done = subprocess.run(args, cwd=checkout, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{checkout}: bench {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def table_rows(output: str, first_column: str = "tool") -> list[dict[str, str]]:
    """The rows of the first Markdown table in ``output`` whose header starts with ``first_column``."""
    lines = [line.strip() for line in output.splitlines() if line.strip().startswith("|")]
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in lines:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            if cells and cells[0] == first_column:
                header = cells
            continue
        if set(cells[0]) <= {"-", ":"}:
            continue
        if len(cells) != len(header):
            break
        rows.append(dict(zip(header, cells, strict=True)))
    return rows


def compare_throughput(baseline: Path = DEFAULT_BASELINE, quick: bool = False) -> list[dict[str, str]]:
    """``bench throughput`` in both checkouts: per vendor the steady rate's ratio to the
    vendor's bound and the 429s, baseline and now (printed as a Markdown table, and returned)."""
    before = {r["tool"]: r for r in table_rows(run_bench(baseline, "throughput", quick))}
    after = {r["tool"]: r for r in table_rows(run_bench(HERE, "throughput", quick))}
    lines = []
    for tool, now in after.items():
        was = before.get(tool, {})
        lines.append({"tool": tool, "bound": now.get("bound", ""),
                      "baseline steady/bound": was.get("steady/bound", "-"), "now steady/bound": now["steady/bound"],
                      "baseline steady/limiter": was.get("steady/limiter", "-"),
                      "now steady/limiter": now["steady/limiter"],
                      "baseline 429s": was.get("429s", "-"), "now 429s": now["429s"],
                      "baseline calls": was.get("calls", "-"), "now calls": now["calls"]})
    header = list(lines[0]) if lines else []
    print(f"== throughput, baseline {baseline.name} vs now ==")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for line in lines:
        print("| " + " | ".join(line[h] for h in header) + " |")
    return lines


COMPARISONS = {"throughput": compare_throughput}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("names", nargs="+", choices=list(COMPARISONS))
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE, help="the baseline checkout")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    for name in args.names:
        COMPARISONS[name](args.baseline, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
