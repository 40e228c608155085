"""Movidesk (placeholder: the vendor's routes are being written)."""

from __future__ import annotations

from sandbox.vendors.base import Vendor


class Movidesk(Vendor):
    name = "movidesk"
    prefixes = ("/public/v1/",)
