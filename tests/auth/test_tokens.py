"""The session check of API.md "Authenticated requests": every way a token can be wrong."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import update

from audiotricks.extensions import db
from audiotricks.models import AuthSession, User
from tests.conftest import TEST_JWT_SECRET

ME = "/api/v1/auth/me"


@pytest.fixture
def token(auth) -> str:
    return auth.signup()


def claims_of(token: str) -> dict:
    return jwt.decode(token, TEST_JWT_SECRET, algorithms=["HS256"])


def b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def assert_invalid_session(response):
    assert response.status_code == 401
    assert response.get_json() == {"error": "Invalid or expired session"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": ""}, {"Authorization": "Bearer"}, {"Authorization": "Bearer   "},
     {"Authorization": "Basic YWxpY2U6cHc="}, {"Authorization": "Token abc"}],
)
def test_missing_bearer_token_is_authentication_required(client, headers):
    response = client.get(ME, headers=headers)

    assert response.status_code == 401
    assert response.get_json() == {"error": "Authentication required"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_scheme_is_case_insensitive(client, token):
    assert client.get(ME, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_alg_none_token_is_rejected(client, token):
    forged = b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims_of(token)) + "."

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {forged}"}))


def test_token_signed_with_another_key_is_rejected(client, token):
    forged = jwt.encode(claims_of(token), "another-secret-of-sufficient-length!!", algorithm="HS256")

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {forged}"}))


def test_token_with_another_algorithm_is_rejected(client, token):
    forged = jwt.encode(claims_of(token), TEST_JWT_SECRET, algorithm="HS512")

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {forged}"}))


def test_tampered_payload_is_rejected(client, token):
    header, _, signature = token.split(".")
    claims = claims_of(token)
    claims["sub"] = str(uuid.uuid4())
    tampered = f"{header}.{b64(claims)}.{signature}"

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {tampered}"}))


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "eyJ.eyJ.sig", "x" * 5000, "é.é.é"])
def test_garbage_tokens_are_rejected(client, garbage):
    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {garbage}"}))


def test_expired_token_is_rejected(client, token):
    claims = claims_of(token)
    claims["exp"] = int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())
    expired = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {expired}"}))


@pytest.mark.parametrize("missing", ["sub", "sid", "iat", "exp"])
def test_token_missing_a_claim_is_rejected(client, token, missing):
    claims = claims_of(token)
    del claims[missing]
    forged = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {forged}"}))


def test_validly_signed_token_not_matching_the_session_hash_is_rejected(client, token):
    """A token minted with the right key but not the one the session stored (a leaked key)."""
    claims = claims_of(token)
    claims["iat"] -= 1
    other = jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {other}"}))


def test_token_whose_session_expired_is_rejected(client, app, token):
    with app.app_context():
        db.session.execute(update(AuthSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_token_of_revoked_session_is_rejected(client, app, token):
    with app.app_context():
        db.session.execute(update(AuthSession).values(revoked_at=datetime.now(UTC)))
        db.session.commit()

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_token_of_deleted_session_is_rejected(client, app, token):
    with app.app_context():
        db.session.query(AuthSession).delete()
        db.session.commit()

    assert_invalid_session(client.get(ME, headers={"Authorization": f"Bearer {token}"}))


def test_deactivated_user_with_live_session_is_403(client, app, token):
    with app.app_context():
        db.session.execute(update(User).values(is_active=False))
        db.session.commit()

    response = client.get(ME, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert response.get_json() == {"error": "Account is deactivated"}
