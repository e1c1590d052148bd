"""POST /api/v1/auth/login and /logout, GET /me: credentials, tokens and session rows."""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import datetime

import jwt
import pytest
from sqlalchemy import select, update

from audiotricks.extensions import db
from audiotricks.models import AuthSession, User
from tests.conftest import PASSWORD, TEST_JWT_SECRET

URL = "/api/v1/auth/login"


@pytest.fixture
def alice(auth):
    assert auth.register().status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@example.com", "password": PASSWORD},
        {"email": "  ALICE@Example.com ", "password": PASSWORD},
        {"username": "alice", "password": PASSWORD},
        {"username": "ALICE", "password": PASSWORD},
    ],
)
def test_login_by_email_or_username_case_insensitive(client, alice, body):
    response = client.post(URL, json=body, headers={"User-Agent": "pytest-agent/1.0"})

    assert response.status_code == 200
    payload = response.get_json()
    assert payload["message"] == "Login successful"
    data = payload["data"]
    assert data["tokenType"] == "Bearer"
    assert data["user"]["username"] == "alice"
    assert data["user"]["lastLoginAt"] is not None
    claims = jwt.decode(data["token"], TEST_JWT_SECRET, algorithms=["HS256"])
    assert isinstance(claims["sub"], str) and claims["sub"] == data["user"]["id"]
    assert {"sub", "sid", "iat", "exp"} <= set(claims)
    expires = datetime.fromisoformat(data["expiresAt"].replace("Z", "+00:00"))
    assert int(expires.timestamp()) == claims["exp"]
    assert claims["exp"] - claims["iat"] == 604800


def test_login_writes_session_row_with_token_hash(client, app, alice):
    response = client.post(
        URL, json={"username": "alice", "password": PASSWORD}, headers={"User-Agent": "agent/2"}
    )
    data = response.get_json()["data"]
    claims = jwt.decode(data["token"], TEST_JWT_SECRET, algorithms=["HS256"])

    with app.app_context():
        row = db.session.get(AuthSession, uuid.UUID(claims["sid"]))
        user = db.session.get(User, uuid.UUID(claims["sub"]))
        assert row.user_id == user.id
        assert row.token_hash == hashlib.sha256(data["token"].encode()).hexdigest()
        assert int(row.expires_at.timestamp()) == claims["exp"]
        assert row.user_agent == "agent/2"
        assert row.ip_address == "127.0.0.1"
        assert row.revoked_at is None
        assert user.last_login_at == row.created_at


def test_unknown_account_and_wrong_password_look_identical(client, alice):
    wrong = client.post(URL, json={"email": "alice@example.com", "password": "Wrong-Pass-99"})
    unknown = client.post(URL, json={"email": "nobody@example.com", "password": "Wrong-Pass-99"})
    unknown_name = client.post(URL, json={"username": "nobody", "password": PASSWORD})

    for response in (wrong, unknown, unknown_name):
        assert response.status_code == 401
        assert response.get_json() == {"error": "Invalid credentials"}
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.get_data() == unknown.get_data()


def test_unknown_account_costs_a_bcrypt_verification(app, client, alice):
    """The dummy-hash verify keeps timing flat; compared on medians, not asserted tightly."""

    def median_time(body):
        samples = []
        for _ in range(7):
            start = time.perf_counter()
            client.post(URL, json=body)
            samples.append(time.perf_counter() - start)
        return sorted(samples)[3]

    wrong = median_time({"email": "alice@example.com", "password": "Wrong-Pass-99"})
    unknown = median_time({"email": "nobody@example.com", "password": "Wrong-Pass-99"})
    # Both pay one bcrypt check; an unknown account must not be several times faster.
    assert unknown > wrong / 3


def test_deactivated_account_is_403_only_with_the_right_password(client, app, alice):
    with app.app_context():
        db.session.execute(update(User).values(is_active=False))
        db.session.commit()

    right = client.post(URL, json={"email": "alice@example.com", "password": PASSWORD})
    wrong = client.post(URL, json={"email": "alice@example.com", "password": "Wrong-Pass-99"})

    assert right.status_code == 403
    assert right.get_json() == {"error": "Account is deactivated"}
    assert wrong.status_code == 401
    with app.app_context():
        assert db.session.scalars(select(AuthSession)).all() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "email"),
        ({"email": "alice@example.com", "username": "alice", "password": PASSWORD}, "email"),
        ({"email": "alice@example.com"}, "password"),
        ({"email": "alice@example.com", "password": ""}, "password"),
        ({"email": "alice@example.com", "password": None}, "password"),
        ({"email": None, "password": PASSWORD}, "email"),
        ({"username": 7, "password": PASSWORD}, "username"),
        ({"email": "alice@example.com", "password": 12345678}, "password"),
        ({"email": "alice@example.com", "password": PASSWORD, "remember": True}, "remember"),
        ({"email": "a" * 255, "password": PASSWORD}, "email"),
        ({"email": "alice@example.com", "password": "Aa1" + "x" * 70}, "password"),
        ({"email": "alice@example.com", "password": "Aa1" + "é" * 35}, "password"),
        ({"email": "alice\u0000@example.com", "password": PASSWORD}, "email"),
    ],
)
def test_bad_login_bodies_are_400(client, alice, body, field):
    response = client.post(URL, json=body)

    assert response.status_code == 400
    payload = response.get_json()
    assert payload["error"] == "Validation failed"
    assert field in {e["field"] for e in payload["errors"]}


def test_me_returns_user_with_settings(client, auth, alice):
    token = auth.login()

    response = client.get("/api/v1/auth/me", headers=auth.headers(token))

    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Current user"
    user = body["data"]["user"]
    assert user["email"] == "alice@example.com"
    assert user["settings"] == {
        "preferredLanguage": "en",
        "summaryQuality": "balanced",
        "settingsJson": {},
    }


def test_logout_revokes_the_session_at_once(client, app, auth, alice):
    token = auth.login()
    other = auth.login()

    response = client.post("/api/v1/auth/logout", headers=auth.headers(token))

    assert response.status_code == 200
    assert response.get_json() == {"message": "Logout successful", "data": {}}
    again = client.get("/api/v1/auth/me", headers=auth.headers(token))
    assert again.status_code == 401
    assert again.get_json() == {"error": "Invalid or expired session"}
    assert client.post("/api/v1/auth/logout", headers=auth.headers(token)).status_code == 401
    # Other sessions of the same user are untouched.
    assert client.get("/api/v1/auth/me", headers=auth.headers(other)).status_code == 200
