"""What the vault writes to the database, and what happens when a stored value is moved or tampered with."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from audiotricks.config import parse_key
from audiotricks.extensions import db
from audiotricks.models import UserSettings
from audiotricks.security.crypto import key_id
from tests.conftest import TEST_ENCRYPTION_KEY, AuthActions
from tests.settings.helpers import (
    elevenlabs_key,
    openai_key,
    raw_settings_rows,
    windows,
)

BASE = "/api/v1/settings/api-keys"
UNDECRYPTABLE = {"error": "Stored API key cannot be decrypted; store it again"}


def signup(client: FlaskClient, auth: AuthActions, name: str) -> tuple[dict[str, str], uuid.UUID]:
    headers = auth.headers(auth.signup(f"{name}@example.com", name))
    user = client.get("/api/v1/auth/me", headers=headers).get_json()["data"]["user"]
    return headers, uuid.UUID(user["id"])


def store(client: FlaskClient, headers: dict[str, str], provider: str, key: str) -> None:
    response = client.put(f"{BASE}/{provider}", json={"apiKey": key}, headers=headers)
    assert response.status_code == 200, response.get_json()


def stored_value(app: Flask, user_id: uuid.UUID, provider: str) -> str:
    with app.app_context():
        settings = db.session.get(UserSettings, user_id)
        assert settings is not None
        value = getattr(settings, f"{provider}_key_encrypted")
        db.session.commit()
        return str(value)


def set_columns(app: Flask, user_id: uuid.UUID, **values: Any) -> None:
    """Write columns of one user's settings row with a plain SQL UPDATE."""
    with app.app_context():
        db.session.execute(
            update(UserSettings.__table__)
            .where(UserSettings.__table__.c.user_id == user_id)
            .values(**values)
        )
        db.session.commit()


def test_rows_hold_neither_the_key_nor_any_part_of_it_beyond_last4(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    alice, _ = signup(client, auth, "alice")
    bob, _ = signup(client, auth, "bob")
    users = {"alice": alice, "bob": bob}
    keys = {
        ("alice", "openai"): openai_key(),
        ("alice", "elevenlabs"): elevenlabs_key(),
        ("bob", "openai"): openai_key(),
    }
    for (name, provider), key in keys.items():
        store(client, users[name], provider, key)

    rows = raw_settings_rows(app)
    assert len(rows) == 2
    dump = "\n".join(str(value) for row in rows for value in row.values())
    for key in keys.values():
        assert key not in dump
        leaked = [w for w in windows(key) if w in dump]
        assert not leaked, "a piece of a key is stored in clear"
        assert key[-4:] in [row[c] for row in rows for c in ("openai_key_last4", "elevenlabs_key_last4")]

    current = key_id(parse_key(TEST_ENCRYPTION_KEY))
    stored = [
        row[c]
        for row in rows
        for c in ("openai_key_encrypted", "elevenlabs_key_encrypted")
        if row[c] is not None
    ]
    assert len(stored) == 3
    for value in stored:
        assert re.fullmatch(rf"v1\.{current}\.[A-Za-z0-9_-]+", value)
        assert current not in TEST_ENCRYPTION_KEY  # the id is not a piece of the key


def test_same_key_twice_gives_different_ciphertexts(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    alice, alice_id = signup(client, auth, "alice")
    bob, bob_id = signup(client, auth, "bob")
    key = openai_key()
    store(client, alice, "openai", key)
    first = stored_value(app, alice_id, "openai")
    store(client, alice, "openai", key)
    second = stored_value(app, alice_id, "openai")
    store(client, bob, "openai", key)
    third = stored_value(app, bob_id, "openai")
    assert len({first, second, third}) == 3
    for headers in (alice, bob):
        assert client.get(f"{BASE}/openai", headers=headers).get_json()["data"]["apiKey"] == key


def test_value_copied_to_the_other_provider_does_not_decrypt(
    app: Flask, client: FlaskClient, auth: AuthActions, caplog: pytest.LogCaptureFixture
) -> None:
    alice, alice_id = signup(client, auth, "alice")
    key = openai_key()
    store(client, alice, "openai", key)
    set_columns(
        app,
        alice_id,
        elevenlabs_key_encrypted=stored_value(app, alice_id, "openai"),
        elevenlabs_key_last4=key[-4:],
    )
    caplog.clear()
    response = client.get(f"{BASE}/elevenlabs", headers=alice)
    assert response.status_code == 409
    assert response.get_json() == UNDECRYPTABLE
    assert key not in response.get_data(as_text=True)
    warning = [r for r in caplog.records if getattr(r, "event", "") == "api_key_undecryptable"]
    assert len(warning) == 1
    assert warning[0].user_id == str(alice_id)  # type: ignore[attr-defined]
    assert warning[0].provider == "elevenlabs"  # type: ignore[attr-defined]
    assert warning[0].reason == "AuthenticationFailed"  # type: ignore[attr-defined]
    assert warning[0].exc_info is None  # no traceback in the log either
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # The masked status needs no decryption, and the original is untouched.
    listed = client.get(BASE, headers=alice).get_json()["data"]["apiKeys"]
    assert listed["elevenlabs"]["configured"] is True
    assert client.get(f"{BASE}/openai", headers=alice).get_json()["data"]["apiKey"] == key

    # Storing the key again is the cure the message names.
    fresh = elevenlabs_key()
    store(client, alice, "elevenlabs", fresh)
    assert client.get(f"{BASE}/elevenlabs", headers=alice).get_json()["data"]["apiKey"] == fresh


def test_value_copied_to_another_user_does_not_decrypt(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    alice, alice_id = signup(client, auth, "alice")
    bob, bob_id = signup(client, auth, "bob")
    key = openai_key()
    store(client, alice, "openai", key)
    set_columns(
        app,
        bob_id,
        openai_key_encrypted=stored_value(app, alice_id, "openai"),
        openai_key_last4=key[-4:],
    )
    response = client.get(f"{BASE}/openai", headers=bob)
    assert response.status_code == 409
    assert response.get_json() == UNDECRYPTABLE
    assert key not in response.get_data(as_text=True)
    assert client.get(f"{BASE}/openai", headers=alice).get_json()["data"]["apiKey"] == key


def _tamper_payload(value: str) -> str:
    index = len(value) // 2
    return value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1:]


@pytest.mark.parametrize(
    "change",
    [
        _tamper_payload,
        lambda v: v[:-1] + ("A" if v[-1] != "A" else "Q"),
        lambda v: "v1.deadbeef." + v.split(".", 2)[2],
        lambda v: v[:-6],
        lambda v: "v2" + v[2:],
        lambda v: "not a ciphertext",
        lambda v: "",
    ],
    ids=["middle", "last-char", "unknown-key-id", "truncated", "version", "garbage", "empty"],
)
def test_tampered_value_is_a_clean_409(
    app: Flask, client: FlaskClient, auth: AuthActions, change: Any
) -> None:
    alice, alice_id = signup(client, auth, "alice")
    key = elevenlabs_key()
    store(client, alice, "elevenlabs", key)
    original = stored_value(app, alice_id, "elevenlabs")
    tampered = change(original)
    assert tampered != original
    set_columns(app, alice_id, elevenlabs_key_encrypted=tampered)
    response = client.get(f"{BASE}/elevenlabs", headers=alice)
    assert response.status_code == 409
    assert response.get_json() == UNDECRYPTABLE
    assert response.headers["Cache-Control"] == "no-store"
    # Deleting works without decrypting.
    assert client.delete(f"{BASE}/elevenlabs", headers=alice).status_code == 200
    assert client.get(f"{BASE}/elevenlabs", headers=alice).status_code == 404


def test_statuses_come_from_plain_columns(app: Flask, client: FlaskClient, auth: AuthActions) -> None:
    alice, alice_id = signup(client, auth, "alice")
    key = openai_key()
    store(client, alice, "openai", key)
    set_columns(app, alice_id, openai_key_encrypted="garbage")
    assert client.get(BASE, headers=alice).status_code == 200
    settings = client.get("/api/v1/settings", headers=alice).get_json()["data"]["settings"]
    assert settings["apiKeys"]["openai"]["configured"] is True
    assert settings["apiKeys"]["openai"]["last4"] == key[-4:]
