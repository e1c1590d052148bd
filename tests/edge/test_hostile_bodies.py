"""Bodies built to be read two ways or to exhaust a parser: duplicate keys, deep nesting, and
streamed bodies past the size limit. Each is refused before any work, and none can reach a
password check unlimited."""

from __future__ import annotations

import http.client
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from audiotricks.http import JSON_MAX_DEPTH
from tests.conftest import PASSWORD, AuthActions
from tests.ops.client import call
from tests.ops.servers import gunicorn, production_env

LOGIN = "/api/v1/auth/login"


def nested(depth: int) -> str:
    """A JSON value of exactly ``depth`` levels (``[]`` is 1)."""
    return "[" * depth + "]" * depth


def post(client: FlaskClient, path: str, body: str, method: str = "POST", **kwargs: Any) -> Any:
    return client.open(path, method=method, data=body, content_type="application/json", **kwargs)


def assert_refused(response: Any, message: str) -> None:
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "Validation failed",
        "errors": [{"field": "body", "message": message}],
    }


DUPLICATE = "Must not contain duplicate keys."
TOO_DEEP = f"Must not be nested deeper than {JSON_MAX_DEPTH} levels."


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "a@example.com", "email": "b@example.com", "password": "x"}',
        '{"email": "a@example.com", "password": "x", "password": "y"}',
        # Duplicates deeper down are as ambiguous as at the top.
        '{"username": "alice", "password": "x", "extra": {"a": 1, "a": 2}}',
    ],
)
def test_a_duplicate_key_is_refused(client: FlaskClient, body: str) -> None:
    assert_refused(post(client, LOGIN, body), DUPLICATE)


def test_nesting_up_to_the_limit_is_read_and_one_more_level_is_refused(
    client: FlaskClient, auth: AuthActions
) -> None:
    token = auth.signup()
    headers = auth.headers(token)
    # settingsJson has its own, lower depth rule: reaching it proves the body itself was read.
    at_limit = '{"settingsJson": {"a": ' + nested(JSON_MAX_DEPTH - 2) + "}}"
    response = post(client, "/api/v1/settings", at_limit, headers=headers, method="PUT")
    assert response.status_code == 400
    assert response.get_json()["errors"][0]["field"] == "settingsJson"
    too_deep = '{"settingsJson": {"a": ' + nested(JSON_MAX_DEPTH - 1) + "}}"
    assert_refused(post(client, "/api/v1/settings", too_deep, headers=headers, method="PUT"), TOO_DEEP)


@pytest.mark.parametrize("depth", [JSON_MAX_DEPTH + 1, 970, 30_000])
def test_deep_nesting_is_refused_whatever_the_depth(client: FlaskClient, depth: int) -> None:
    body = '{"email": ' + nested(depth) + ', "password": "x"}'
    assert_refused(post(client, LOGIN, body), TOO_DEEP)


@pytest.mark.parametrize(
    "config_overrides",
    [{"ratelimit_enabled": True, "ratelimit_login_account": "2 per 15 minutes"}],
)
def test_the_limit_skipping_body_never_reaches_a_password_check(
    client: FlaskClient, auth: AuthActions
) -> None:
    """The reported attack: a deep value the limiter's key function choked on, and a duplicate
    key that made the view read another account than the limiter did."""
    auth.register("victim@example.com", "victim")
    crafted = '{"email": %s, "email": "victim@example.com", "password": "%s"}'
    for _ in range(2):
        response = post(client, LOGIN, crafted % (nested(970), "Wrong-Guess-1"))
        assert response.status_code == 400
    # Locked by honest failures, the account stays locked for crafted bodies with the right password.
    for _ in range(2):
        bad = client.post(LOGIN, json={"email": "victim@example.com", "password": "Wrong-Guess-1"})
        assert bad.status_code == 401
    assert client.post(LOGIN, json={"email": "victim@example.com", "password": PASSWORD}).status_code == 429
    for body in (crafted % (nested(970), PASSWORD), crafted % ('"x@example.com"', PASSWORD)):
        response = post(client, LOGIN, body)
        assert response.status_code == 400
        assert "token" not in response.get_data(as_text=True)


@pytest.mark.parametrize("depth", [JSON_MAX_DEPTH + 1, 5000])
def test_every_body_endpoint_refuses_deep_nesting(
    client: FlaskClient, auth: AuthActions, depth: int
) -> None:
    headers = auth.headers(auth.signup())
    body = '{"password": ' + nested(depth) + "}"
    for method, path in (("POST", "/api/v1/auth/register"), ("DELETE", "/api/v1/auth/me"),
                         ("PUT", "/api/v1/auth/password"), ("PUT", "/api/v1/settings"),
                         ("PUT", "/api/v1/settings/api-keys/openai")):
        response = post(client, path, body, headers=headers, method=method)
        assert_refused(response, TOO_DEEP)
    # Nothing changed: the account still answers with its old password.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200


def chunked_post(port: int, path: str, chunks: list[bytes]) -> tuple[int, str]:
    """POST a body with Transfer-Encoding: chunked (no Content-Length)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", path)
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for chunk in chunks:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        return response.status, response.read().decode()
    except (BrokenPipeError, ConnectionResetError):
        return 0, "connection closed while sending"
    finally:
        connection.close()


@pytest.mark.slow
def test_a_chunked_body_past_the_limit_is_a_413(tmp_path: Path, sqlite_template: str) -> None:
    """Werkzeug cuts a streamed body at MAX_CONTENT_LENGTH instead of refusing it; the first
    64 KiB here are a complete, valid login, so the cut body would have been accepted."""
    database = tmp_path / "app.db"
    shutil.copyfile(sqlite_template, database)
    env = production_env(f"sqlite:///{database}", WEB_CONCURRENCY="1")
    login = b'{"email": "nobody@example.com", "password": "Some-Password-1"}'
    limit = 65536
    with gunicorn(env, tmp_path / "gunicorn.log") as server:
        exact = login + b" " * (limit - len(login))
        status, _ = chunked_post(server.port, LOGIN, [exact[: limit // 2], exact[limit // 2 :]])
        assert status == 401  # exactly at the limit: read and answered
        status, text = chunked_post(server.port, LOGIN, [exact, b" " * 10])
        assert status == 413, text
        status, text = chunked_post(server.port, LOGIN, [exact, b" " * 70_000])
        assert status in (0, 413), text  # the server may close before reading it all
        assert call(server.port, "GET", "/health").status == 200
