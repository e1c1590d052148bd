"""API.md "Conventions": body parsing, error envelopes, request ids and cache headers."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from audiotricks import create_app
from tests.conftest import make_config

REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ('{"email": "a@example.com"', "application/json"),
        ("{'email': 'a'}", "application/json"),
        ("", "application/json"),
        ('{"a": NaN}', "application/json"),
        (b'{"email": "\xff\xfe"}', "application/json"),
    ],
)
def test_malformed_json_is_400(client, data, content_type):
    response = client.post(REGISTER, data=data, content_type=content_type)

    assert response.status_code == 400
    assert response.get_json() == {"error": "Malformed JSON body"}


@pytest.mark.parametrize("data", ["[]", '"text"', "42", "null", "true", '[{"email": "x"}]'])
def test_json_that_is_not_an_object_is_a_validation_failure(client, data):
    response = client.post(REGISTER, data=data, content_type="application/json")

    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "Validation failed"
    assert body["errors"] == [{"field": "body", "message": "Request body must be a JSON object."}]


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1"],
)
def test_body_that_is_not_json_is_415(client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post(REGISTER, data='{"email": "a@example.com"}', headers=headers)

    assert response.status_code == 415
    assert set(response.get_json()) == {"error"}


def test_json_with_charset_utf8_is_accepted(client):
    response = client.post(
        REGISTER,
        data='{"email": "a@example.com", "username": "alice", "password": "Correct-Horse-42"}',
        content_type="application/json; charset=utf-8",
    )

    assert response.status_code == 201


def test_body_over_the_limit_is_413(app):
    small = create_app(make_config(app.config["SQLALCHEMY_DATABASE_URI"], max_content_length=2048))
    client = small.test_client()

    response = client.post(REGISTER, data='{"x": "' + "a" * 4096 + '"}', content_type="application/json")

    assert response.status_code == 413
    assert set(response.get_json()) == {"error"}


def test_unknown_route_is_json_404(client):
    response = client.get("/api/v1/nope")

    assert response.status_code == 404
    assert set(response.get_json()) == {"error"}
    assert response.headers["Cache-Control"] == "no-store"


def test_trailing_slash_is_not_an_alias(client):
    assert client.get("/api/v1/auth/me/").status_code == 404


def test_wrong_method_is_json_405_with_allow(client):
    response = client.get(REGISTER)

    assert response.status_code == 405
    assert set(response.get_json()) == {"error"}
    assert "POST" in response.headers["Allow"]


def test_request_id_is_echoed_when_sane(client):
    response = client.get("/health", headers={"X-Request-ID": "abc-123_X.y"})

    assert response.headers["X-Request-ID"] == "abc-123_X.y"


@pytest.mark.parametrize("supplied", ["", "a" * 129, "bad id", "evil\u00e9", "x;y", "<script>"])
def test_insane_request_id_is_replaced(client, supplied):
    response = client.get("/health", headers={"X-Request-ID": supplied})

    generated = response.headers["X-Request-ID"]
    assert generated != supplied
    assert 1 <= len(generated) <= 128


def test_every_response_has_a_request_id(client):
    for response in (client.get("/health"), client.get("/api/v1/nope"), client.post(REGISTER, data="x")):
        assert response.headers.get("X-Request-ID")


def test_api_responses_are_not_cached_but_health_is_not_forced(client):
    assert client.get("/api/v1/openapi.json").headers["Cache-Control"] == "no-store"
    assert client.get("/api/v1/auth/me").headers["Cache-Control"] == "no-store"


def _app_with_failing_route(app: Flask) -> Flask:
    @app.get("/api/v1/test-only/boom")
    def boom():
        raise RuntimeError("secret detail: s3cr3t-internal-value")

    return app


def test_unexpected_error_is_500_without_details_and_logged(database_url, caplog):
    app = _app_with_failing_route(create_app(make_config(database_url)))
    client = app.test_client()

    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/test-only/boom", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    assert response.get_json() == {"error": "Internal server error"}
    assert "s3cr3t" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    # The traceback reaches the server log (as text, once the redacting filter has read it).
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "audiotricks.errors"]
    assert record.request_id == "req-500"
    assert "RuntimeError: secret detail" in (record.exc_text or "")


def test_unreachable_database_is_503(tmp_path):
    # Nothing listens on port 1: every connection attempt fails at once.
    app = create_app(make_config("postgresql://postgres@127.0.0.1:1/nothing"))
    client = app.test_client()

    response = client.post(
        "/api/v1/auth/login", json={"email": "a@example.com", "password": "Correct-Horse-42"}
    )

    assert response.status_code == 503
    assert response.get_json() == {"error": "Service temporarily unavailable"}
    assert client.get("/health").status_code == 200
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "checks": {"database": "unavailable"}}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/auth/register",
            '{"email": "a@example.com", "username": "alice", "password": "Aa1\\ud800xyzw"}',
            "password",
        ),
        (
            "/api/v1/auth/login",
            '{"email": "a@example.com", "password": "Correct-Horse-42\\udfff"}',
            "password",
        ),
        ("/api/v1/auth/login", '{"username": "al\\ud800ice", "password": "Correct-Horse-42"}', "username"),
        ("/api/v1/auth/login", '{"\\ud800": 1, "password": "Correct-Horse-42"}', "body"),
    ],
)
def test_unpaired_surrogates_are_400_on_the_field(client, path, body, field):
    """JSON can spell a lone surrogate; UTF-8 (bcrypt, the drivers) cannot hold one."""
    response = client.post(path, data=body, content_type="application/json")

    assert response.status_code == 400
    assert {"field": field, "message": "Must not contain NUL characters or unpaired surrogates."} in (
        response.get_json()["errors"]
    )
