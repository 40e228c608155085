"""Credentials: a tool's references in tools.yaml (``env:NAME`` or ``block:NAME``) resolved to
their values at the moment a client is built. Values are never logged, printed or stored."""

from __future__ import annotations

import os

from kickoff.settings import SECRET_REF


def resolve_secret(ref: str) -> str:
    """Turn ``env:NAME`` / ``block:NAME`` into the secret's value (KeyError when it is missing)."""
    if not SECRET_REF.match(ref):
        raise ValueError("not a secret reference")
    scheme, name = ref.split(":", 1)
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise KeyError(f"environment variable {name} is not set")
        return value
    from prefect.blocks.system import Secret  # only when a block is actually asked for

    return str(Secret.load(name).get())
