"""Two gunicorn instances sharing one PostgreSQL and one Redis behave as one service.

Real processes, real HTTP: a token from A works on B, a logout on B holds on A at once, a password
change on A ends the other sessions on B, and failed logins spread over both meet one limit.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.conftest import PASSWORD, _empty_postgres
from tests.ops.servers import PRODUCTION_MAIL

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any


class Instance:
    """One gunicorn master (one worker) of the app on its own port."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path):
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env={**env, "PORT": str(self.port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            services.wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise AssertionError(f"gunicorn did not start:\n{self.log.read_text()}") from None

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> Reply:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return Reply(response.status, response.headers, json.load(response))
        except urllib.error.HTTPError as error:
            with error:
                return Reply(error.code, error.headers, json.load(error))

    def login(self, email: str, password: str = PASSWORD) -> Reply:
        return self.request("POST", "/api/v1/auth/login", {"email": email, "password": password})

    def token(self, email: str, password: str = PASSWORD) -> str:
        reply = self.login(email, password)
        assert reply.status == 200, reply.body
        return str(reply.body["data"]["token"])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


@pytest.fixture(scope="module")
def instances(
    postgres_url: str | None, redis_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Instance, Instance]]:
    if postgres_url is None:
        services.unavailable("no PostgreSQL (set TEST_DATABASE_URL or install PostgreSQL)")
    if redis_url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    _empty_postgres(postgres_url)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FLASK_", "RATELIMIT_", "CORS_", "TRUSTED_PROXY"))
    }
    env.update(
        APP_ENV="production",
        DATABASE_URL=postgres_url,
        # Identical secrets on every instance: a token is checked wherever it lands.
        JWT_SECRET=secrets.token_urlsafe(48),
        ENCRYPTION_KEY=secrets.token_hex(32),
        **PRODUCTION_MAIL,
        BCRYPT_ROUNDS="10",
        RATELIMIT_STORAGE_URI=redis_url,
        RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",  # Redis is shared: own namespace
        RATELIMIT_LOGIN="1000 per minute",
        RATELIMIT_LOGIN_ACCOUNT="3 per 15 minutes",
        RATELIMIT_REGISTER="1000 per minute",
        RATELIMIT_DEFAULT="1000 per minute",
        HOST="127.0.0.1",
        WEB_CONCURRENCY="1",
        GUNICORN_THREADS="2",
        LOG_LEVEL="WARNING",
    )
    log_dir = tmp_path_factory.mktemp("instances")
    started: list[Instance] = []
    try:
        for name in ("a", "b"):
            # One at a time: each must be in the list before the next starts, for the cleanup.
            started.append(Instance(name, env, log_dir))  # noqa: PERF401
        yield started[0], started[1]
    finally:
        for instance in started:
            instance.stop()


def register(instance: Instance, name: str) -> str:
    email = f"{name}@example.com"
    reply = instance.request(
        "POST", "/api/v1/auth/register", {"email": email, "username": name, "password": PASSWORD}
    )
    assert reply.status == 201, reply.body
    return email


def test_a_token_from_a_works_on_b_and_logout_on_b_holds_on_a(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    email = register(a, "erin")
    token = a.token(email)
    assert b.request("GET", "/api/v1/auth/me", token=token).status == 200
    assert a.request("GET", "/api/v1/auth/me", token=token).status == 200

    assert b.request("POST", "/api/v1/auth/logout", token=token).status == 200
    reply = a.request("GET", "/api/v1/auth/me", token=token)
    assert reply.status == 401
    assert reply.body == {"error": "Invalid or expired session"}


def test_a_password_change_on_a_ends_the_other_sessions_on_b(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    email = register(b, "frank")
    mine, other = a.token(email), b.token(email)
    new_password = "Brand-New-Horse-77"
    reply = a.request(
        "PUT",
        "/api/v1/auth/password",
        {"currentPassword": PASSWORD, "newPassword": new_password},
        token=mine,
    )
    assert reply.status == 200, reply.body
    assert b.request("GET", "/api/v1/auth/me", token=other).status == 401
    assert b.request("GET", "/api/v1/auth/me", token=mine).status == 200
    assert b.login(email).status == 401
    assert b.login(email, new_password).status == 200


def test_failed_logins_on_both_instances_meet_one_account_limit(
    instances: tuple[Instance, Instance],
) -> None:
    a, b = instances
    email = register(a, "grace")
    for instance in (a, b, a):
        assert instance.login(email, "Wrong-Horse-42").status == 401
    for instance in (b, a):
        reply = instance.login(email)  # the right password, too late
        assert reply.status == 429, reply.body
        assert reply.body == {"error": "Too many requests"}
        assert int(reply.headers["Retry-After"]) > 0
        assert reply.headers["X-RateLimit-Limit"] == "3"
        assert reply.headers["X-RateLimit-Remaining"] == "0"


def test_production_headers_from_gunicorn(instances: tuple[Instance, Instance]) -> None:
    a, _ = instances
    reply = a.request("GET", "/health")
    assert reply.status == 200
    assert reply.headers.get_all("Server") == ["audiotricks"]
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
    assert reply.headers["X-Frame-Options"] == "DENY"
    assert reply.headers["Cross-Origin-Opener-Policy"] == "same-origin"
