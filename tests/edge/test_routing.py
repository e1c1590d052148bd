"""Routing answers that used to fall outside the contract: a redirect built from the Host header,
and an empty ``200 text/html`` to OPTIONS."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from audiotricks.security_headers import COMMON_HEADERS


@pytest.mark.parametrize(
    "path",
    ["/api/v1//auth/me", "//api/v1/auth/me", "/api/v1/settings//api-keys", "/health//ready"],
)
def test_a_doubled_slash_is_a_json_404_never_a_redirect(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "Resource not found"}
    assert "Location" not in response.headers
    assert response.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/api/v1/settings/", "/api/v1/auth/me/", "/health/"])
def test_a_trailing_slash_is_a_json_404(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert response.get_json() == {"error": "Resource not found"}
    assert "Location" not in response.headers


def test_no_route_ends_in_a_slash(app: Flask) -> None:
    # With strict slashes, a route ending in "/" is the one thing that would still redirect.
    rules = [rule.rule for rule in app.url_map.iter_rules()]
    assert "/api/v1/settings" in rules
    assert [rule for rule in rules if rule.endswith("/")] == []


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/health", {"GET", "HEAD", "OPTIONS"}),
        ("/health/ready", {"GET", "HEAD", "OPTIONS"}),
        ("/api/v1/auth/me", {"GET", "HEAD", "DELETE", "OPTIONS"}),
        ("/api/v1/auth/login", {"POST", "OPTIONS"}),
    ],
)
def test_options_is_a_204_with_allow_and_the_usual_headers(
    client: FlaskClient, path: str, allowed: set[str]
) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert "Content-Type" not in response.headers
    assert set(response.headers["Allow"].split(", ")) == allowed
    assert response.headers["X-Request-ID"]
    for name, value in COMMON_HEADERS.items():
        assert response.headers[name] == value


def test_options_on_an_unknown_path_is_the_json_404(client: FlaskClient) -> None:
    response = client.options("/nothing-here")
    assert response.status_code == 404
    assert response.get_json() == {"error": "Resource not found"}
