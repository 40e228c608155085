"""(3) The gateway: deliveries per second and ack latency (p50/p99) under a bounded load of
signed HubSpot webhooks on loopback, each delivery durably stored before its 2xx.

The gateway (``gateway.create_app`` + ``GatewayServer``, notify = no-op) runs in this
process on a free loopback port over a fresh ledger; the load generator (``bench/loadgen.py``:
httpx, asyncio, one event per POST) runs in a separate process so the two do not share an
interpreter lock. Afterwards every acknowledged event id is looked up in the ledger's inbox.
The bound an ack is held to is HubSpot's: an answer slower than 5 s counts as failed and is
retried; HubSpot keeps at most 10 requests in flight (the load uses 8).

Run: ``.venv/bin/python -m bench gateway [--quick]``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from typing import Any

from bench.common import REPO, Bench, fmt, ledgers, note, print_table, ratio, sandbox_bench
from connectors.hubspot import HubSpotConnector
from gateway import create_app
from gateway.server import GatewayServer
from kickoff.ledger.schema import inbox

HUBSPOT_TIMEOUT_MS = 5000.0
PORTAL = 62515
WARMUP_FIRST_ID = 90_000_000


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def load(url: str, count: int, concurrency: int, max_seconds: float, first_id: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.loadgen", url, "--count", str(count), "--concurrency", str(concurrency),
         "--max-seconds", str(max_seconds), "--first-id", str(first_id)],
        cwd=REPO, env=os.environ.copy(), capture_output=True, text=True, check=True, timeout=max_seconds + 60)
    return json.loads(out.stdout)


def stored_keys(ledger: Any) -> set[str]:
    from sqlalchemy import select

    with ledger.database.connect() as conn:
        return set(conn.execute(select(inbox.c.dedup_key).where(inbox.c.tool == "hubspot")).scalars())


def measure(bench: Bench, label: str, ledger: Any, count: int, concurrency: int, max_seconds: float) -> list[Any]:
    connector = HubSpotConnector(bench.config.tools["hubspot"])
    app = create_app(ledger, connectors={"hubspot": connector}, announce=lambda tool, ids: None, config=bench.config)
    with GatewayServer(app) as server:
        load(server.url, 50, concurrency, 30, WARMUP_FIRST_ID)  # imports, connections, first transactions
        result = load(server.url, count, concurrency, max_seconds, 1)
    acked = result["acked"]
    keys = stored_keys(ledger)
    missing = sum(1 for event_id in acked if f"{PORTAL}:{event_id}" not in keys)
    latencies = result["latencies_ms"]
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    rate = len(acked) / result["seconds"]
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(result["statuses"].items()))
    return [label, result["sent"], len(acked), f"{result['seconds']:.1f}", fmt(rate), f"{p50:.1f}", f"{p99:.1f}",
            f"{max(latencies):.1f}", f"{statistics.mean(latencies):.1f}", f"{HUBSPOT_TIMEOUT_MS:,.0f}",
            ratio(p99, HUBSPOT_TIMEOUT_MS), len(acked) - missing, missing, statuses]


def run(quick: bool = False) -> None:
    count, concurrency, max_seconds = (1000, 8, 20.0) if quick else (5000, 8, 60.0)
    note(f"== gateway: {count:,} signed HubSpot deliveries, {concurrency} in flight, at most {max_seconds:.0f} s ==")
    rows = []
    with sandbox_bench() as bench:
        for label, ledger in ledgers():
            rows.append(measure(bench, label, ledger, count, concurrency, max_seconds))
    print_table(
        "Gateway on loopback (1 event per POST; 2xx only after the inbox commit)",
        ["ledger", "sent", "acked 2xx", "s", "deliveries/s", "ack p50 ms", "ack p99 ms", "max ms", "mean ms",
         "bound: HubSpot timeout ms", "p99/bound", "in inbox", "acked but missing", "statuses"],
        rows)
    note("Every acknowledged event id was looked up in the inbox afterwards ('acked but missing' must be 0). "
         "SQLite runs in WAL mode with synchronous=NORMAL: a commit survives a crash of the process, "
         "not necessarily a power cut.")
