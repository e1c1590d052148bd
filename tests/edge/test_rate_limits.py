"""Rate limits on memory:// and on a real Redis: defaults, login per IP and per account, register,
the 429 shape, proxy trust, and failing open when Redis is down."""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from audiotricks import create_app
from audiotricks.extensions import db
from audiotricks.models import AuthSession
from audiotricks.ratelimits import close_rate_limit_storage
from tests import services
from tests.conftest import PASSWORD, AuthActions, dispose_engines, make_config

LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    """Every test here runs on the in-process storage and on a real Redis."""
    if request.param == "memory":
        return "memory://"
    url = request.getfixturevalue("redis_url")
    if url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    return str(url)


@pytest.fixture
def limits(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Per-test settings, given with ``pytest.mark.parametrize("limits", [...], indirect=True)``."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def config_overrides(storage_uri: str, limits: dict[str, Any]) -> dict[str, Any]:
    return {
        "ratelimit_enabled": True,
        "ratelimit_storage_uri": storage_uri,
        # Redis is shared with other test runs: a fresh namespace, never a flush.
        "ratelimit_key_prefix": f"test-{uuid.uuid4().hex}",
        "ratelimit_default": "100 per minute",
        "ratelimit_login": "100 per minute",
        "ratelimit_login_account": "100 per 15 minutes",
        "ratelimit_register": "100 per minute",
        **limits,
    }


def login(client: FlaskClient, password: str = PASSWORD, **identity: str) -> Any:
    return client.post(LOGIN, json={**identity, "password": password})


def assert_too_many(response: Any) -> None:
    assert response.status_code == 429
    assert response.get_json() == {"error": "Too many requests"}
    assert int(response.headers["Retry-After"]) > 0
    for name in RATE_HEADERS:
        assert name in response.headers
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("limits", [{"ratelimit_default": "3 per minute"}], indirect=True)
def test_default_limit_on_every_api_route_per_ip(client: FlaskClient) -> None:
    for remaining in (2, 1, 0):
        response = client.get("/api/v1/auth/me")
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert "Retry-After" not in response.headers
    assert_too_many(client.get("/api/v1/auth/me"))
    # Another client IP has its own budget.
    other = client.get("/api/v1/auth/me", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code == 401


@pytest.mark.parametrize("limits", [{"ratelimit_default": "2 per minute"}], indirect=True)
def test_health_and_preflights_are_not_limited(client: FlaskClient) -> None:
    for _ in range(5):
        for path in ("/health", "/health/ready"):
            response = client.get(path)
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers
        preflight = client.options(
            "/api/v1/auth/me",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 204
    assert client.get("/api/v1/auth/me").status_code == 401


@pytest.mark.parametrize("limits", [{"ratelimit_login": "3 per minute"}], indirect=True)
def test_login_limit_per_ip(client: FlaskClient, auth: AuthActions) -> None:
    for index in range(3):
        assert auth.register(f"user{index}@example.com", f"user{index}").status_code == 201
    for index in range(3):
        response = login(client, email=f"user{index}@example.com")
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "3"
    assert_too_many(login(client, email="user0@example.com"))


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "3 per 15 minutes"}], indirect=True)
def test_failed_logins_per_account_then_even_the_right_password_is_refused(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register()
    auth.register("bob@example.com", "bob")
    for _ in range(4):  # successes do not count
        assert login(client, email="alice@example.com").status_code == 200
    for _ in range(3):
        response = login(client, "Wrong-Horse-42", email="alice@example.com")
        assert response.status_code == 401
        assert response.get_json() == {"error": "Invalid credentials"}
    # Limited now: the right password, any case of the address, a wrong password: all 429.
    assert_too_many(login(client, email="alice@example.com"))
    assert_too_many(login(client, email="  ALICE@example.COM "))
    assert_too_many(login(client, "Wrong-Horse-42", email="alice@example.com"))
    # Other accounts from the same IP are untouched.
    assert login(client, email="bob@example.com").status_code == 200


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "2 per 15 minutes"}], indirect=True)
def test_failed_logins_by_username_are_counted_case_insensitively(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register()
    assert login(client, "Wrong-Horse-42", username="Alice").status_code == 401
    assert login(client, "Wrong-Horse-42", username="aLiCe").status_code == 401
    assert_too_many(login(client, username="alice"))


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "2 per 15 minutes"}], indirect=True)
def test_email_and_username_count_against_one_account_limit(
    client: FlaskClient, auth: AuthActions
) -> None:
    auth.register()
    assert login(client, "Wrong-Horse-42", email="alice@example.com").status_code == 401
    assert login(client, "Wrong-Horse-42", username="alice").status_code == 401
    # Limited, whichever name the account is given.
    assert_too_many(login(client, username="Alice"))
    assert_too_many(login(client, email="alice@example.com"))


def test_an_unreadable_identifier_is_a_400_not_a_500(client: FlaskClient) -> None:
    body = '{"username": "al\\ud800ice", "password": "Correct-Horse-42"}'
    response = client.post("/api/v1/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("limits", [{"ratelimit_register": "2 per minute"}], indirect=True)
def test_register_limit_per_ip(client: FlaskClient, auth: AuthActions) -> None:
    assert auth.register("a@example.com", "aaa").status_code == 201
    assert auth.register("a@example.com", "aaa").status_code == 409  # failures count too
    assert_too_many(auth.register("c@example.com", "ccc"))


@pytest.mark.parametrize("limits", [{"ratelimit_register": "1 per minute"}], indirect=True)
def test_a_429_is_readable_by_the_frontend(client: FlaskClient, auth: AuthActions) -> None:
    origin = "http://localhost:5173"
    auth.register()
    response = client.post(
        REGISTER,
        json={"email": "b@example.com", "username": "bob", "password": PASSWORD},
        headers={"Origin": origin},
    )
    assert_too_many(response)
    assert response.headers["Access-Control-Allow-Origin"] == origin
    assert "retry-after" in response.headers["Access-Control-Expose-Headers"].lower()


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "1 per 15 minutes"}], indirect=True)
def test_a_breach_is_logged_as_a_security_event_without_the_email(
    client: FlaskClient, auth: AuthActions, caplog: pytest.LogCaptureFixture
) -> None:
    auth.register("secret.person@example.com", "secretperson")
    caplog.set_level(logging.INFO)
    login(client, "Wrong-Horse-42", email="secret.person@example.com")
    assert_too_many(login(client, email="secret.person@example.com"))
    events = [r for r in caplog.records if getattr(r, "event", None) == "rate_limited"]
    assert len(events) == 1
    assert events[0].levelno == logging.WARNING
    assert events[0].getMessage() == "rate limit exceeded"
    assert events[0].path == LOGIN  # type: ignore[attr-defined]
    assert "1 per 15 minute" in events[0].limit  # type: ignore[attr-defined]
    for record in caplog.records:
        assert "secret.person" not in record.getMessage()
        assert "secret.person" not in str(vars(record))


@pytest.mark.parametrize("limits", [{"ratelimit_default": "2 per minute"}], indirect=True)
def test_a_client_cannot_pick_its_ip_with_x_forwarded_for(
    app: Flask, client: FlaskClient, auth: AuthActions
) -> None:
    for index in range(2):
        forged = {"X-Forwarded-For": f"198.51.100.{index}"}
        assert client.get("/api/v1/auth/me", headers=forged).status_code == 401
    assert_too_many(client.get("/api/v1/auth/me", headers={"X-Forwarded-For": "198.51.100.99"}))

    # The address stored with a session is the socket peer too.
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.50"
    AuthActions(other).register()
    response = other.post(
        LOGIN,
        json={"email": "alice@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(AuthSession.ip_address)).all() == ["192.0.2.50"]


@pytest.mark.parametrize(
    "limits", [{"ratelimit_default": "2 per minute", "trusted_proxy_count": 1}], indirect=True
)
def test_behind_a_trusted_proxy_the_forwarded_client_is_the_key(
    app: Flask, client: FlaskClient
) -> None:
    first = {"X-Forwarded-For": "198.51.100.1"}
    for _ in range(2):
        assert client.get("/api/v1/auth/me", headers=first).status_code == 401
    assert_too_many(client.get("/api/v1/auth/me", headers=first))
    # A client spoofing an extra hop is still keyed on what the proxy saw (the last entry).
    spoofed = {"X-Forwarded-For": "10.9.9.9, 198.51.100.1"}
    assert_too_many(client.get("/api/v1/auth/me", headers=spoofed))
    # Another client behind the same proxy has its own budget.
    assert client.get("/api/v1/auth/me", headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 401

    AuthActions(client).register()
    client.post(
        LOGIN,
        json={"email": "alice@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    with app.app_context():
        assert db.session.scalars(select(AuthSession.ip_address)).all() == ["203.0.113.9"]


def app_with_unreachable_redis(database_url: str, **overrides: Any) -> Flask:
    closed = services.free_port()  # nothing listens there
    return create_app(
        make_config(
            database_url,
            ratelimit_enabled=True,
            ratelimit_storage_uri=f"redis://127.0.0.1:{closed}/0",
            ratelimit_key_prefix=f"test-{uuid.uuid4().hex}",
            **overrides,
        )
    )


def test_redis_outage_fails_open_with_a_warning(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with_unreachable_redis(database_url)
    client = app.test_client()
    caplog.set_level(logging.WARNING)
    auth = AuthActions(client)
    assert auth.register().status_code == 201
    token = auth.login()
    assert client.get("/api/v1/auth/me", headers=auth.headers(token)).status_code == 200
    assert client.get("/health").status_code == 200
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("unreachable" in r.getMessage() for r in warnings)
    close_rate_limit_storage(app)
    dispose_engines(app)


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "1 per 15 minutes"}], indirect=True)
def test_bodies_that_cannot_be_read_keep_their_own_errors(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    too_large = {"email": "a@example.com", "password": "x" * 70_000}
    for _ in range(2):
        assert client.post(LOGIN, json=too_large).status_code == 413
        assert client.post(LOGIN, data="{not json", content_type="application/json").status_code == 400
        assert client.post(LOGIN, data="email=a", content_type="text/plain").status_code == 415
        assert client.post(LOGIN, json=["a"]).status_code == 400
    # None of them looked like a storage failure.
    assert not [r for r in caplog.records if "unreachable" in r.getMessage()]


def change_password(client: FlaskClient, token: str, current: str) -> Any:
    return client.put(
        "/api/v1/auth/password",
        json={"currentPassword": current, "newPassword": "Brand-New-Horse-7"},
        headers=AuthActions.headers(token),
    )


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "3 per 15 minutes"}], indirect=True)
def test_a_wrong_password_on_reauthentication_counts_as_a_failed_login(
    client: FlaskClient, auth: AuthActions
) -> None:
    """A stolen token must not be a password oracle with a looser limit than the login's."""
    token = auth.signup()
    headers = auth.headers(token)
    assert change_password(client, token, "Wrong-Horse-1").status_code == 400
    wrong_delete = client.delete("/api/v1/auth/me", json={"password": "Wrong-Horse-2"}, headers=headers)
    assert wrong_delete.status_code == 400
    assert login(client, "Wrong-Horse-3", email="alice@example.com").status_code == 401
    # The budget is spent, wherever it was spent: every password check of the account is refused.
    assert_too_many(change_password(client, token, PASSWORD))
    assert_too_many(client.delete("/api/v1/auth/me", json={"password": PASSWORD}, headers=headers))
    assert_too_many(login(client, email="alice@example.com"))
    # Refused before the check: the password did not change and the account still exists.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200


@pytest.mark.parametrize("limits", [{"ratelimit_login_account": "3 per 15 minutes"}], indirect=True)
def test_a_right_password_gives_its_attempt_back(client: FlaskClient, auth: AuthActions) -> None:
    token = auth.signup()
    for _ in range(2):
        assert login(client, "Wrong-Horse-42", email="alice@example.com").status_code == 401
    for _ in range(5):  # successes, by login and by re-authentication, spend nothing
        assert login(client, email="alice@example.com").status_code == 200
    assert change_password(client, token, PASSWORD).status_code == 200
    assert login(client, "Wrong-Horse-42", email="alice@example.com").status_code == 401
    assert_too_many(login(client, "Brand-New-Horse-7", email="alice@example.com"))


@pytest.mark.parametrize(
    "limits",
    [{"ratelimit_login": "50 per minute", "ratelimit_login_account": "10 per 15 minutes"}],
    indirect=True,
)
def test_login_headers_report_the_ip_limit_never_the_account_budget(
    client: FlaskClient, auth: AuthActions
) -> None:
    """The account's remaining failures would link an address to a username (fail by one name,
    watch the count drop when trying the other)."""
    auth.register()
    seen = []
    for identity in ({"username": "alice"}, {"email": "alice@example.com"}, {"username": "ghost"}):
        response = login(client, "Wrong-Horse-42", **identity)
        assert response.status_code == 401
        assert response.headers["X-RateLimit-Limit"] == "50"
        seen.append(int(response.headers["X-RateLimit-Remaining"]))
    assert seen == [49, 48, 47]  # one per request from this IP, whatever account it named


def test_unknown_logins_are_stored_under_a_keyed_hash(
    database_url: str, redis_url: str | None
) -> None:
    """A dump of the storage must not be reversible by hashing a list of addresses."""
    if redis_url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    prefix = f"test-{uuid.uuid4().hex}"
    app = create_app(
        make_config(
            database_url,
            ratelimit_enabled=True,
            ratelimit_storage_uri=redis_url,
            ratelimit_key_prefix=prefix,
            ratelimit_login_account="2 per 15 minutes",
        )
    )
    client = app.test_client()
    for _ in range(2):
        assert login(client, "Wrong-Horse-42", email="Ghost@Example.com").status_code == 401
    assert_too_many(login(client, "Wrong-Horse-42", email="ghost@example.com"))
    connection = redis.Redis.from_url(redis_url)
    keys = [key.decode() for key in connection.scan_iter(f"*{prefix}*")]
    connection.close()
    account_keys = [key for key in keys if "password-attempts" in key]
    assert len(account_keys) == 1
    assert "email:" in account_keys[0]
    assert "ghost" not in account_keys[0].lower()
    assert hashlib.sha256(b"ghost@example.com").hexdigest()[:32] not in account_keys[0]
    close_rate_limit_storage(app)
    dispose_engines(app)


@pytest.mark.parametrize("limits", [{"ratelimit_default": "3 per minute"}], indirect=True)
def test_unknown_api_routes_are_limited_per_ip(client: FlaskClient) -> None:
    paths = ["/api/v1/nope", "/api/v1/" + "a" * 4000, "/api/v2/x"]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 404
        assert response.headers["X-RateLimit-Limit"] == "3"
    assert_too_many(client.get("/api/v1/another"))
    assert_too_many(client.patch("/api/v1/auth/me"))  # a 405 costs the same budget ...
    assert client.get("/api/v1/auth/me").status_code == 401  # ... which known routes do not share
    assert client.get("/not-api-" + "b" * 100).status_code == 404


def test_a_storage_outage_still_counts_failed_logins(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = app_with_unreachable_redis(database_url, ratelimit_login_account="2 per 15 minutes")
    client = app.test_client()
    AuthActions(client).register()
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        assert login(client, "Wrong-Horse-42", email="alice@example.com").status_code == 401
    assert_too_many(login(client, email="alice@example.com"))
    assert any("unreachable" in r.getMessage() for r in caplog.records)
    close_rate_limit_storage(app)
    dispose_engines(app)
