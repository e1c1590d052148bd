"""``/api/v1/settings/api-keys``: store, read, list and remove keys; validation; isolation."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import AuthActions
from tests.settings.helpers import elevenlabs_key, key_for, openai_key, remember

BASE = "/api/v1/settings/api-keys"
PROVIDERS = ("openai", "elevenlabs")
RFC3339_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
NO_KEY = {"configured": False, "last4": None, "updatedAt": None, "valid": None, "checkedAt": None}


@pytest.fixture
def headers(auth: AuthActions) -> dict[str, str]:
    return auth.headers(auth.signup())


def store(client: FlaskClient, headers: dict[str, str], provider: str, key: str) -> Any:
    return client.put(f"{BASE}/{provider}", json={"apiKey": key}, headers=headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_store_read_list_remove(
    client: FlaskClient, headers: dict[str, str], provider: str
) -> None:
    key = key_for(provider)
    response = store(client, headers, provider, key)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"]
    assert body["data"]["provider"] == provider
    status = body["data"]["status"]
    assert status["configured"] is True
    assert status["last4"] == key[-4:]
    assert RFC3339_Z.fullmatch(status["updatedAt"])
    assert key not in response.get_data(as_text=True)

    listed = client.get(BASE, headers=headers)
    assert listed.status_code == 200
    api_keys = listed.get_json()["data"]["apiKeys"]
    other = "elevenlabs" if provider == "openai" else "openai"
    assert api_keys == {provider: status, other: NO_KEY}
    assert key not in listed.get_data(as_text=True)

    settings = client.get("/api/v1/settings", headers=headers).get_json()["data"]["settings"]
    assert settings["apiKeys"] == api_keys
    assert settings["updatedAt"] >= status["updatedAt"]

    read = client.get(f"{BASE}/{provider}", headers=headers)
    assert read.status_code == 200
    assert read.get_json()["data"] == {
        "provider": provider,
        "apiKey": key,
        "last4": key[-4:],
        "updatedAt": status["updatedAt"],
    }
    assert read.headers["Cache-Control"] == "no-store"

    removed = client.delete(f"{BASE}/{provider}", headers=headers)
    assert removed.status_code == 200
    assert removed.get_json()["data"] == {"provider": provider, "status": NO_KEY}
    assert client.get(f"{BASE}/{provider}", headers=headers).status_code == 404
    assert client.get(BASE, headers=headers).get_json()["data"]["apiKeys"] == {
        "openai": NO_KEY,
        "elevenlabs": NO_KEY,
    }


@pytest.mark.parametrize("provider", PROVIDERS)
def test_read_when_none_stored_is_404(
    client: FlaskClient, headers: dict[str, str], provider: str
) -> None:
    response = client.get(f"{BASE}/{provider}", headers=headers)
    assert response.status_code == 404
    assert set(response.get_json()) == {"error"}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_delete_when_none_stored_is_200(
    client: FlaskClient, headers: dict[str, str], provider: str
) -> None:
    for _ in range(2):
        response = client.delete(f"{BASE}/{provider}", headers=headers)
        assert response.status_code == 200
        assert response.get_json()["data"] == {"provider": provider, "status": NO_KEY}


def test_replacing_a_key(client: FlaskClient, headers: dict[str, str]) -> None:
    first, second = openai_key(), openai_key()
    store(client, headers, "openai", first)
    response = store(client, headers, "openai", second)
    assert response.get_json()["data"]["status"]["last4"] == second[-4:]
    assert client.get(f"{BASE}/openai", headers=headers).get_json()["data"]["apiKey"] == second


def test_providers_are_independent(client: FlaskClient, headers: dict[str, str]) -> None:
    oa, el = openai_key(), elevenlabs_key()
    store(client, headers, "openai", oa)
    store(client, headers, "elevenlabs", el)
    assert client.get(f"{BASE}/openai", headers=headers).get_json()["data"]["apiKey"] == oa
    assert client.get(f"{BASE}/elevenlabs", headers=headers).get_json()["data"]["apiKey"] == el
    client.delete(f"{BASE}/openai", headers=headers)
    assert client.get(f"{BASE}/elevenlabs", headers=headers).get_json()["data"]["apiKey"] == el


def test_storing_a_key_keeps_the_preferences(client: FlaskClient, headers: dict[str, str]) -> None:
    prefs = {"preferredLanguage": "it", "summaryQuality": "concise", "settingsJson": {"a": 1}}
    client.put("/api/v1/settings", json=prefs, headers=headers)
    store(client, headers, "openai", openai_key())
    client.put("/api/v1/settings", json={"summaryQuality": "detailed"}, headers=headers)
    settings = client.get("/api/v1/settings", headers=headers).get_json()["data"]["settings"]
    assert settings["preferredLanguage"] == "it"
    assert settings["summaryQuality"] == "detailed"
    assert settings["apiKeys"]["openai"]["configured"] is True


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/deepgram"),
        ("put", "/deepgram"),
        ("delete", "/deepgram"),
        ("get", "/OpenAI"),
        ("put", "/OPENAI"),
        ("delete", "/ElevenLabs"),
        ("get", "/openai2"),
        ("put", "/open"),
        ("get", "/openai/extra"),
        ("get", "/openai/"),
        ("delete", "/%20openai"),
    ],
)
def test_unknown_provider_is_404(
    client: FlaskClient, headers: dict[str, str], method: str, path: str
) -> None:
    response = getattr(client, method)(BASE + path, json={"apiKey": openai_key()}, headers=headers)
    assert response.status_code == 404
    assert response.is_json
    assert set(response.get_json()) == {"error"}


def test_unknown_provider_with_a_bad_body_is_still_404(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    response = client.put(f"{BASE}/deepgram", data="not json", headers=headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", ""),
        ("get", "/openai"),
        ("put", "/openai"),
        ("delete", "/elevenlabs"),
    ],
)
def test_requires_authentication(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(BASE + path, json={"apiKey": openai_key()})
    assert response.status_code == 401
    assert response.get_json() == {"error": "Authentication required"}


def test_method_not_allowed(client: FlaskClient, headers: dict[str, str]) -> None:
    response = client.post(f"{BASE}/openai", json={"apiKey": openai_key()}, headers=headers)
    assert response.status_code == 405
    assert response.get_json() == {"error": "Method not allowed"}


GOOD_BODY = "a" * 30


@pytest.mark.parametrize(
    "provider, key",
    [
        ("elevenlabs", "a" * 19),
        ("elevenlabs", ""),
        ("elevenlabs", "a" * 257),
        ("openai", "sk-" + "a" * 16),
        ("openai", "sk-" + "a" * 254),
        ("elevenlabs", " " + GOOD_BODY),
        ("elevenlabs", GOOD_BODY + " "),
        ("elevenlabs", GOOD_BODY + "\n"),
        ("elevenlabs", "\t" + GOOD_BODY),
        ("elevenlabs", GOOD_BODY[:10] + " " + GOOD_BODY[10:]),
        ("elevenlabs", GOOD_BODY[:10] + "\u00a0" + GOOD_BODY[10:]),
        ("elevenlabs", GOOD_BODY[:10] + "\u2003" + GOOD_BODY[10:]),
        ("elevenlabs", GOOD_BODY[:10] + "\x07" + GOOD_BODY[10:]),
        ("elevenlabs", GOOD_BODY[:10] + "\x7f" + GOOD_BODY[10:]),
        ("elevenlabs", GOOD_BODY[:10] + "é" + GOOD_BODY[10:]),
        ("elevenlabs", GOOD_BODY[:10] + "ｋ" + GOOD_BODY[10:]),  # noqa: RUF001 - the point
        ("elevenlabs", GOOD_BODY[:10] + "🔑" + GOOD_BODY[10:]),
        ("openai", "pk-" + GOOD_BODY),
        ("openai", "SK-" + GOOD_BODY),
        ("openai", " sk-" + GOOD_BODY),
        ("openai", GOOD_BODY),
    ],
)
def test_bad_keys(
    client: FlaskClient, headers: dict[str, str], provider: str, key: str
) -> None:
    response = store(client, headers, provider, remember(key) if len(key) >= 8 else key)
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert body["error"] == "Validation failed"
    assert [item["field"] for item in body["errors"]] == ["apiKey"] * len(body["errors"])
    text = response.get_data(as_text=True)
    if key.strip():
        assert key.strip() not in text
    assert GOOD_BODY not in text
    assert client.get(BASE, headers=headers).get_json()["data"]["apiKeys"][provider] == NO_KEY


@pytest.mark.parametrize(
    "provider, key",
    [
        ("elevenlabs", "a" * 20),
        ("elevenlabs", "~" * 256),
        ("openai", "sk-" + "a" * 17),
        ("openai", "sk-" + "Z" * 253),
        ("elevenlabs", "!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`{|}~"),
        ("elevenlabs", "sk-also-fine-for-elevenlabs-0001"),
    ],
)
def test_boundary_keys_are_accepted(
    client: FlaskClient, headers: dict[str, str], provider: str, key: str
) -> None:
    response = store(client, headers, provider, remember(key))
    assert response.status_code == 200, response.get_json()
    read = client.get(f"{BASE}/{provider}", headers=headers)
    assert read.get_json()["data"]["apiKey"] == key


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "apiKey"),
        ({"apiKey": None}, "apiKey"),
        ({"apiKey": 12345678901234567890123}, "apiKey"),
        ({"apiKey": ["sk-aaaaaaaaaaaaaaaaaaaaaaaaa"]}, "apiKey"),
        ({"apiKey": {"value": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa"}}, "apiKey"),
        ({"api_key": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa"}, "api_key"),
        ({"apiKey": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa", "provider": "openai"}, "provider"),
        ({"key": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa"}, "key"),
    ],
)
def test_bad_bodies(
    client: FlaskClient, headers: dict[str, str], body: dict[str, Any], field: str
) -> None:
    response = client.put(f"{BASE}/openai", json=body, headers=headers)
    assert response.status_code == 400
    assert field in [item["field"] for item in response.get_json()["errors"]]
    assert "aaaaaaaaaaaaaaaaaaaaaaaaa" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "data, content_type, status",
    [
        ('{"apiKey": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa"}', "text/plain", 415),
        ('{"apiKey": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa"}', None, 415),
        ('{"apiKey": "sk-aaaaaaaaaaaaaaaaaaaaaaaaa"', "application/json", 400),
        ("", "application/json", 400),
        ('["sk-aaaaaaaaaaaaaaaaaaaaaaaaa"]', "application/json", 400),
        ('"sk-aaaaaaaaaaaaaaaaaaaaaaaaa"', "application/json", 400),
        ("null", "application/json", 400),
    ],
)
def test_body_format(
    client: FlaskClient,
    headers: dict[str, str],
    data: str,
    content_type: str | None,
    status: int,
) -> None:
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.put(f"{BASE}/openai", data=data, headers=headers, **kwargs)
    assert response.status_code == status
    assert set(response.get_json()) <= {"error", "errors"}
    assert "aaaaaaaaaaaaaaaaaaaaaaaaa" not in response.get_data(as_text=True)


def test_each_user_only_sees_their_own_keys(client: FlaskClient, auth: AuthActions) -> None:
    alice = auth.headers(auth.signup())
    bob = auth.headers(auth.signup("bob@example.com", "bob"))
    alice_key, alice_el = openai_key(), elevenlabs_key()
    store(client, alice, "openai", alice_key)
    store(client, alice, "elevenlabs", alice_el)

    # Bob sees none of Alice's keys, by any route.
    assert client.get(f"{BASE}/openai", headers=bob).status_code == 404
    assert client.get(BASE, headers=bob).get_json()["data"]["apiKeys"] == {
        "openai": NO_KEY,
        "elevenlabs": NO_KEY,
    }
    bob_settings = client.get("/api/v1/settings", headers=bob).get_data(as_text=True)
    assert alice_key[-4:] not in bob_settings and alice_el[-4:] not in bob_settings

    # Bob deleting and storing touches only his own keys.
    assert client.delete(f"{BASE}/openai", headers=bob).status_code == 200
    bob_key = openai_key()
    store(client, bob, "openai", bob_key)
    assert client.get(f"{BASE}/openai", headers=alice).get_json()["data"]["apiKey"] == alice_key
    assert client.get(f"{BASE}/openai", headers=bob).get_json()["data"]["apiKey"] == bob_key
    assert client.get(f"{BASE}/elevenlabs", headers=alice).get_json()["data"]["apiKey"] == alice_el

    # Alice removing hers leaves Bob's.
    client.delete(f"{BASE}/openai", headers=alice)
    assert client.get(f"{BASE}/openai", headers=bob).get_json()["data"]["apiKey"] == bob_key


def test_security_events_are_logged_without_the_key(
    client: FlaskClient, auth: AuthActions, caplog: pytest.LogCaptureFixture
) -> None:
    token = auth.signup()
    headers = auth.headers(token)
    user_id = client.get("/api/v1/auth/me", headers=headers).get_json()["data"]["user"]["id"]
    key = openai_key()
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        store(client, headers, "openai", key)
        client.get(f"{BASE}/openai", headers=headers)
        client.delete(f"{BASE}/openai", headers=headers)
        client.delete(f"{BASE}/openai", headers=headers)  # nothing stored: nothing removed
    events = [
        (r.event, r.user_id, r.provider)  # type: ignore[attr-defined]
        for r in caplog.records
        if getattr(r, "event", "").startswith("api_key_")
    ]
    assert events == [
        ("api_key_stored", user_id, "openai"),
        ("api_key_read", user_id, "openai"),
        ("api_key_removed", user_id, "openai"),
    ]
    assert key not in caplog.text
