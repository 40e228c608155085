"""Sealing the secrets the ledger keeps (a vendor's webhook secret): never stored in clear.

Fernet (AES-128-CBC + HMAC-SHA256) under one key: ``KICKOFF_SECRET_KEY`` (a Fernet key,
``Fernet.generate_key()``), or, when it is unset, the key file ``KICKOFF_HOME/secret.key``
made once (mode 0600) by the first process that needs it. Processes on several hosts that
share one PostgreSQL ledger must share the key: set ``KICKOFF_SECRET_KEY`` there.
The seal's timestamp is the ``now`` passed in, so nothing here reads the clock.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kickoff.ledger.errors import LedgerError
from kickoff.settings import KickoffSettings

KEY_FILE = "secret.key"


class SecretKeyError(LedgerError):
    """The key is not a Fernet key, its file is open to others, or it did not seal this value."""


@dataclass(frozen=True)
class Sealer:
    """Seals and opens short secrets; the value itself never appears in an error."""

    fernet: Fernet

    def seal(self, value: str, now: datetime) -> str:
        return self.fernet.encrypt_at_time(value.encode(), int(now.timestamp())).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretKeyError(
                "a sealed secret does not open with this key: KICKOFF_SECRET_KEY (or "
                "KICKOFF_HOME's secret.key) is not the key it was sealed with"
            ) from None


def sealer_for(settings: KickoffSettings | None = None) -> Sealer:
    """The sealer under ``settings``' key: ``KICKOFF_SECRET_KEY``, else the key file."""
    settings = settings or KickoffSettings()
    given = settings.secret_key.get_secret_value() if settings.secret_key else None
    key = given.encode() if given else key_file(settings.home)
    try:
        return Sealer(Fernet(key))
    except (ValueError, TypeError):
        source = "KICKOFF_SECRET_KEY" if given else str(settings.home / KEY_FILE)
        raise SecretKeyError(
            f"{source} is not a Fernet key (32 url-safe base64-encoded bytes)"
        ) from None


def key_file(home: Path) -> bytes:
    """The key in ``home/secret.key``, made (0600) if there is none. Two processes making it
    at once agree: each writes its own file and links it in; the first link wins."""
    path = home / KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        draft = home / f".{KEY_FILE}.{secrets.token_hex(8)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(Fernet.generate_key())
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(draft, path)
            except FileExistsError:
                pass  # another process made it first: that one is the key
        finally:
            draft.unlink(missing_ok=True)
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise SecretKeyError(f"{path} can be read by others: chmod 600 it")
    return path.read_bytes().strip()
