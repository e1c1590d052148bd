"""The history body limit (HISTORY_MAX_BYTES, history routes only) and the per-user item cap."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from audiotricks.models import HistoryItem
from tests.helpers import scalar
from tests.history.conftest import URL, create, minimal

HISTORY_LIMIT = 8 * 1024


@pytest.fixture
def config_overrides() -> dict[str, Any]:
    return {"history_max_bytes": HISTORY_LIMIT, "history_max_items": 3}


def count(app: Flask) -> int:
    return int(scalar(app, select(func.count()).select_from(HistoryItem)))


def sized(size: int) -> bytes:
    """A valid create body of exactly ``size`` bytes."""
    empty = len(json.dumps(minimal("")).encode())
    raw = json.dumps(minimal("a" * (size - empty))).encode()
    assert len(raw) == size
    return raw


def post_raw(client: FlaskClient, headers: dict[str, str], raw: bytes, chunked: bool) -> Any:
    sent = {**headers, "Content-Type": "application/json"}
    if chunked:  # no Content-Length: the body streams
        return client.post(URL, input_stream=io.BytesIO(raw), headers=sent)
    return client.post(URL, data=raw, headers=sent)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_at_the_history_limit_is_accepted(
    app: Flask, client: FlaskClient, headers: dict[str, str], chunked: bool
) -> None:
    assert post_raw(client, headers, sized(HISTORY_LIMIT), chunked).status_code == 201


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_history_limit_is_413(
    app: Flask, client: FlaskClient, headers: dict[str, str], chunked: bool
) -> None:
    response = post_raw(client, headers, sized(HISTORY_LIMIT + 1), chunked)
    assert response.status_code == 413
    assert response.get_json() == {"error": "Request body too large"}
    assert count(app) == 0


def test_other_routes_keep_max_content_length(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.put(
        "/api/v1/settings",
        json={"settingsJson": {"p": "x" * 70_000}},
        headers=headers,
    )
    assert response.status_code == 413


def test_the_default_history_limit_is_2_mib(database_url: str) -> None:
    from audiotricks import create_app
    from tests.conftest import dispose_engines, make_config

    app = create_app(make_config(database_url))
    client = app.test_client()
    try:
        assert client.post("/api/v1/auth/register", json={
            "email": "c@example.com", "username": "carol", "password": "Correct-Horse-42",
        }).status_code == 201
        token = client.post("/api/v1/auth/login", json={
            "email": "c@example.com", "password": "Correct-Horse-42",
        }).get_json()["data"]["token"]
        headers = {"Authorization": f"Bearer {token}"}
        over = post_raw(client, headers, sized(2 * 1024 * 1024 + 1), chunked=False)
        assert over.status_code == 413
        at = post_raw(client, headers, sized(1024 * 1024), chunked=False)
        assert at.status_code == 400  # fits the body limit; over the transcript's 1,000,000
    finally:
        dispose_engines(app)


def test_the_item_cap_is_409_and_creates_nothing(
    app: Flask, client: FlaskClient, headers: dict[str, str], other_headers: dict[str, str]
) -> None:
    for i in range(3):
        create(client, headers, minimal(clientId=f"c{i}"))

    response = client.post(URL, json=minimal(), headers=headers)

    assert response.status_code == 409
    assert response.get_json() == {"error": "History limit reached"}
    assert count(app) == 3
    # A retried upload of an item already there still answers with it.
    assert client.post(URL, json=minimal(clientId="c1"), headers=headers).status_code == 200
    # The cap is per user.
    create(client, other_headers, minimal())
    # Deleting one makes room again.
    first = client.get(URL, headers=headers).get_json()["data"]["items"][0]["id"]
    assert client.delete(f"{URL}/{first}", headers=headers).status_code == 200
    create(client, headers, minimal())
