"""``GET``/``PUT /api/v1/settings``: defaults, partial updates and every validation rule."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from audiotricks.errors import InvalidSession
from audiotricks.extensions import db
from audiotricks.schemas.languages import ISO_639_1_CODES
from audiotricks.settings import service
from tests.conftest import AuthActions

URL = "/api/v1/settings"
RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
NO_KEY = {"configured": False, "last4": None, "updatedAt": None, "valid": None, "checkedAt": None}


@pytest.fixture
def headers(auth: AuthActions) -> dict[str, str]:
    return auth.headers(auth.signup())


def put(client: FlaskClient, headers: dict[str, str], body: Any) -> Any:
    return client.put(URL, json=body, headers=headers)


def nested(depth: int) -> dict[str, Any]:
    """An object nested ``depth`` deep: ``{}`` is 1, ``{"a": {}}`` is 2."""
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def padded(size: int, char: str = "x") -> dict[str, str]:
    """``{"p": "xxx..."}`` whose compact UTF-8 JSON is exactly ``size`` bytes."""
    overhead = compact_size({"p": ""})
    per_char = len(char.encode())
    assert (size - overhead) % per_char == 0
    value = {"p": char * ((size - overhead) // per_char)}
    assert compact_size(value) == size
    return value


def assert_validation_error(response: Any, field: str) -> None:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "Validation failed"
    assert field in [item["field"] for item in body["errors"]], body


def test_defaults(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"]
    settings = body["data"]["settings"]
    assert set(settings) == {
        "preferredLanguage", "summaryQuality", "settingsJson", "apiKeys", "updatedAt",
    }
    assert settings["preferredLanguage"] == "en"
    assert settings["summaryQuality"] == "balanced"
    assert settings["settingsJson"] == {}
    assert settings["apiKeys"] == {"openai": NO_KEY, "elevenlabs": NO_KEY}
    assert RFC3339_Z.fullmatch(settings["updatedAt"])
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("method", ["get", "put"])
def test_requires_authentication(client: FlaskClient, method: str) -> None:
    response = getattr(client, method)(URL, json={"summaryQuality": "concise"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Authentication required"}
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_bad_token(client: FlaskClient) -> None:
    response = client.get(URL, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Invalid or expired session"}


def test_trailing_slash_is_not_a_route(client: FlaskClient, headers: dict[str, str]) -> None:
    assert client.get(URL + "/", headers=headers).status_code == 404


def test_update_everything(client: FlaskClient, headers: dict[str, str]) -> None:
    before = client.get(URL, headers=headers).get_json()["data"]["settings"]
    body = {
        "preferredLanguage": "de",
        "summaryQuality": "detailed",
        "settingsJson": {"theme": "dark", "sizes": [1, 2.5, None, True], "ünï": "cødé"},
    }
    response = put(client, headers, body)
    assert response.status_code == 200, response.get_json()
    settings = response.get_json()["data"]["settings"]
    assert {k: settings[k] for k in body} == body
    assert settings["apiKeys"] == {"openai": NO_KEY, "elevenlabs": NO_KEY}
    assert settings["updatedAt"] >= before["updatedAt"]
    assert client.get(URL, headers=headers).get_json()["data"]["settings"] == settings


@pytest.mark.parametrize(
    "change",
    [
        {"preferredLanguage": "pt"},
        {"summaryQuality": "concise"},
        {"settingsJson": {"a": 1}},
    ],
)
def test_partial_update_keeps_the_other_fields(
    client: FlaskClient, headers: dict[str, str], change: dict[str, Any]
) -> None:
    start = {"preferredLanguage": "fr", "summaryQuality": "detailed", "settingsJson": {"k": "v"}}
    assert put(client, headers, start).status_code == 200
    response = put(client, headers, change)
    assert response.status_code == 200
    settings = response.get_json()["data"]["settings"]
    assert {k: settings[k] for k in start} == {**start, **change}


def test_settings_json_replaces_the_stored_object(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    put(client, headers, {"settingsJson": {"a": 1, "b": {"c": 2}}})
    response = put(client, headers, {"settingsJson": {"b": {"d": 3}}})
    assert response.get_json()["data"]["settings"]["settingsJson"] == {"b": {"d": 3}}
    response = put(client, headers, {"settingsJson": {}})
    assert response.get_json()["data"]["settings"]["settingsJson"] == {}


def test_every_iso_639_1_code_is_accepted(client: FlaskClient, headers: dict[str, str]) -> None:
    assert len(ISO_639_1_CODES) == 184
    for code in ("en", "de", "pt", "zh", "sh", "zu"):
        response = put(client, headers, {"preferredLanguage": code})
        assert response.status_code == 200
        assert response.get_json()["data"]["settings"]["preferredLanguage"] == code


@pytest.mark.parametrize("quality", ["concise", "balanced", "detailed"])
def test_summary_qualities(client: FlaskClient, headers: dict[str, str], quality: str) -> None:
    response = put(client, headers, {"summaryQuality": quality})
    assert response.get_json()["data"]["settings"]["summaryQuality"] == quality


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "body"),
        ({"apiKeys": {"openai": "sk-" + "a" * 30}}, "apiKeys"),
        ({"preferredLanguage": "de", "apiKeys": {}}, "apiKeys"),
        ({"summaryquality": "concise"}, "summaryquality"),
        ({"preferred_language": "de"}, "preferred_language"),
        ({"updatedAt": "2026-01-01T00:00:00Z"}, "updatedAt"),
        ({"preferredLanguage": "EN"}, "preferredLanguage"),
        ({"preferredLanguage": "En"}, "preferredLanguage"),
        ({"preferredLanguage": "eng"}, "preferredLanguage"),
        ({"preferredLanguage": "e"}, "preferredLanguage"),
        ({"preferredLanguage": ""}, "preferredLanguage"),
        ({"preferredLanguage": "xx"}, "preferredLanguage"),
        ({"preferredLanguage": "en-US"}, "preferredLanguage"),
        ({"preferredLanguage": " en"}, "preferredLanguage"),
        ({"preferredLanguage": "en\n"}, "preferredLanguage"),
        ({"preferredLanguage": None}, "preferredLanguage"),
        ({"preferredLanguage": 1}, "preferredLanguage"),
        ({"preferredLanguage": ["en"]}, "preferredLanguage"),
        ({"summaryQuality": "Balanced"}, "summaryQuality"),
        ({"summaryQuality": "best"}, "summaryQuality"),
        ({"summaryQuality": ""}, "summaryQuality"),
        ({"summaryQuality": None}, "summaryQuality"),
        ({"summaryQuality": 2}, "summaryQuality"),
        ({"summaryQuality": True}, "summaryQuality"),
        ({"settingsJson": []}, "settingsJson"),
        ({"settingsJson": [{"a": 1}]}, "settingsJson"),
        ({"settingsJson": "{}"}, "settingsJson"),
        ({"settingsJson": 1}, "settingsJson"),
        ({"settingsJson": True}, "settingsJson"),
        ({"settingsJson": None}, "settingsJson"),
        ({"settingsJson": nested(11)}, "settingsJson"),
        ({"settingsJson": {"a": [[[[[[[[[[]]]]]]]]]]}}, "settingsJson"),
        ({"settingsJson": {"p": "x" * 20000}}, "settingsJson"),
    ],
)
def test_bad_bodies(
    client: FlaskClient, headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    before = client.get(URL, headers=headers).get_json()["data"]["settings"]
    assert_validation_error(put(client, headers, body), field)
    assert client.get(URL, headers=headers).get_json()["data"]["settings"] == before


def test_several_problems_are_reported_together(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = put(
        client, headers, {"preferredLanguage": "EN", "summaryQuality": "best", "apiKeys": {}}
    )
    assert response.status_code == 400
    fields = sorted(item["field"] for item in response.get_json()["errors"])
    assert fields == ["apiKeys", "preferredLanguage", "summaryQuality"]


def test_errors_do_not_echo_values(client: FlaskClient, headers: dict[str, str]) -> None:
    response = put(client, headers, {"preferredLanguage": "qqsecretqq"})
    assert response.status_code == 400
    assert "qqsecretqq" not in response.get_data(as_text=True)


def test_depth_ten_is_accepted_and_eleven_refused(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    assert put(client, headers, {"settingsJson": nested(10)}).status_code == 200
    assert_validation_error(put(client, headers, {"settingsJson": nested(11)}), "settingsJson")
    # Arrays count like objects: the object (1) and nine arrays make 10.
    arrays: Any = []
    for _ in range(8):
        arrays = [arrays]
    assert put(client, headers, {"settingsJson": {"a": arrays}}).status_code == 200
    assert_validation_error(put(client, headers, {"settingsJson": {"a": [arrays]}}), "settingsJson")


def test_very_deep_json_is_a_clean_400(client: FlaskClient, headers: dict[str, str]) -> None:
    deep = '{"settingsJson": ' + '{"a": ' * 5000 + "{}" + "}" * 5000 + "}"
    response = client.put(URL, data=deep, content_type="application/json", headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize("char", ["x", "é", "€", "😀"], ids=["1-byte", "2-byte", "3-byte", "4-byte"])
def test_size_limit_counts_utf8_bytes(
    client: FlaskClient, headers: dict[str, str], char: str
) -> None:
    limit = 16 * 1024
    overhead = compact_size({"p": ""})
    width = len(char.encode())
    fitting = (limit - overhead) // width
    at_most = {"p": char * fitting}
    assert limit - width < compact_size(at_most) <= limit
    assert put(client, headers, {"settingsJson": at_most}).status_code == 200
    over = {"p": char * (fitting + 1)}
    assert compact_size(over) > limit
    assert_validation_error(put(client, headers, {"settingsJson": over}), "settingsJson")


def test_size_boundary_exact(client: FlaskClient, headers: dict[str, str]) -> None:
    assert put(client, headers, {"settingsJson": padded(16384)}).status_code == 200
    assert_validation_error(put(client, headers, {"settingsJson": padded(16385)}), "settingsJson")
    # Multibyte: 16384 bytes made of 2-byte characters is fine; one more byte is not.
    exact = {"p": "é" * ((16384 - compact_size({"p": ""})) // 2)}
    if compact_size(exact) == 16383:
        exact["p"] += "x"
    assert compact_size(exact) == 16384
    assert put(client, headers, {"settingsJson": exact}).status_code == 200
    exact["p"] += "x"
    assert_validation_error(put(client, headers, {"settingsJson": exact}), "settingsJson")


def test_size_is_measured_compact_not_as_sent(client: FlaskClient, headers: dict[str, str]) -> None:
    value = padded(16384)
    spaced = json.dumps({"settingsJson": value}, indent=8, ensure_ascii=True)
    response = client.put(URL, data=spaced, content_type="application/json", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["data"]["settings"]["settingsJson"] == value


@pytest.mark.parametrize(
    "raw",
    [
        '{"settingsJson": {"a": 1e400}}',
        '{"settingsJson": {"a": -1e400}}',
        '{"settingsJson": {"a": "\\ud800"}}',
        '{"settingsJson": {"\\udfff": 1}}',
    ],
    ids=["infinity", "minus-infinity", "lone-surrogate", "lone-surrogate-key"],
)
def test_values_no_database_can_store(
    client: FlaskClient, headers: dict[str, str], raw: str
) -> None:
    response = client.put(URL, data=raw, content_type="application/json", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"] == "Validation failed"
    assert all(e["field"].startswith("settingsJson") for e in response.get_json()["errors"])


def test_nul_character_in_settings_json(client: FlaskClient, headers: dict[str, str]) -> None:
    response = put(client, headers, {"settingsJson": {"a": "x\u0000y"}})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "data, content_type, status, error",
    [
        ('{"summaryQuality": "concise"}', "text/plain", 415, None),
        ('{"summaryQuality": "concise"}', None, 415, None),
        ("summaryQuality=concise", "application/x-www-form-urlencoded", 415, None),
        ('{"summaryQuality": ', "application/json", 400, "Malformed JSON body"),
        ("", "application/json", 400, "Malformed JSON body"),
        ("{'summaryQuality': 'concise'}", "application/json", 400, "Malformed JSON body"),
        ('{"settingsJson": {"a": NaN}}', "application/json", 400, "Malformed JSON body"),
        ("[]", "application/json", 400, "Validation failed"),
        ('"concise"', "application/json", 400, "Validation failed"),
        ("null", "application/json", 400, "Validation failed"),
        ("42", "application/json", 400, "Validation failed"),
    ],
)
def test_body_format(
    client: FlaskClient,
    headers: dict[str, str],
    data: str,
    content_type: str | None,
    status: int,
    error: str | None,
) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.put(URL, data=data, headers=headers, **kwargs)
    assert response.status_code == status
    body = response.get_json()
    assert set(body) <= {"error", "errors"}
    if error:
        assert body["error"] == error


def test_users_have_their_own_settings(client: FlaskClient, auth: AuthActions) -> None:
    alice = auth.headers(auth.signup())
    bob = auth.headers(auth.signup("bob@example.com", "bob"))
    put(client, alice, {"preferredLanguage": "ja", "settingsJson": {"owner": "alice"}})
    bob_settings = client.get(URL, headers=bob).get_json()["data"]["settings"]
    assert bob_settings["preferredLanguage"] == "en"
    assert bob_settings["settingsJson"] == {}


def test_me_reflects_a_settings_update(client: FlaskClient, headers: dict[str, str]) -> None:
    body = {"preferredLanguage": "es", "summaryQuality": "concise", "settingsJson": {"x": [1]}}
    assert put(client, headers, body).status_code == 200
    response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["data"]["user"]["settings"] == body


def test_missing_settings_row_is_recreated_with_defaults(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    with app.app_context():
        db.session.execute(text("DELETE FROM user_settings"))
        db.session.commit()
    response = client.get(URL, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["data"]["settings"]["summaryQuality"] == "balanced"
    assert put(client, headers, {"summaryQuality": "concise"}).status_code == 200


def test_key_reads_without_a_settings_row_create_it_and_find_no_key(
    app: Flask, client: FlaskClient, headers: dict[str, str]
) -> None:
    """The key reads use the row the session check read; with none they fall back to the table."""
    with app.app_context():
        db.session.execute(text("DELETE FROM user_settings"))
        db.session.commit()
    listed = client.get(f"{URL}/api-keys", headers=headers)
    assert listed.status_code == 200
    assert listed.get_json()["data"]["apiKeys"]["openai"]["configured"] is False
    assert client.get(f"{URL}/api-keys/openai", headers=headers).status_code == 404
    with app.app_context():
        count = db.session.execute(text("SELECT count(*) FROM user_settings")).scalar_one()
    assert count == 1


def test_settings_of_an_account_deleted_meanwhile_are_a_401_not_a_500(app: Flask) -> None:
    """A request whose account another request deleted finds no settings row and cannot create
    one (the foreign key refuses it): its session is gone, which is what it is told."""
    with app.test_request_context(), pytest.raises(InvalidSession):
        service.user_settings(uuid.uuid4())
