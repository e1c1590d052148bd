"""CORS for the frontend's origins on /api/* only (the browser proof is in test_browser_cors)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

ALLOWED = "https://app.example.com"


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"cors_origins": (ALLOWED, "http://localhost:5173")}


def test_allowed_origin_may_read_responses_and_headers(client: FlaskClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in response.headers.get("Vary", "")
    exposed = {h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")}
    assert {
        "x-request-id",
        "retry-after",
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    } <= exposed
    assert "Access-Control-Allow-Credentials" not in response.headers


@pytest.mark.parametrize(
    "origin", ["https://evil.example.com", "null", "https://app.example.com.evil.net", "http://app.example.com"]
)
def test_other_origins_get_no_grant(client: FlaskClient, origin: str) -> None:
    response = client.get("/api/v1/auth/me", headers={"Origin": origin})
    assert response.status_code == 401
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_origin_no_grant(client: FlaskClient) -> None:
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/openapi.json").headers


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/auth/me", "GET"),
        ("/api/v1/auth/login", "POST"),
        ("/api/v1/auth/logout", "POST"),
        # The grant lists the methods, whatever the route: any existing route shows it.
        ("/api/v1/auth/me", "PUT"),
        ("/api/v1/auth/me", "DELETE"),
    ],
)
def test_preflight_for_the_frontend_methods_and_headers(
    client: FlaskClient, path: str, method: str
) -> None:
    response = client.options(
        path,
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert method in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "Origin" in response.headers.get("Vary", "")


@pytest.mark.parametrize("origin", ["https://evil.example.com", "null"])
def test_preflight_from_other_origins_is_refused(client: FlaskClient, origin: str) -> None:
    response = client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_cors_is_limited_to_the_api(client: FlaskClient) -> None:
    response = client.get("/health", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers
