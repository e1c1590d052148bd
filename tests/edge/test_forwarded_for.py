"""Behind a trusted proxy, only a valid IP address in X-Forwarded-For becomes the client IP.

Anything else (garbage, markup, text longer than the session row's column) leaves the socket peer
in place; a valid address is stored in one canonical spelling. Runs on both engines: on
PostgreSQL a long value used to fail the login with a 500 (ip_address is VARCHAR(45)).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ENGINES, PASSWORD, AuthActions

PEER = "192.0.2.50"  # the socket peer: the proxy itself


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Both engines here (the edge tests otherwise run on SQLite only): the value is stored."""
    return str(request.param)


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"trusted_proxy_count": 1}


@pytest.fixture
def proxied(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = PEER
    return client


def login_from(client: FlaskClient, forwarded_for: str) -> dict[str, Any]:
    """Log in with ``forwarded_for``; the stored session as the API lists it."""
    response = client.post(
        "/api/v1/auth/login",
        json={"email": "alice@example.com", "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded_for},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["data"]["token"]
    sessions = client.get(
        "/api/v1/auth/sessions", headers={"Authorization": f"Bearer {token}"}
    ).get_json()["data"]["sessions"]
    (current,) = [s for s in sessions if s["current"]]
    return dict(current)


@pytest.mark.parametrize(
    ("forwarded_for", "client_ip"),
    [
        ("not-an-address", PEER),
        ("<script>alert(1)</script>", PEER),
        ("a" * 100, PEER),
        ("unknown", PEER),
        ("198.51.100.7, <script>", PEER),  # the proxy's own entry (the last) is what counts
        ("198.51.100.7, " + "b" * 100, PEER),
        ("198.51.100.7:4711", PEER),  # a port is not an address
        ("fe80::1%" + "x" * 100, "fe80::1"),  # a scope id is dropped, however long
        ("fe80::1%eth0", "fe80::1"),
        ("198.51.100.7", "198.51.100.7"),
        ("<script>, 198.51.100.8", "198.51.100.8"),  # a client's own bad entry is not the last
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("::ffff:198.51.100.9", "198.51.100.9"),  # IPv4-mapped: the IPv4 client
        (" 203.0.113.4 ", "203.0.113.4"),
    ],
)
def test_only_a_valid_forwarded_address_becomes_the_client_ip(
    proxied: FlaskClient, forwarded_for: str, client_ip: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert AuthActions(proxied).register().status_code == 201
    caplog.set_level(logging.INFO, logger="audiotricks.access")

    assert login_from(proxied, forwarded_for)["ipAddress"] == client_ip

    logged = {
        r.__dict__["path"]: r.__dict__["client_ip"]
        for r in caplog.records
        if r.name == "audiotricks.access"
    }
    assert logged["/api/v1/auth/login"] == client_ip  # the access log sees the same value
    assert "<script>" not in json.dumps(logged)


@pytest.mark.parametrize(
    "config_overrides",
    [{"trusted_proxy_count": 1, "ratelimit_enabled": True, "ratelimit_default": "2 per minute"}],
)
def test_garbage_forwarded_addresses_share_the_proxy_peers_rate_limit(
    proxied: FlaskClient,
) -> None:
    # Two different garbage values: neither is a key of its own, both count against the peer.
    for value in ("x" * 100, "<script>"):
        assert proxied.get("/api/v1/auth/me", headers={"X-Forwarded-For": value}).status_code == 401
    limited = proxied.get("/api/v1/auth/me", headers={"X-Forwarded-For": "y" * 100})
    assert limited.status_code == 429
    assert limited.get_json() == {"error": "Too many requests"}
    # A valid client behind the same proxy still has its own budget.
    ok = proxied.get("/api/v1/auth/me", headers={"X-Forwarded-For": "198.51.100.20"})
    assert ok.status_code == 401

