"""A small client for ``/_sandbox/``: what tests, the demo and benchmarks use to steer it."""

from __future__ import annotations

from typing import Any

import requests


class SandboxControl:
    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        resp = self._session.request(method, f"{self.base_url}/_sandbox{path}", timeout=self.timeout, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def reset(self) -> None:
        self._call("POST", "/reset")

    def seed(self, fixture: dict[str, Any]) -> None:
        self._call("POST", "/seed", json=fixture)

    def add_fault(self, **rule: Any) -> int:
        return self._call("POST", "/faults", json=rule)["index"]

    def clear_faults(self, seed: int | None = None) -> None:
        self._call("DELETE", "/faults", params={"seed": seed} if seed is not None else None)

    def set_limits(self, vendor: str, **changes: Any) -> dict[str, Any]:
        return self._call("PUT", f"/limits/{vendor}", json=changes)

    def set_time_scale(self, scale: float) -> None:
        self._call("PUT", "/time-scale", json={"scale": scale})

    def requests(self, vendor: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "/requests", params={"vendor": vendor, "since": since})

    def counts(self, vendor: str | None = None, since: int = 0) -> dict[str, int]:
        return self._call("GET", "/requests/counts", params={"vendor": vendor, "since": since})["counts"]

    def last_seq(self) -> int:
        return self._call("GET", "/requests/counts")["last_seq"]

    def set_clock(self, at: str | None = None, advance_seconds: float | None = None, frozen: bool = False) -> str:
        return self._call("POST", "/clock", json={"at": at, "advance_seconds": advance_seconds, "frozen": frozen})["now"]

    def set_webhook(self, vendor: str, url: str, secret: str | None = None, **options: Any) -> None:
        self._call("PUT", f"/webhooks/{vendor}", json={"url": url, "secret": secret, **options})

    def flush_webhooks(self, timeout: float = 10.0) -> bool:
        return self._call("POST", "/webhooks/flush", params={"timeout": timeout})["flushed"]

    def webhook_deliveries(self, vendor: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/webhooks/deliveries", params={"vendor": vendor})

    def emails(self) -> list[dict[str, Any]]:
        return self._call("GET", "/email")

    def act(self, vendor: str, path: str, method: str = "POST", **json_body: Any) -> Any:
        """A person's change in a tool (``/_sandbox/<vendor>/<path>``), which emits webhooks."""
        return self._call(method, f"/{vendor}/{path.lstrip('/')}", json=json_body or None)

    def get(self, vendor: str, path: str, **params: Any) -> Any:
        """Read a vendor's state through its admin routes (``/_sandbox/<vendor>/<path>``)."""
        return self._call("GET", f"/{vendor}/{path.lstrip('/')}", params=params or None)

    def close(self) -> None:
        self._session.close()
