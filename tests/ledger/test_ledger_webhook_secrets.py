"""Webhook secrets: taken once from an armed handshake, kept sealed, moved out of the cursors."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from cryptography.fernet import Fernet
from ledger_backends import LedgerBackend
from ledger_builders import T0
from sqlalchemy import insert, select

from kickoff.ledger import Ledger, SecretKeyError
from kickoff.ledger.migrate import alembic_config
from kickoff.ledger.schema import cursors, webhook_secrets

SECRET = "hook-secret-0123456789abcdef"
UNTIL = T0 + timedelta(minutes=2)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A KICKOFF_HOME of the test's own and no key in the environment."""
    folder = tmp_path / "home"
    monkeypatch.setenv("KICKOFF_HOME", str(folder))
    monkeypatch.delenv("KICKOFF_SECRET_KEY", raising=False)
    return folder


def stored(ledger: Ledger, tool: str = "asana", name: str = "default") -> str | None:
    with ledger.database.connect() as conn:
        return conn.execute(
            select(webhook_secrets.c.secret).where(
                webhook_secrets.c.tool == tool, webhook_secrets.c.name == name)
        ).scalar_one_or_none()


def test_an_armed_handshake_is_kept_once(ledger: Ledger) -> None:
    ledger.arm_webhook_handshake("asana", "default", UNTIL, T0)

    assert ledger.accept_webhook_secret("asana", "default", SECRET, T0 + timedelta(seconds=5))
    assert ledger.webhook_secret("asana", "default") == SECRET
    assert not ledger.accept_webhook_secret("asana", "default", "planted", T0 + timedelta(hours=1))
    assert ledger.webhook_secret("asana", "default") == SECRET


def test_a_handshake_nobody_armed_or_too_late_is_refused(ledger: Ledger) -> None:
    assert not ledger.accept_webhook_secret("asana", "default", "planted", T0)
    ledger.arm_webhook_handshake("asana", "default", UNTIL, T0)
    assert not ledger.accept_webhook_secret("asana", "other", "planted", T0)
    late = UNTIL + timedelta(seconds=1)
    assert not ledger.accept_webhook_secret("asana", "default", "late", late)
    assert ledger.webhook_secret("asana", "default") is None
    assert ledger.accept_webhook_secret("slack", "default", "x", T0) is False  # per tool


def test_forgetting_leaves_no_secret_and_arming_again_keeps_the_old_until_replaced(
    ledger: Ledger,
) -> None:
    ledger.arm_webhook_handshake("asana", "default", UNTIL, T0)
    ledger.accept_webhook_secret("asana", "default", SECRET, T0)
    an_hour = timedelta(hours=1)
    ledger.arm_webhook_handshake("asana", "default", UNTIL + an_hour, T0 + an_hour)
    assert ledger.webhook_secret("asana", "default") == SECRET
    ledger.accept_webhook_secret("asana", "default", "new-secret", T0 + timedelta(hours=1))
    assert ledger.webhook_secret("asana", "default") == "new-secret"

    ledger.forget_webhook_secret("asana", "default", T0 + timedelta(hours=2))

    assert ledger.webhook_secret("asana", "default") is None
    assert not ledger.accept_webhook_secret("asana", "default", "planted", T0 + timedelta(hours=2))


def test_the_secret_is_sealed_at_rest_under_a_key_file_made_once(
    ledger_backend: LedgerBackend, home: Path
) -> None:
    ledger = ledger_backend.open()
    ledger.arm_webhook_handshake("asana", "default", UNTIL, T0)
    ledger.accept_webhook_secret("asana", "default", SECRET, T0)

    sealed = stored(ledger)
    assert sealed and SECRET not in sealed
    key = home / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert Fernet(key.read_bytes()).decrypt(sealed.encode()).decode() == SECRET
    ledger.close()

    reopened = ledger_backend.open()  # another process: the same key file
    assert reopened.webhook_secret("asana", "default") == SECRET
    reopened.close()


def test_the_key_comes_from_the_environment_and_a_wrong_one_is_an_error(
    ledger_backend: LedgerBackend, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KICKOFF_SECRET_KEY", Fernet.generate_key().decode())
    ledger = ledger_backend.open()
    ledger.arm_webhook_handshake("asana", "default", UNTIL, T0)
    ledger.accept_webhook_secret("asana", "default", SECRET, T0)
    assert ledger.webhook_secret("asana", "default") == SECRET
    assert not (home / "secret.key").exists()
    ledger.close()

    monkeypatch.setenv("KICKOFF_SECRET_KEY", Fernet.generate_key().decode())
    other = ledger_backend.open()
    with pytest.raises(SecretKeyError) as info:
        other.webhook_secret("asana", "default")
    assert SECRET not in str(info.value)
    other.close()

    monkeypatch.setenv("KICKOFF_SECRET_KEY", "not-a-key")
    broken = ledger_backend.open()
    with pytest.raises(SecretKeyError, match="KICKOFF_SECRET_KEY is not a Fernet key"):
        broken.webhook_secret("asana", "default")
    broken.close()


def test_a_key_file_others_can_read_is_refused(ledger: Ledger, home: Path) -> None:
    home.mkdir(parents=True)
    (home / "secret.key").write_bytes(Fernet.generate_key())
    (home / "secret.key").chmod(0o644)

    with pytest.raises(SecretKeyError, match="chmod 600"):
        ledger.accept_webhook_secret("asana", "default", SECRET, T0)


def test_the_migration_moves_secrets_out_of_the_cursors_sealed_and_back(
    ledger_backend: LedgerBackend,
) -> None:
    ledger = ledger_backend.open()
    with ledger.database.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
        conn.execute(insert(cursors), [
            {"tool": "asana", "stream": "webhook-secret:default", "value": SECRET,
             "updated_at": T0},
            {"tool": "asana", "stream": "webhook-handshake:spare",
             "value": UNTIL.isoformat(), "updated_at": T0},
            {"tool": "asana", "stream": "webhook-secret:gone", "value": "", "updated_at": T0},
            {"tool": "asana", "stream": "webhook-handshake:default", "value": "", "updated_at": T0},
            {"tool": "hubspot", "stream": "deals", "value": "42", "updated_at": T0},
        ])
    ledger.close()

    moved = ledger_backend.open()  # migrates to head
    assert moved.webhook_secret("asana", "default") == SECRET
    assert SECRET not in (stored(moved) or "")
    assert moved.webhook_secret("asana", "gone") is None
    assert moved.accept_webhook_secret("asana", "spare", "fresh", T0)  # still armed
    assert moved.get_cursor("asana", "webhook-secret:default") is None
    assert moved.get_cursor("hubspot", "deals") == "42"

    with moved.database.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
    assert moved.get_cursor("asana", "webhook-secret:default") == SECRET
    assert moved.get_cursor("asana", "webhook-secret:spare") == "fresh"
    moved.close()
