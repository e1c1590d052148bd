"""The Flask-free security helpers on their own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from audiotricks.security import passwords, tokens

SECRET = "unit-test-secret-that-is-long-enough-for-hs256-0123456789abcdef"


def test_hash_and_verify_round_trip():
    hashed = passwords.hash_password("Correct-Horse-42", rounds=4)

    assert hashed.startswith("$2b$04$")
    assert passwords.verify_password("Correct-Horse-42", hashed)
    assert not passwords.verify_password("Correct-Horse-43", hashed)


def test_verify_never_raises_on_an_over_long_password():
    hashed = passwords.hash_password("Correct-Horse-42", rounds=4)

    assert passwords.verify_password("A" * 100, hashed) is False


def test_verify_or_dummy_fails_for_a_missing_account():
    assert passwords.verify_or_dummy("Correct-Horse-42", None, rounds=4) is False


@pytest.mark.parametrize("password", ["password1", "Password1", "iloveyou1", "Letmein1"])
def test_common_passwords_are_refused_whatever_their_case(password):
    assert any("common" in p for p in passwords.password_problems(password))


def test_a_good_password_has_no_problems():
    assert passwords.password_problems("Correct-Horse-42") == []


def test_token_round_trip():
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)

    token, expires = tokens.issue_token(user_id, session_id, SECRET, 3600, now)
    claims = tokens.decode_token(token, SECRET)

    assert claims.user_id == user_id
    assert claims.session_id == session_id
    assert claims.expires_at == expires
    assert expires.timestamp() == int(now.timestamp()) + 3600


def test_decode_rejects_another_secret():
    token, _ = tokens.issue_token(uuid.uuid4(), uuid.uuid4(), SECRET, 3600, datetime.now(UTC))

    with pytest.raises(tokens.InvalidToken):
        tokens.decode_token(token, SECRET + "x")


def test_token_hash_is_sha256_hex():
    assert tokens.token_hash("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_security_package_imports_no_flask():
    import subprocess
    import sys

    code = (
        "import sys, audiotricks.security.passwords, audiotricks.security.tokens;"
        "sys.exit('flask' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
