"""The OpenAPI document describes the voices, speech, audio and key-check operations from the
schemas that validate them."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def resolve(document, schema):
    return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_new_operations_are_documented(document):
    paths = document["paths"]
    voices = paths["/api/v1/voices"]["get"]
    assert {"200", "401", "409", "502"} <= set(voices["responses"])
    data = resolve(document, voices["responses"]["200"]["content"]["application/json"]["schema"])
    assert "data" in data["properties"]
    assert set(document["components"]["schemas"]["Voice"]["properties"]) == {
        "voiceId", "name", "category", "previewUrl",
    }

    speech = paths["/api/v1/jobs/speech"]["post"]
    assert {"202", "400", "401", "404", "409"} <= set(speech["responses"])
    body = resolve(document, speech["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["required"]) == {"historyId", "voiceId", "source"}
    assert body["properties"]["source"]["enum"] == ["summary", "transcript"]
    assert body["properties"]["voiceId"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"

    audio = paths["/api/v1/history/{item_id}/audio"]["get"]
    assert {"200", "206", "404", "416"} <= set(audio["responses"])
    assert list(audio["responses"]["200"]["content"]) == ["audio/mpeg"]
    assert {p["name"] for p in audio["parameters"]} >= {"item_id", "Range", "If-Range"}
    assert "Content-Range" in audio["responses"]["200"]["headers"]

    verify = paths["/api/v1/settings/api-keys/{provider}/verify"]["post"]
    assert {"200", "404", "409", "502"} <= set(verify["responses"])
    check = document["components"]["schemas"]["KeyCheckData"]["properties"]
    assert set(check) == {"provider", "valid", "checkedAt"}

    reveal = paths["/api/v1/settings/api-keys/{provider}"]["get"]
    assert "Key reveal is disabled" in reveal["responses"]["403"]["description"]
    status = document["components"]["schemas"]["KeyStatus"]["properties"]
    assert status["valid"]["nullable"] is True
