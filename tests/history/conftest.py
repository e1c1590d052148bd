"""History test helpers: a signed-up user's headers, item bodies, and calls by path."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import AuthActions

URL = "/api/v1/history"

BODY: dict[str, Any] = {
    "clientId": "1732530000000",
    "title": "Weekly sync",
    "language": "en",
    "durationSeconds": 1834.5,
    "source": {"fileName": "sync.m4a", "fileSizeBytes": 18234112},
    "transcript": {
        "text": "Welcome to the weekly sync. The budget review comes first.",
        "segments": [
            {"start": 0.0, "end": 4.2, "text": "Welcome to the weekly sync."},
            {"start": 4.2, "end": 9.0, "text": "The budget review comes first."},
        ],
    },
    "summary": {
        "text": "A weekly sync about the budget.",
        "takeaways": ["Budget approved"],
        "keyMoments": [
            {"timestamp": 65.0, "title": "Budget", "description": "Review", "importance": "high"}
        ],
    },
    "processingOptions": {"model": "whisper-1"},
}


def body(**changes: Any) -> dict[str, Any]:
    """A valid create body with ``changes`` applied (a value of ... removes the field)."""
    result = copy.deepcopy(BODY)
    for name, value in changes.items():
        if value is ...:
            result.pop(name, None)
        else:
            result[name] = value
    return result


def minimal(text: str = "Hello world", **extra: Any) -> dict[str, Any]:
    return {"transcript": {"text": text}, **extra}


@pytest.fixture
def headers(auth: AuthActions) -> dict[str, str]:
    return auth.headers(auth.signup())


@pytest.fixture
def other_headers(auth: AuthActions) -> dict[str, str]:
    return auth.headers(auth.signup("bob@example.com", "bob"))


def create(client: FlaskClient, headers: dict[str, str], payload: dict[str, Any]) -> Any:
    response = client.post(URL, json=payload, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["data"]["item"]


def assert_invalid(response: Any, field: str) -> None:
    assert response.status_code == 400, response.get_json()
    reply = response.get_json()
    assert reply["error"] == "Validation failed"
    assert field in [problem["field"] for problem in reply["errors"]], reply
