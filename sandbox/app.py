"""The sandbox as one ASGI app: every vendor's router, their admin routes, and ``/_sandbox/``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, FastAPI, HTTPException

from sandbox.faults import FaultRule
from sandbox.middleware import VendorMiddleware
from sandbox.state import Sandbox
from sandbox.webhooks import WebhookTarget


def admin_router(sb: Sandbox) -> APIRouter:
    """Control of the sandbox itself: reset, seed, faults, limits, clock, log, webhooks (each
    vendor adds its own under ``/_sandbox/<name>/``: the e-mail vendor serves the mailbox)."""
    admin = APIRouter(prefix="/_sandbox", tags=["sandbox"])

    @admin.get("/")
    async def info() -> dict[str, Any]:
        return {"vendors": sorted(sb.vendors), "clock": sb.clock.now().isoformat(),
                "limits": {k: v.__dict__ for k, v in sb.limits.items()}}

    @admin.post("/reset")
    async def reset() -> dict[str, str]:
        sb.reset()
        return {"status": "reset"}

    @admin.post("/seed")
    async def seed(fixture: dict[str, Any] = Body(...)) -> dict[str, str]:
        try:
            sb.seed(fixture)
        except (ValueError, KeyError, TypeError) as exc:
            raise HTTPException(400, f"bad fixture: {exc}") from exc
        return {"status": "seeded"}

    @admin.get("/faults")
    async def faults() -> list[dict]:
        return sb.faults.list()

    @admin.post("/faults")
    async def add_fault(rule: FaultRule) -> dict[str, int]:
        return {"index": sb.faults.add(rule)}

    @admin.delete("/faults")
    async def clear_faults(seed: int | None = None) -> dict[str, str]:
        sb.faults.clear(seed)
        return {"status": "cleared"}

    @admin.get("/limits")
    async def limits() -> dict[str, Any]:
        return {k: v.__dict__ for k, v in sb.limits.items()} | {"time_scale": sb.limit_clock.time_scale}

    @admin.put("/limits/{vendor}")
    async def set_limits(vendor: str, changes: dict[str, Any] = Body(...)) -> dict[str, Any]:
        if vendor not in sb.limits:
            raise HTTPException(404, f"unknown vendor {vendor}")
        current = sb.limits[vendor]
        for key, value in changes.items():
            if key == "extra":
                current.extra.update(value)
            elif hasattr(current, key):
                setattr(current, key, value)
            else:
                raise HTTPException(400, f"unknown limit field {key}")
        sb.windows.reset()
        return current.__dict__

    @admin.put("/time-scale")
    async def set_time_scale(scale: float = Body(..., embed=True)) -> dict[str, float]:
        if scale <= 0:
            raise HTTPException(400, "scale must be positive")
        sb.limit_clock.time_scale = scale
        sb.windows.reset()
        sb.blocks.reset()
        return {"time_scale": scale}

    @admin.get("/requests")
    async def requests_log(vendor: str | None = None, since: int = 0) -> list[dict]:
        return sb.log.as_dicts(vendor, since)

    @admin.get("/requests/counts")
    async def request_counts(vendor: str | None = None, since: int = 0) -> dict[str, Any]:
        return {"last_seq": sb.log.last_seq(), "counts": sb.log.counts(vendor, since)}

    @admin.delete("/requests")
    async def clear_requests() -> dict[str, str]:
        sb.log.clear()
        return {"status": "cleared"}

    @admin.get("/clock")
    async def clock() -> dict[str, str]:
        return {"now": sb.clock.now().isoformat()}

    @admin.post("/clock")
    async def set_clock(at: datetime | None = Body(None), advance_seconds: float | None = Body(None),
                        frozen: bool = Body(False)) -> dict[str, str]:
        if at is not None:
            try:
                sb.clock.set(at, frozen=frozen)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from exc
        if advance_seconds:
            sb.clock.advance(advance_seconds)
        return {"now": sb.clock.now().isoformat()}

    @admin.put("/webhooks/{vendor}")
    async def set_webhook(vendor: str, target: WebhookTarget) -> dict[str, str]:
        if vendor not in sb.vendors:
            raise HTTPException(404, f"unknown vendor {vendor}")
        sb.webhooks.configure(vendor, target)
        return {"status": "configured"}

    @admin.delete("/webhooks/{vendor}")
    async def clear_webhook(vendor: str) -> dict[str, str]:
        sb.webhooks.configure(vendor, None)
        return {"status": "removed"}

    @admin.post("/webhooks/flush")
    async def flush(timeout: float = 10.0) -> dict[str, bool]:
        import asyncio

        done = await asyncio.to_thread(sb.webhooks.flush, timeout)
        return {"flushed": done}

    @admin.get("/webhooks/deliveries")
    async def deliveries(vendor: str | None = None) -> list[dict]:
        return [d.__dict__ for d in sb.webhooks.deliveries if vendor is None or d.vendor == vendor]

    return admin


def create_app(sb: Sandbox | None = None) -> VendorMiddleware:
    """Build the ASGI app: the vendor layer outermost, so it holds the server's own ``send``
    (it must be able to drop the connection). The ``Sandbox`` is on ``.sandbox``."""
    sb = sb or Sandbox()
    app = FastAPI(title="Kickoff sandbox", docs_url="/_sandbox/docs", openapi_url="/_sandbox/openapi.json")
    app.state.sandbox = sb
    app.include_router(admin_router(sb))
    for vendor in sb.vendors.values():
        app.include_router(vendor.admin)
        app.include_router(vendor.router)
    return VendorMiddleware(app, sb)
