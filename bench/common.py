"""What every benchmark shares: an in-process sandbox with Kickoff's settings pointed at it,
fresh ledgers (SQLite in a temp dir; PostgreSQL too when ``KICKOFF_BENCH_DATABASE_URL`` is
set), the real connectors, and a table printer (measured figure, the bound, the ratio).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parents[1]
PG_ENV = "KICKOFF_BENCH_DATABASE_URL"


@dataclass
class Bench:
    """A running sandbox, its admin client and Kickoff's config pointed at it."""

    server: Any  # sandbox.server.SandboxServer
    control: Any  # sandbox.control.SandboxControl
    config: Any  # kickoff.settings.Config
    home: Path

    def reset(self) -> None:
        self.control.reset()


@contextmanager
def sandbox_bench() -> Iterator[Bench]:
    """Start the sandbox in this process (threads, free loopback ports), point every tool
    at it through the environment, and load ``config/``; everything restored on exit."""
    from kickoff.settings import load_config
    from sandbox.control import SandboxControl
    from sandbox.server import SandboxServer

    with tempfile.TemporaryDirectory(prefix="kickoff-bench-") as tmp, SandboxServer() as server:
        env = {**server.environment(), "KICKOFF_HOME": str(Path(tmp) / "home"),
               "KICKOFF_CONFIG_DIR": str(REPO / "config")}
        saved = {key: os.environ.get(key) for key in [*env, "KICKOFF_DATABASE_URL"]}
        os.environ.update(env)
        os.environ.pop("KICKOFF_DATABASE_URL", None)
        control = SandboxControl(server.url)
        try:
            control.reset()
            yield Bench(server, control, load_config(REPO / "config"), Path(tmp))
        finally:
            control.close()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def ledgers() -> Iterator[tuple[str, Any]]:
    """(backend label, fresh migrated Ledger): SQLite in a temp dir, then PostgreSQL in its own
    schema (dropped afterwards) when KICKOFF_BENCH_DATABASE_URL is set. Iterate to the end."""
    from kickoff.ledger import Ledger

    with tempfile.TemporaryDirectory(prefix="kickoff-bench-ledger-") as tmp:
        ledger = Ledger.open(f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}")
        try:
            yield "sqlite", ledger
        finally:
            ledger.close()
    url = os.environ.get(PG_ENV)
    if not url:
        return
    from sqlalchemy import create_engine, text

    schema = f"kbench_{uuid.uuid4().hex[:12]}"
    ledger = Ledger.open(url, schema=schema)
    try:
        yield "postgresql", ledger
    finally:
        ledger.close()
        admin = create_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def backends() -> list[str]:
    return ["sqlite", *(["postgresql"] if os.environ.get(PG_ENV) else [])]


def vendor_calls(control: Any, vendor: str, since: int) -> tuple[int, int, dict[str, int]]:
    """(calls, 429s, calls per route) the sandbox's request log holds for ``vendor`` since ``since``."""
    counts = control.counts(vendor, since=since)
    throttled = counts.pop(f"{vendor} 429", 0)
    return sum(counts.values()), throttled, counts


class Timer:
    def __enter__(self) -> Self:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def ratio(measured: float, bound: float) -> str:
    return f"{measured / bound:.2f}" if bound else "-"


def fmt(value: float, digits: int = 1) -> str:
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 10:
        return f"{int(value):,}"
    return f"{value:,.{digits}f}"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Markdown table (pasteable into RESULTS.md) under a title line."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    print(f"\n{title}\n")
    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


def note(text: str) -> None:
    print(text, flush=True)


Run = Callable[[bool], None]
