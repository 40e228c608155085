"""A bounded load generator for the gateway: N signed HubSpot deliveries (one event each),
C in flight, stopped at N or after ``--max-seconds``, whichever comes first.

Runs in its own process (``python -m bench.loadgen URL [--count N] ...``; the signing secret is
read from ``HUBSPOT_CLIENT_SECRET``, the sandbox's) so it does not share
the gateway's interpreter lock; prints one JSON object: sent, per-status counts, the event ids
acknowledged with 2xx, wall seconds and every ack latency in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time

import httpx

from sandbox.vendors.hubspot import signature_v3  # the sandbox's own signer (HubSpot's formula)


def delivery(event_id: int) -> bytes:
    return json.dumps([{"eventId": event_id, "subscriptionId": 4100001, "portalId": 62515, "appId": 54321,
                        "occurredAt": int(time.time() * 1000), "subscriptionType": "ticket.propertyChange",
                        "attemptNumber": 0, "objectId": 9000 + event_id % 500, "propertyName": "hs_pipeline_stage",
                        "propertyValue": "84561202", "changeSource": "CRM_UI"}]).encode()


async def generate(url: str, secret: str, count: int, concurrency: int, max_seconds: float,
                   first_id: int) -> dict:
    target = f"{url.rstrip('/')}/webhooks/hubspot"
    next_id = iter(range(first_id, first_id + count))
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    acked: list[int] = []
    started = time.perf_counter()
    deadline = started + max_seconds

    async def worker(client: httpx.AsyncClient) -> None:
        for event_id in next_id:
            if time.perf_counter() > deadline:
                return
            body = delivery(event_id)
            stamp = int(time.time() * 1000)
            headers = {"Content-Type": "application/json", "X-HubSpot-Request-Timestamp": str(stamp),
                       "X-HubSpot-Signature-v3": signature_v3(secret, "POST", target, body, stamp)}
            t0 = time.perf_counter()
            try:
                response = await client.post(target, content=body, headers=headers)
                status = str(response.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[status] = statuses.get(status, 0) + 1
            if status.startswith("2"):
                acked.append(event_id)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return {"sent": len(latencies), "statuses": statuses, "acked": acked,
            "seconds": time.perf_counter() - started, "latencies_ms": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--secret", default=os.environ.get("HUBSPOT_CLIENT_SECRET", "hs-sandbox-client-secret"))
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--first-id", type=int, default=1)
    args = parser.parse_args()
    result = asyncio.run(generate(args.url, args.secret, args.count, args.concurrency, args.max_seconds,
                                  args.first_id))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
