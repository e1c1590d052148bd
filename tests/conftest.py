"""Fixtures: an app per test on SQLite and on PostgreSQL, a client, and an ``auth`` helper."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import text

from audiotricks import create_app
from audiotricks.config import Config
from audiotricks.extensions import db
from tests import services

PASSWORD = "Correct-Horse-42"
TEST_JWT_SECRET = "test-jwt-secret-for-the-suite-only-0123456789-abcdefghijklmnopqrst"
TEST_ENCRYPTION_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
ENGINES = ("sqlite", "postgresql")


def make_config(database_url: str, **overrides: Any) -> Config:
    """The test configuration: fast bcrypt, no rate limits unless a test turns them on."""
    return Config(
        app_env="test",
        database_url=database_url,
        jwt_secret=TEST_JWT_SECRET,
        encryption_key=TEST_ENCRYPTION_KEY,
        bcrypt_rounds=4,
        ratelimit_enabled=False,
    ).replace(**overrides)


def dispose_engines(app: Flask) -> None:
    """Close every pooled connection of the app (main engine and session-check engine)."""
    with app.app_context():
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def migrated(database_url: str) -> None:
    """Apply the project's migrations to ``database_url``: the tests run on the real schema."""
    app = create_app(make_config(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str | None]:
    """A migrated scratch database on a real PostgreSQL, or None when there is none."""
    with services.postgres_server() as server:
        if server is None:
            yield None
            return
        with services.scratch_database(server) as url:
            migrated(url)
            yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str | None]:
    """A real Redis, or None when there is none."""
    with services.redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrated(f"sqlite:///{path}")
    return str(path)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The database engine under test; tests using ``app`` run once per engine."""
    return str(request.param)


@pytest.fixture
def database_url(
    engine: str, tmp_path: Any, sqlite_template: str, request: pytest.FixtureRequest
) -> str:
    """An empty, migrated database of the engine under test."""
    if engine == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    if url is None:
        services.unavailable("no PostgreSQL (set TEST_DATABASE_URL or install PostgreSQL)")
    _empty_postgres(url)
    return str(url)


def _empty_postgres(url: str) -> None:
    app = create_app(make_config(url))
    with app.app_context():
        db.session.execute(text("TRUNCATE users, sessions, user_settings CASCADE"))
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's configuration."""
    return {}


@pytest.fixture
def app(database_url: str, config_overrides: dict[str, Any], tmp_path: Any) -> Iterator[Flask]:
    # The job queue and the uploads of each test live in its own folder.
    places = {"queue_url": f"sqlite:///{tmp_path}/queue.db", "upload_dir": str(tmp_path / "up")}
    app = create_app(make_config(database_url, **{**places, **config_overrides}))
    yield app
    dispose_engines(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


class AuthActions:
    """Register, log in and build headers through the real HTTP endpoints."""

    def __init__(self, client: FlaskClient):
        self.client = client

    def register(
        self, email: str = "alice@example.com", username: str = "alice", password: str = PASSWORD
    ) -> Any:
        return self.client.post(
            "/api/v1/auth/register",
            json={"email": email, "username": username, "password": password},
        )

    def login(self, identifier: str = "alice@example.com", password: str = PASSWORD) -> str:
        """Log in (by email when ``identifier`` has an @) and return the token."""
        key = "email" if "@" in identifier else "username"
        response = self.client.post(
            "/api/v1/auth/login", json={key: identifier, "password": password}
        )
        assert response.status_code == 200, response.get_json()
        return str(response.get_json()["data"]["token"])

    def signup(self, email: str = "alice@example.com", username: str = "alice") -> str:
        """Register and log in; return the token."""
        assert self.register(email, username).status_code == 201
        return self.login(email)

    @staticmethod
    def headers(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(client: FlaskClient) -> AuthActions:
    return AuthActions(client)
