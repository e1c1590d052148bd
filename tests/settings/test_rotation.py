"""Key rotation: ``flask keys rotate`` and ``flask keys check`` against a real database."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from audiotricks import create_app
from audiotricks.commands import keys as keys_module
from audiotricks.config import parse_key
from audiotricks.extensions import db
from audiotricks.security.crypto import key_id
from tests.conftest import TEST_ENCRYPTION_KEY, AuthActions, dispose_engines, make_config
from tests.settings.helpers import ISSUED_KEYS, key_for, raw_settings_rows

BASE = "/api/v1/settings/api-keys"
KEY_A = TEST_ENCRYPTION_KEY
KEY_B = "8f4e2a9c1b7d3f6e0a5c8b2d4e6f1a3c5b7d9e0f2a4c6e8b1d3f5a7c9e0b2d4f"
ID_A = key_id(parse_key(KEY_A))
ID_B = key_id(parse_key(KEY_B))


@contextmanager
def app_with_keys(database_url: str, current: str, old: tuple[str, ...] = ()) -> Iterator[Flask]:
    """Another app instance on the same database, as after a restart with new settings."""
    app = create_app(
        make_config(
            database_url, encryption_key=current, encryption_old_keys=old, log_level="DEBUG"
        )
    )
    try:
        yield app
    finally:
        dispose_engines(app)


def invoke(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["keys", *args])


def counts(output: str, label: str = "total") -> dict[str, int]:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return {name: int(value) for name, value in re.findall(r"([a-z-]+)=(\d+)", line)}


def key_ids_in_rows(app: Flask) -> list[str]:
    return sorted(
        row[column].split(".")[1]
        for row in raw_settings_rows(app)
        for column in ("openai_key_encrypted", "elevenlabs_key_encrypted")
        if row[column] is not None
    )


@pytest.fixture
def stored(client: FlaskClient, auth: AuthActions) -> dict[tuple[str, str], tuple[dict[str, str], str]]:
    """Five keys of four users stored under key A: ``(user, provider) -> (headers, key)``."""
    result = {}
    plan = [("u1", "openai"), ("u1", "elevenlabs"), ("u2", "openai"), ("u3", "elevenlabs"), ("u4", "openai")]
    tokens: dict[str, dict[str, str]] = {}
    for name, provider in plan:
        if name not in tokens:
            tokens[name] = auth.headers(auth.signup(f"{name}@example.com", f"user-{name}"))
        key = key_for(provider)
        response = client.put(f"{BASE}/{provider}", json={"apiKey": key}, headers=tokens[name])
        assert response.status_code == 200
        result[(name, provider)] = (tokens[name], key)
    auth.signup("nokeys@example.com", "nokeys")  # a user without keys is not counted
    return result


def assert_all_readable(app: Flask, stored: dict[Any, tuple[dict[str, str], str]]) -> None:
    client = app.test_client()
    for (_, provider), (headers, key) in stored.items():
        response = client.get(f"{BASE}/{provider}", headers=headers)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["data"]["apiKey"] == key


def assert_no_key_in(text: str) -> None:
    assert not [key for key in ISSUED_KEYS if key in text]


def test_rotation_a_to_b(app: Flask, database_url: str, stored: Any) -> None:
    assert key_ids_in_rows(app) == [ID_A] * 5
    before = app.test_client().get(BASE, headers=stored[("u1", "openai")][0]).get_json()

    with app_with_keys(database_url, KEY_B, (KEY_A,)) as rotating:
        # Restarted with B current and A old: every key still reads, new ones go under B.
        assert_all_readable(rotating, stored)
        headers = stored[("u2", "openai")][0]
        fresh = key_for("elevenlabs")
        rotating.test_client().put(f"{BASE}/elevenlabs", json={"apiKey": fresh}, headers=headers)
        stored[("u2", "elevenlabs")] = (headers, fresh)

        check = invoke(rotating, "check")
        assert check.exit_code == 0, check.output
        assert "checked=6 ok=6 (current-key=1 old-key=5) failed=0" in check.output

        result = invoke(rotating, "rotate", "--batch-size", "2")
        assert result.exit_code == 0, result.output
        assert counts(result.output) == {
            "scanned": 6, "re-encrypted": 5, "already-current": 1, "failed": 0,
        }
        assert len([line for line in result.output.splitlines() if line.startswith("batch")]) == 2
        assert key_ids_in_rows(rotating) == [ID_B] * 6
        assert_all_readable(rotating, stored)
        assert_no_key_in(result.output + check.output)

        again = invoke(rotating, "rotate")
        assert again.exit_code == 0
        assert counts(again.output) == {
            "scanned": 6, "re-encrypted": 0, "already-current": 6, "failed": 0,
        }

    # A removed from the configuration: everything still decrypts.
    with app_with_keys(database_url, KEY_B) as rotated:
        assert_all_readable(rotated, stored)
        check = invoke(rotated, "check")
        assert check.exit_code == 0, check.output
        assert "checked=6 ok=6 (current-key=6 old-key=0) failed=0" in check.output
        # Rotation leaves the masked statuses and their times alone.
        after = rotated.test_client().get(BASE, headers=stored[("u1", "openai")][0]).get_json()
        assert after == before


def test_removing_the_old_key_too_early_is_caught(
    app: Flask, database_url: str, stored: Any
) -> None:
    with app_with_keys(database_url, KEY_B) as too_early:
        check = invoke(too_early, "check")
        assert check.exit_code == 1
        assert "checked=5 ok=0 (current-key=0 old-key=0) failed=5" in check.output
        for name, provider in stored:
            user_id = too_early.test_client().get(
                "/api/v1/auth/me", headers=stored[(name, provider)][0]
            ).get_json()["data"]["user"]["id"]
            assert re.search(rf"user {user_id} provider {provider}: .*{ID_A}", check.output)
        assert_no_key_in(check.output)
        assert KEY_A not in check.output and KEY_B not in check.output

        headers, _ = stored[("u1", "openai")]
        response = too_early.test_client().get(f"{BASE}/openai", headers=headers)
        assert response.status_code == 409

        rotate = invoke(too_early, "rotate")
        assert rotate.exit_code == 1
        assert counts(rotate.output)["failed"] == 5
        assert_no_key_in(rotate.output)
    # Nothing was lost: with A back, every key reads.
    assert_all_readable(app, stored)


def test_check_lists_tampered_rows(app: Flask, database_url: str, stored: Any, runner: Any) -> None:
    headers, _key = stored[("u3", "elevenlabs")]
    with app.app_context():
        db.session.execute(
            text(
                "UPDATE user_settings SET elevenlabs_key_encrypted = openai_key_encrypted "
                "WHERE openai_key_encrypted IS NOT NULL AND elevenlabs_key_encrypted IS NOT NULL"
            )
        )
        db.session.commit()
    result = runner.invoke(args=["keys", "check"])
    assert result.exit_code == 1
    assert "checked=5 ok=4 (current-key=4 old-key=0) failed=1" in result.output
    failing = [line for line in result.output.splitlines() if line.startswith("  user ")]
    assert len(failing) == 1 and "provider elevenlabs" in failing[0]
    assert_no_key_in(result.output)
    assert app.test_client().get(f"{BASE}/elevenlabs", headers=headers).status_code == 200


def test_interrupted_rotation_resumes(
    app: Flask, database_url: str, stored: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = keys_module._rotate_one
    calls = {"n": 0}

    def crash_on_the_fourth(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("power cut")
        real(*args)

    with app_with_keys(database_url, KEY_B, (KEY_A,)) as rotating:
        monkeypatch.setattr(keys_module, "_rotate_one", crash_on_the_fourth)
        # Two users per batch hold 2 or 3 keys, so the crash hits the second batch: the first
        # stays committed, the second is rolled back.
        crashed = invoke(rotating, "rotate", "--batch-size", "2")
        assert crashed.exit_code != 0
        assert isinstance(crashed.exception, RuntimeError)
        assert "batch 1:" in crashed.output and "batch 2:" not in crashed.output
        done = counts(crashed.output, "batch 1")["re-encrypted"]
        assert done in (2, 3)
        assert key_ids_in_rows(rotating) == sorted([ID_B] * done + [ID_A] * (5 - done))
        assert_all_readable(rotating, stored)  # half-way is a working state

        monkeypatch.setattr(keys_module, "_rotate_one", real)
        resumed = invoke(rotating, "rotate", "--batch-size", "2")
        assert resumed.exit_code == 0, resumed.output
        assert counts(resumed.output) == {
            "scanned": 5, "re-encrypted": 5 - done, "already-current": done, "failed": 0,
        }
        assert key_ids_in_rows(rotating) == [ID_B] * 5
    with app_with_keys(database_url, KEY_B) as rotated:
        assert_all_readable(rotated, stored)


def test_help_texts(runner: Any) -> None:
    for args in (["keys", "--help"], ["keys", "rotate", "--help"], ["keys", "check", "--help"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0
        assert "Usage:" in result.output
    assert "--batch-size" in runner.invoke(args=["keys", "rotate", "--help"]).output


def test_bad_batch_size(runner: Any) -> None:
    result = runner.invoke(args=["keys", "rotate", "--batch-size", "0"])
    assert result.exit_code == 2


def test_empty_database(runner: Any) -> None:
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0
    assert counts(result.output) == {"scanned": 0, "re-encrypted": 0, "already-current": 0, "failed": 0}
    check = runner.invoke(args=["keys", "check"])
    assert check.exit_code == 0
    assert "checked=0 ok=0" in check.output


def test_a_key_replaced_during_rotation_is_kept(
    app: Flask, database_url: str, stored: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user storing a new key while a batch runs wins over the rotation's write."""
    headers, _ = stored[("u4", "openai")]
    newer = key_for("openai")
    real = keys_module._rotate_one

    with app_with_keys(database_url, KEY_B, (KEY_A,)) as rotating:
        client = rotating.test_client()

        def user_acts_first(ring: Any, user_id: uuid.UUID, provider: str, *rest: Any) -> None:
            if (provider, stored_user(user_id)) == ("openai", "u4"):
                assert client.put(
                    f"{BASE}/openai", json={"apiKey": newer}, headers=headers
                ).status_code == 200
            real(ring, user_id, provider, *rest)

        ids: dict[uuid.UUID, str] = {}
        for (name, _), (hdrs, _) in stored.items():
            me = client.get("/api/v1/auth/me", headers=hdrs).get_json()["data"]["user"]["id"]
            ids[uuid.UUID(me)] = name

        def stored_user(user_id: uuid.UUID) -> str:
            return ids[user_id]

        monkeypatch.setattr(keys_module, "_rotate_one", user_acts_first)
        # One row per batch: on SQLite a write transaction of the batch would block the user.
        result = invoke(rotating, "rotate", "--batch-size", "1")
        assert result.exit_code == 0, result.output
        assert counts(result.output) == {
            "scanned": 5, "re-encrypted": 4, "already-current": 0, "failed": 0, "changed-meanwhile": 1,
        }
        assert client.get(f"{BASE}/openai", headers=headers).get_json()["data"]["apiKey"] == newer
        assert key_ids_in_rows(rotating) == [ID_B] * 5
