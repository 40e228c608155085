"""Asana (placeholder: the vendor's routes are being written)."""

from __future__ import annotations

from sandbox.vendors.base import Vendor


class Asana(Vendor):
    name = "asana"
    prefixes = ("/api/1.0/",)
