"""``/metrics``: off without METRICS_TOKEN, bearer-protected with it, and counting what happens."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AuthActions

TOKEN = "scrape-token-0123456789abcdef"


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape, keyed by name and sorted labels."""
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


class TestDisabled:
    def test_metrics_are_off_without_a_token(self, client: FlaskClient) -> None:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404
        assert response.get_json() == {"error": "Resource not found"}


class TestEnabled:
    @pytest.fixture
    def config_overrides(self) -> dict[str, Any]:
        return {"metrics_token": TOKEN}

    @pytest.mark.parametrize(
        "authorization",
        [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"],
    )
    def test_a_scrape_needs_the_token(self, client: FlaskClient, authorization: str | None) -> None:
        headers = {"Authorization": authorization} if authorization is not None else {}
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.get_json() == {"error": "Authentication required"}
        assert b"audiotricks_" not in response.data

    def test_requests_latency_and_logins_are_counted(
        self, client: FlaskClient, auth: AuthActions
    ) -> None:
        before = scrape(client)
        token = auth.signup()
        client.post(
            "/api/v1/auth/login", json={"email": "alice@example.com", "password": "Wrong-1234"}
        )
        client.post(
            "/api/v1/auth/login", json={"email": "nobody@example.com", "password": "Wrong-1234"}
        )
        for _ in range(3):
            client.get("/api/v1/auth/me", headers=auth.headers(token))
        client.get("/no/such/page")
        after = scrape(client)

        def delta(name: str, **labels: str) -> float:
            return value(after, name, **labels) - value(before, name, **labels)

        requests = "audiotricks_http_requests_total"
        assert delta(requests, endpoint="api.auth.me", method="GET", status="200") == 3
        assert delta(requests, endpoint="api.auth.register", method="POST", status="201") == 1
        assert delta(requests, endpoint="api.auth.login", method="POST", status="401") == 2
        assert delta(requests, endpoint="unmatched", method="GET", status="404") == 1
        latency = "audiotricks_http_request_duration_seconds"
        assert delta(f"{latency}_count", endpoint="api.auth.me", method="GET") == 3
        assert delta(f"{latency}_bucket", endpoint="api.auth.me", method="GET", le="+Inf") == 3
        assert delta(f"{latency}_sum", endpoint="api.auth.me", method="GET") > 0
        assert delta("audiotricks_logins_total", outcome="success") == 1
        assert delta("audiotricks_logins_total", outcome="failure") == 2

    def test_rate_limit_hits_are_counted(self, app: Flask, client: FlaskClient) -> None:
        @app.get("/test-only/limited")
        def limited() -> str:
            abort(429)

        before = scrape(client)
        for _ in range(2):
            response = client.get("/test-only/limited")
            assert response.status_code == 429
            assert response.get_json() == {"error": "Too many requests"}
        after = scrape(client)
        name = "audiotricks_rate_limited_total"
        assert value(after, name, endpoint="limited") - value(before, name, endpoint="limited") == 2

    def test_odd_methods_and_paths_do_not_create_new_series(self, client: FlaskClient) -> None:
        unknown = client.open("/x/" + "a" * 50, method="BREW")
        odd_method = client.open("/health", method="BREW")
        names = {
            labels for (name, labels) in scrape(client) if name == "audiotricks_http_requests_total"
        }
        assert (unknown.status_code, odd_method.status_code) == (404, 405)
        assert (("endpoint", "unmatched"), ("method", "other"), ("status", "404")) in names
        assert (("endpoint", "unmatched"), ("method", "other"), ("status", "405")) in names
        assert not any("a" * 50 in str(labels) or "BREW" in str(labels) for labels in names)

    def test_metrics_are_not_part_of_the_api_document(self, client: FlaskClient) -> None:
        paths = client.get("/api/v1/openapi.json").get_json()["paths"]
        assert "/metrics" not in paths
        assert all(path.startswith(("/api/v1/", "/health")) for path in paths)
