"""Security headers on every response: API, errors, health and the docs page."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, Response
from flask.testing import FlaskClient

from audiotricks import create_app
from audiotricks.config import ConfigError
from tests.conftest import make_config
from tests.ops.servers import PRODUCTION_MAIL_CONFIG

API_CSP = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Permitted-Cross-Domain-Policies": "none",
}


def assert_common(response: Any) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, name
    assert "X-Powered-By" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/api/v1/openapi.json", 200),
        ("GET", "/api/v1/auth/me", 401),
        ("GET", "/api/v1/nowhere", 404),
        ("GET", "/nowhere", 404),
        ("DELETE", "/api/v1/auth/login", 405),
        ("POST", "/api/v1/auth/login", 415),
    ],
)
def test_every_response_has_the_strict_headers(
    client: FlaskClient, method: str, path: str, status: int
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == status
    assert_common(response)
    assert response.headers["Content-Security-Policy"] == API_CSP
    assert "Strict-Transport-Security" not in response.headers  # not in production


def test_docs_page_may_load_its_own_assets_only(client: FlaskClient) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert_common(response)
    csp = {
        part.split()[0]: part.split()[1:]
        for part in response.headers["Content-Security-Policy"].split("; ")
    }
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"][0] == "'self'"
    assert csp["img-src"] == ["'self'", "data:"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in response.headers["Content-Security-Policy"]


def test_docs_assets_and_script_get_the_api_policy(client: FlaskClient) -> None:
    with client.get("/api/v1/docs/docs.js") as response:  # a file response: close it
        assert response.status_code == 200
        assert response.headers["Content-Security-Policy"] == API_CSP


def test_hsts_in_production_only(database_url: str) -> None:
    production = make_config(
        database_url,
        app_env="production",
        bcrypt_rounds=10,
        jwt_secret="a-production-secret-with-many-distinct-chars-9876",
        **PRODUCTION_MAIL_CONFIG,
    )
    response = create_app(production).test_client().get("/health")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert_common(response)


def test_production_refuses_the_debugger(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    production = make_config(
        database_url,
        app_env="production",
        bcrypt_rounds=10,
        jwt_secret="a-production-secret-with-many-distinct-chars-9876",
        **PRODUCTION_MAIL_CONFIG,
    )
    with pytest.raises(ConfigError, match="FLASK_DEBUG"):
        create_app(production)
    create_app(make_config(database_url))  # development may debug


def test_each_header_is_sent_once_a_view_may_set_its_own_and_x_powered_by_is_dropped(
    app: Flask,
) -> None:
    """The headers are added to the list the app hands to the server: once each, and only where
    the response has none of that name (the docs page's own policy is kept, whatever case)."""

    @app.get("/own-headers")
    def own_headers() -> Response:
        response = Response("x")
        response.headers["x-frame-options"] = "SAMEORIGIN"
        response.headers["X-Powered-By"] = "PHP/5.4"
        return response

    @app.get("/boom")
    def boom() -> Response:
        raise RuntimeError("unhandled")

    client = app.test_client()
    own = client.get("/own-headers")
    names = [name.lower() for name, _ in own.headers]
    assert names.count("x-frame-options") == 1
    assert own.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "X-Powered-By" not in own.headers
    assert own.headers["Content-Security-Policy"] == API_CSP
    for response in (client.get("/health"), client.get("/boom")):
        names = [name.lower() for name, _ in response.headers]
        assert len(names) == len(set(names)), names
        assert_common(response)
    assert client.get("/boom").status_code == 500
