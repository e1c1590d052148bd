"""One storage call per limit and request (audiotricks.ratelimits.window), with every figure exact."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from audiotricks import create_app
from audiotricks.ratelimits import LIMITER_KEY, close_rate_limit_storage
from audiotricks.ratelimits.sqlite_storage import SQLiteStorage
from tests import services
from tests.conftest import AuthActions, dispose_engines, make_config

ME = "/api/v1/auth/me"


def limited_app(database_url: str, storage_uri: str, **overrides: Any) -> Flask:
    return create_app(
        make_config(
            database_url,
            ratelimit_enabled=True,
            ratelimit_storage_uri=storage_uri,
            ratelimit_key_prefix=f"test-{uuid.uuid4().hex}",
            ratelimit_default="5 per minute",
            ratelimit_login="100 per minute",
            ratelimit_register="100 per minute",
            **overrides,
        )
    )


def count_redis_commands(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every command the app's limiter sends to Redis."""
    client = app.extensions[LIMITER_KEY].storage.storage
    sent: list[str] = []
    original = client.execute_command

    def counting(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return original(*args, **options)

    monkeypatch.setattr(client, "execute_command", counting)
    return sent


def test_redis_one_call_per_request_and_exact_headers(
    database_url: str, redis_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if redis_url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    app = limited_app(database_url, redis_url)
    client = app.test_client()
    auth = AuthActions(client)
    headers = auth.headers(auth.signup())
    sent = count_redis_commands(app, monkeypatch)
    before = time.time()
    answers = [client.get(ME, headers=headers) for _ in range(6)]
    # Before: an increment, then GET and TTL for the headers (three round trips per request).
    assert sent == ["EVALSHA"] * 6
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == "5"
        assert before + 55 <= int(answer.headers["X-RateLimit-Reset"]) <= time.time() + 62
    assert 0 < int(answers[-1].headers["Retry-After"]) <= 61
    close_rate_limit_storage(app)
    dispose_engines(app)


def test_sqlite_counts_and_reports_in_one_statement(tmp_path: Path) -> None:
    storage = SQLiteStorage(f"sqlite:///{tmp_path}/counters.db")
    now = time.time()
    count, expires_at = storage.incr_window("k", 60)
    assert count == 1
    assert now + 59 <= expires_at <= time.time() + 60
    assert storage.incr_window("k", 60, amount=2) == (3, expires_at)
    assert storage.incr("k", 60, amount=-1) == 2
    assert storage.get("k") == 2
    assert storage.get_expiry("k") == expires_at


def test_sqlite_headers_are_exact(database_url: str, tmp_path: Path) -> None:
    app = limited_app(database_url, f"sqlite:///{tmp_path}/counters.db")
    client = app.test_client()
    auth = AuthActions(client)
    headers = auth.headers(auth.signup())
    answers = [client.get(ME, headers=headers) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["4", "3", "2", "1", "0", "0"]
    dispose_engines(app)


def test_paths_outside_the_api_never_reach_the_storage(
    database_url: str, redis_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if redis_url is None:
        services.unavailable("no Redis (set TEST_REDIS_URL or install redis-server)")
    app = limited_app(database_url, redis_url)
    client = app.test_client()
    sent = count_redis_commands(app, monkeypatch)
    for _ in range(8):
        answer = client.get("/health")
        assert answer.status_code == 200
        assert "X-RateLimit-Limit" not in answer.headers
    assert client.options("/api/v1/auth/me").status_code == 204
    assert sent == []
    assert client.get("/api/v1/openapi.json").headers["X-RateLimit-Remaining"] == "4"
    assert sent == ["EVALSHA"]
    close_rate_limit_storage(app)
    dispose_engines(app)
