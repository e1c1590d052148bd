"""The OpenAPI document describes the settings routes with their request and response schemas."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient


def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return dict(response.get_json())


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    name = schema["$ref"].rsplit("/", 1)[-1]
    return dict(document["components"]["schemas"][name])


def test_settings_routes_are_documented(client: FlaskClient) -> None:
    document = spec(client)
    paths = document["paths"]
    expected = {
        "/api/v1/settings": {"get", "put"},
        "/api/v1/settings/api-keys": {"get"},
        "/api/v1/settings/api-keys/{provider}": {"get", "put", "delete"},
    }
    for path, methods in expected.items():
        assert set(paths[path]) == methods
        for method in methods:
            operation = paths[path][method]
            assert operation["security"] == [{"bearerAuth": []}]
            assert {"200", "401"} <= set(operation["responses"])
            assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]

    put_settings = paths["/api/v1/settings"]["put"]
    body = resolve(document, put_settings["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == {"preferredLanguage", "summaryQuality", "settingsJson"}
    assert body["additionalProperties"] is False
    assert body["properties"]["summaryQuality"]["enum"] == ["concise", "balanced", "detailed"]
    assert len(body["properties"]["preferredLanguage"]["enum"]) == 184
    assert {"400", "415"} <= set(put_settings["responses"])

    keyed = paths["/api/v1/settings/api-keys/{provider}"]
    for method in ("get", "put", "delete"):
        assert "404" in keyed[method]["responses"]
        (parameter,) = keyed[method]["parameters"]
        assert parameter["name"] == "provider"
        assert parameter["schema"]["enum"] == ["openai", "elevenlabs"]
    store_body = resolve(document, keyed["put"]["requestBody"]["content"]["application/json"]["schema"])
    assert store_body["required"] == ["apiKey"]
    assert store_body["properties"]["apiKey"]["writeOnly"] is True
    assert keyed["get"]["responses"]["409"]["description"] == (
        "Stored API key cannot be decrypted; store it again"
    )
    assert "409" in keyed["get"]["description"]


def test_settings_schema_shape(client: FlaskClient) -> None:
    schemas = spec(client)["components"]["schemas"]
    assert set(schemas["Settings"]["properties"]) == {
        "preferredLanguage", "summaryQuality", "settingsJson", "apiKeys", "updatedAt",
    }
    assert set(schemas["KeyStatus"]["properties"]) == {
        "configured", "last4", "updatedAt", "valid", "checkedAt",
    }
    assert set(schemas["ApiKeys"]["properties"]) == {"openai", "elevenlabs"}
    assert set(schemas["ApiKeyData"]["properties"]) == {"provider", "apiKey", "last4", "updatedAt"}
