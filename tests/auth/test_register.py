"""POST /api/v1/auth/register: the account rules of API.md, on both engines."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from audiotricks.extensions import db
from audiotricks.models import User, UserSettings
from tests.conftest import PASSWORD

URL = "/api/v1/auth/register"
VALID = {"email": "alice@example.com", "username": "alice", "password": PASSWORD}


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def fields_of(response) -> set[str]:
    return {e["field"] for e in response.get_json()["errors"]}


def test_register_creates_user_and_default_settings(client, app):
    response = client.post(URL, json=VALID)

    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "Registration successful"
    user = body["data"]["user"]
    assert set(user) == {
        "id", "email", "username", "isActive", "emailVerified", "createdAt", "updatedAt",
        "lastLoginAt",
    }
    assert user["emailVerified"] is False
    assert user["email"] == "alice@example.com"
    assert user["username"] == "alice"
    assert user["isActive"] is True
    assert user["lastLoginAt"] is None
    assert user["createdAt"].endswith("Z")
    with app.app_context():
        settings = db.session.get(UserSettings, uuid.UUID(user["id"]))
        assert settings.preferred_language == "en"
        assert settings.summary_quality == "balanced"
        assert settings.settings_json == {}


def test_register_trims_and_lowercases_email_and_keeps_username_as_typed(client):
    response = client.post(URL, json={**VALID, "email": "  Alice@Example.COM ", "username": "Alice_01"})

    assert response.status_code == 201
    user = response.get_json()["data"]["user"]
    assert user["email"] == "alice@example.com"
    assert user["username"] == "Alice_01"


def test_response_never_contains_password_or_hash(client):
    response = client.post(URL, json=VALID)

    text = response.get_data(as_text=True)
    assert PASSWORD not in text
    assert "$2b$" not in text
    assert "password" not in text.lower()


@pytest.mark.parametrize(
    ("second", "error"),
    [
        ({"email": "ALICE@example.com ", "username": "bob"}, "Email already registered"),
        ({"email": "bob@example.com", "username": "ALICE"}, "Username already taken"),
    ],
)
def test_duplicate_email_or_username_is_409(client, app, second, error):
    assert client.post(URL, json=VALID).status_code == 201

    response = client.post(URL, json={**VALID, **second})

    assert response.status_code == 409
    assert response.get_json() == {"error": error}
    assert user_count(app) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "alice", "password": PASSWORD}, "email"),
        ({"email": "alice@example.com", "password": PASSWORD}, "username"),
        ({"email": "alice@example.com", "username": "alice"}, "password"),
        ({**VALID, "email": None}, "email"),
        ({**VALID, "username": None}, "username"),
        ({**VALID, "password": None}, "password"),
        ({**VALID, "email": 42}, "email"),
        ({**VALID, "username": ["alice"]}, "username"),
        ({**VALID, "password": {"a": 1}}, "password"),
        ({**VALID, "email": "not-an-email"}, "email"),
        ({**VALID, "email": "alice@"}, "email"),
        ({**VALID, "email": "a" * 250 + "@example.com"}, "email"),
        ({**VALID, "username": "al"}, "username"),
        ({**VALID, "username": "a" * 31}, "username"),
        ({**VALID, "username": "alice smith"}, "username"),
        ({**VALID, "username": "alice!"}, "username"),
        ({**VALID, "username": "ålice"}, "username"),
        ({**VALID, "username": "alice\n"}, "username"),
        ({**VALID, "email": "alice\u0000@example.com"}, "email"),
        ({**VALID, "username": "ali\u0000ce"}, "username"),
        ({**VALID, "password": "Correct-Horse\u000042"}, "password"),
        ({**VALID, "role": "admin"}, "role"),
        ({**VALID, "Email": "x@example.com"}, "Email"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(client, app, body, field):
    response = client.post(URL, json=body)

    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "Validation failed"
    assert field in fields_of(response)
    assert all(set(e) == {"field", "message"} for e in payload["errors"])
    assert user_count(app) == 0


@pytest.mark.parametrize(
    "password",
    [
        "Sh0rt",  # too short
        "alllowercase1",  # no upper case
        "ALLUPPERCASE1",  # no lower case
        "NoDigitsHere",  # no digit
        "Password123",  # very common
        "Qwerty123",  # very common
        "Abc12345",  # very common
    ],
)
def test_password_policy(client, app, password):
    response = client.post(URL, json={**VALID, "password": password})

    assert response.status_code == 400
    assert fields_of(response) == {"password"}
    assert password not in response.get_data(as_text=True)
    assert user_count(app) == 0


def test_73_byte_password_is_400_naming_the_limit(client, app):
    password = "Aa1" + "x" * 70  # 73 bytes

    response = client.post(URL, json={**VALID, "password": password})

    assert response.status_code == 400
    [error] = response.get_json()["errors"]
    assert error["field"] == "password"
    assert "72 bytes" in error["message"]
    assert user_count(app) == 0


def test_multibyte_password_under_72_characters_but_over_72_bytes_is_400(client):
    password = "Aa1" + "é" * 35  # 38 characters, 73 bytes

    assert len(password) < 72 < len(password.encode())
    response = client.post(URL, json={**VALID, "password": password})

    assert response.status_code == 400
    assert "72 bytes" in response.get_json()["errors"][0]["message"]


def test_72_byte_password_is_accepted_and_not_truncated(client, auth):
    password = "Aa1" + "z" * 69  # exactly 72 bytes

    assert auth.register(password=password).status_code == 201
    assert auth.login(password=password)
    almost = password[:-1] + "y"
    response = client.post("/api/v1/auth/login", json={"email": VALID["email"], "password": almost})
    assert response.status_code == 401


def test_validation_errors_never_echo_submitted_values(client):
    secret = "Unl1kely-Secret-Value-\u00e9" * 4

    response = client.post(URL, json={"email": secret, "username": secret, "password": secret, "x": secret})

    assert response.status_code == 400
    assert "Unl1kely" not in response.get_data(as_text=True)
