"""Zendesk (placeholder: the vendor's routes are being written)."""

from __future__ import annotations

from sandbox.vendors.base import Vendor


class Zendesk(Vendor):
    name = "zendesk"
    prefixes = ("/api/v2/",)
